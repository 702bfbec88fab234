/**
 * `npm start` against a cluster (TEMPORAL_ADDRESS) whose first answers are not all yes: the worker starts whole or not
 * at all, keeps retrying until it can, and a Ctrl-C meanwhile still closes what started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { findTemporalCli, startDevServer, type DevServer } from '../../src/main/temporal-server';
import { freePort } from '../support/ports';
import { waitFor } from '../support/stack';

const ROOT = path.resolve(__dirname, '../..');

interface Started {
  child: ChildProcess;
  url: string;
  dir: string;
  exited: Promise<number | null>;
  output: () => string;
  /** Everything it printed. */
  all: () => string;
}

const children: ChildProcess[] = [];
const servers: DevServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** `npm start` with TEMPORAL_ADDRESS, in a process group of its own (a terminal's Ctrl-C reaches all of it). */
async function npmStart(temporalAddress: string): Promise<Started> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-retry-'));
  dirs.push(dir);
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/main/start.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), TEMPORAL_ADDRESS: temporalAddress, DATA_DIR: dir, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'the API to answer',
    () =>
      fetch(`${url}/healthz`).then(
        (r) => (r.ok ? true : undefined),
        () => undefined,
      ),
    60_000,
  );
  return { child, url, dir, exited, output: () => out.slice(-6000), all: () => out };
}

const readyz = async (url: string) => (await (await fetch(`${url}/readyz`)).json()) as { status: string; checks: Record<string, string> };

/** The SDK's counter of workers this process started, per task queue (the API's /metrics carries the SDK's). */
async function workerStarts(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^temporal_worker_start(?:_total)?\{([^}]*)\} (\d+)/gm)) {
    const queue = /task_queue="([^"]*)"/.exec(m[1]!)?.[1] ?? '';
    out[queue] = (out[queue] ?? 0) + Number(m[2]);
  }
  return out;
}

async function devServer(port: number, dynamicConfig: Record<string, boolean> = {}): Promise<DevServer> {
  const s = await startDevServer({ cli: findTemporalCli(), port, uiPort: 0, namespace: 'default', headless: true, dynamicConfig });
  servers.push(s);
  return s;
}

describe('npm start against a cluster that refuses part of the worker’s start', () => {
  it('starts no worker while its schedules cannot be created, says why, and starts one whole once they can', async () => {
    const port = await freePort();
    // A namespace where schedules are disabled: the worker's start fails after its connections, at the schedules.
    const refusing = await devServer(port, { 'frontend.enableSchedules': false });
    const s = await npmStart(`127.0.0.1:${port}`);
    // Attempts every 5 s: each says what stops it, and none leaves a worker polling.
    await waitFor('the first attempt to fail', () => Promise.resolve(/Schedules are disabled/.test(s.all()) ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 11_000));
    const refused = await readyz(s.url);
    expect(refused.status, s.output()).toBe('not ready');
    expect(refused.checks.worker).toMatch(/^not started: .*Schedules are disabled on this namespace.*; retrying every 5 s$/);
    // Nothing polls the refusing cluster's queues (a worker that polled in the last minutes is listed).
    const conn = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const queues = [
        ['promptback', temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
        ['promptback-rollbacks', temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
        ['promptback', temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
        ['promptback-monitor-checks', temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
      ] as const;
      for (const [name, taskQueueType] of queues) {
        const d = await conn.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name }, taskQueueType });
        expect(d.pollers ?? [], `${name} ${taskQueueType}`).toEqual([]);
      }
    } finally {
      await conn.close();
    }

    // The cluster now allows schedules (the same address): the next attempt starts the worker, once.
    await refusing.stop();
    servers.splice(servers.indexOf(refusing), 1);
    await devServer(port);
    await waitFor('npm start to be ready', async () => ((await readyz(s.url)).status === 'ready' ? true : undefined), 60_000);
    expect((await readyz(s.url)).checks).toEqual({ store: 'ok', temporal: 'ok', worker: 'ok' });
    const starts = await workerStarts(s.url);
    expect(Object.values(starts).length, JSON.stringify(starts)).toBeGreaterThan(0);
    for (const [queue, n] of Object.entries(starts)) expect(n, queue).toBe(1);
    expect(s.output()).toMatch(/worker connected to Temporal/);
    // The reason was logged once, not at every attempt.
    expect(s.all().match(/worker not started: .*Schedules are disabled/g) ?? [], s.output()).toHaveLength(1);
  }, 180_000);
});

describe('Ctrl-C while npm start’s worker is still starting', () => {
  it('stops the API and closes the store before it exits', async () => {
    // Nothing answers at this address: the worker's first attempt runs until its connection gives up.
    const s = await npmStart(`127.0.0.1:${await freePort()}`);
    expect((await readyz(s.url)).checks.worker).toBe('starting');
    process.kill(-s.child.pid!, 'SIGINT');
    const code = await s.exited;
    expect(code, s.output()).toBe(0);
    // The store was closed: SQLite folds its write-ahead log back into the file and removes it.
    expect(
      fs.readdirSync(s.dir).filter((f) => f.endsWith('-wal')),
      s.output(),
    ).toEqual([]);
    expect(s.output()).toMatch(/"msg":"stopped"/);
  }, 120_000);
});
