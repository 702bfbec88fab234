import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports';

const BIN_DIRS = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];

/** initdb/pg_ctl from Debian's postgresql package (`npm run setup` installs it when missing), or on PATH. */
export function findPostgres(): string | undefined {
  for (const dir of BIN_DIRS) if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? path.dirname(which.stdout.trim()) : undefined;
}

export interface PgInstance {
  /** A new, empty database on this instance. */
  newDatabase(): Promise<string>;
  host: string;
  port: number;
  /** The superuser (trust authentication on loopback). */
  user: string;
  /** Stops the server as a crash would (immediate), keeping its data: an outage. */
  pause(): void;
  /** Starts it again on the same port, after pause(). */
  resume(): void;
  /**
   * Stops the server and its backends where they stand (SIGSTOP), connections open: a server that stops answering
   * without refusing (a failover behind a virtual IP, a network partition). thaw() lets them go on.
   */
  freeze(): void;
  thaw(): void;
  stop(): void;
}

/**
 * A throwaway PostgreSQL on a free loopback port, in a temp folder (run as `postgres` when we are root). Without
 * `durable`, commits are not flushed to disk (fsync=off: tests); a bench that measures production's speed asks for it.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PgInstance> {
  const bin = findPostgres();
  if (!bin) throw new Error('PostgreSQL server binaries not found: run `npm run setup` (installs Debian postgresql)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'postgres', dir]);
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { stdio: 'pipe' })
      : execFileSync(path.join(bin, cmd), args, { stdio: 'pipe' });
  const port = await freePort();
  run('initdb', ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'promptback', '--no-sync']);
  const start = () =>
    run('pg_ctl', [
      '-D',
      path.join(dir, 'data'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${opts.durable ? '' : ' -c fsync=off'}`,
      '-l',
      path.join(dir, 'log'),
      '-w',
      'start',
    ]);
  start();
  const admin = `postgres://promptback@127.0.0.1:${port}/postgres`;
  let n = 0;
  /** The postmaster (first line of its pid file) and every backend it started. */
  const signalAll = (signal: 'STOP' | 'CONT') => {
    const postmaster = fs
      .readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8')
      .split('\n')[0]!
      .trim();
    if (signal === 'STOP') execFileSync('kill', ['-STOP', postmaster]);
    spawnSync('pkill', [`-${signal}`, '-P', postmaster]);
    if (signal === 'CONT') execFileSync('kill', ['-CONT', postmaster]);
  };
  return {
    host: '127.0.0.1',
    port,
    user: 'promptback',
    async newDatabase() {
      const name = `t${process.pid}_${n++}`;
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      return `postgres://promptback@127.0.0.1:${port}/${name}`;
    },
    pause() {
      run('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', 'stop']);
    },
    resume() {
      start();
    },
    freeze() {
      signalAll('STOP');
    },
    thaw() {
      signalAll('CONT');
    },
    stop() {
      try {
        // A server left frozen (a test that failed before thaw()) could not stop.
        if (fs.existsSync(path.join(dir, 'data', 'postmaster.pid'))) signalAll('CONT');
        run('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
