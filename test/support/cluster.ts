import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { findTemporalCli } from '../../src/main/temporal-server';
import { freeLowPort } from './ports';
import type { PgInstance } from './postgres';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const TOOLS = path.join(ROOT, '.tools/bin');
const SETUP = path.join(ROOT, 'deploy/temporal/setup.sh');

export interface TemporalCluster {
  address: string;
  stop(): Promise<void>;
}

/** The binaries `npm run setup:cluster` builds from the Go module proxy. */
export function findClusterBinaries(): { server: string; sqlTool: string } | undefined {
  const server = path.join(TOOLS, 'temporal-server');
  const sqlTool = path.join(TOOLS, 'temporal-sql-tool');
  return fs.existsSync(server) && fs.existsSync(sqlTool) ? { server, sqlTool } : undefined;
}

/**
 * The production Temporal server (not the dev server) on Postgres persistence and Postgres visibility, set up the
 * way docker-compose.yml does it: schema by temporal-sql-tool, the server from deploy/temporal/config/promptback.yaml,
 * the namespace and promptback's search attributes registered with the `temporal` CLI (a failure fails loudly).
 */
export async function startTemporalCluster(pg: PgInstance, namespaces: readonly string[]): Promise<TemporalCluster> {
  const bins = findClusterBinaries();
  if (!bins) throw new Error('the Temporal server is not built: run `npm run setup:cluster`');
  // The same script docker-compose.yml runs, with the binaries `npm run setup:cluster` built.
  const setupEnv = {
    ...process.env,
    PATH: `${TOOLS}${path.delimiter}${process.env.PATH ?? ''}`,
    TEMPORAL_SQL_TOOL: bins.sqlTool,
    TEMPORAL_CLI: findTemporalCli(),
    SQL_HOST: pg.host,
    SQL_PORT: String(pg.port),
    SQL_USER: pg.user,
    SQL_PASSWORD: '',
  };
  await run('sh', [SETUP, 'schema'], { env: setupEnv });

  // A server that exits while it starts (a port taken between our probe and its bind: the probe cannot hold it) is
  // started once more on other ports; the second failure fails the run with the server's own first lines.
  let started: { address: string; stop: () => Promise<void> } | undefined;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await startServer(bins.server, pg);
    } catch (e) {
      if (attempt >= 2 || !(e instanceof ServerExited)) throw e;
    }
  }
  const { address, stop } = started;

  // As an operator would: namespaces and search attributes with the temporal CLI; any failure stops the run.
  await run('sh', [SETUP, 'namespace', ...namespaces], { env: { ...setupEnv, TEMPORAL_ADDRESS: address } });
  return { address, stop };
}

class ServerExited extends Error {}

/** Head and tail of what the server wrote: the cause is at the start, Go's stack at the end. */
const excerpt = (output: string[]): string => {
  const all = output.join('');
  return all.length <= 6000 ? all : `${all.slice(0, 3000)}\n…\n${all.slice(-3000)}`;
};

/** One start of the production server on fresh loopback ports; resolves once its frontend answers health checks. */
async function startServer(serverBin: string, pg: PgInstance): Promise<{ address: string; stop: () => Promise<void> }> {
  const ports = {
    FRONTEND_GRPC_PORT: await freeLowPort(),
    FRONTEND_MEMBERSHIP_PORT: await freeLowPort(),
    FRONTEND_HTTP_PORT: await freeLowPort(),
    MATCHING_GRPC_PORT: await freeLowPort(),
    MATCHING_MEMBERSHIP_PORT: await freeLowPort(),
    HISTORY_GRPC_PORT: await freeLowPort(),
    HISTORY_MEMBERSHIP_PORT: await freeLowPort(),
    WORKER_GRPC_PORT: await freeLowPort(),
    WORKER_MEMBERSHIP_PORT: await freeLowPort(),
  };
  const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
  const env = {
    ...process.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    POSTGRES_HOST: pg.host,
    POSTGRES_PORT: String(pg.port),
    POSTGRES_USER: pg.user,
    POSTGRES_PASSWORD: '',
    LOG_LEVEL: 'error',
    DYNAMIC_CONFIG_FILE: path.join(ROOT, 'deploy/temporal/config/dynamicconfig/promptback.yaml'),
  };
  const deploy = path.join(ROOT, 'deploy/temporal');
  const output: string[] = [];
  const server: ChildProcess = spawn(
    serverBin,
    ['--root', deploy, '--config', 'config', '--env', 'promptback', '--allow-no-auth', 'start'],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 400) output.splice(100, 1); // keeps the first lines (the cause) and the latest
  };
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    server.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    server.kill('SIGTERM');
    const t = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(t);
  };

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited !== undefined) throw new ServerExited(`temporal-server exited with ${String(exited)}:\n${excerpt(output)}`);
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.healthService.check({});
      await c.close();
      return { address, stop };
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal-server did not answer at ${address}: ${(e as Error).message}\n${excerpt(output)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
