/**
 * The real system for recording workflow histories outside vitest (`test/replay/record.ts`): the project's
 * Temporal dev server, then per scenario a fresh SQLite folder, the API on a free port and an in-process worker
 * in a namespace of its own — the same pieces `startStack` (test/support/stack.ts) wires for integration tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startApi, type ApiHandle } from '../../src/main/api';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { findTemporalCli, startDevServer, type DevServer } from '../../src/main/temporal-server';
import { openAdapters } from '../../src/main/wiring';
import { startWorker, WORKFLOWS_PATH, type WorkerHandle } from '../../src/main/worker';
import { freePort } from './ports';
import { quietRuntime } from './runtime';

export interface RecordingServer {
  address: string;
  code: string;
  namespaces: string[];
  stop(): Promise<void>;
}

/** One dev server (in memory) with a namespace per scenario, and the current workflow bundle. */
export async function startRecordingServer(namespaces: string[]): Promise<RecordingServer> {
  quietRuntime();
  const noop = (): void => undefined;
  const quiet = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
  const [{ code }, dev]: [{ code: string }, DevServer] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet }),
    (async () =>
      startDevServer({
        cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
        port: await freePort(),
        uiPort: await freePort(),
        namespace: 'default',
        extraNamespaces: namespaces,
        headless: true,
      }))(),
  ]);
  return { address: dev.address, code, namespaces, stop: () => dev.stop() };
}

export interface RecordingStack {
  url: string;
  api: ApiHandle;
  /** Stops the in-process worker (workflows wait on the task queue); startWorker() starts another. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRecordingStack(
  server: RecordingServer,
  namespace: string,
  over: Record<string, string>,
): Promise<RecordingStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-record-'));
  const config = loadConfig({
    PORT: '0',
    WORKER_METRICS_PORT: '0',
    DATA_DIR: dir,
    DATABASE_URL: path.join(dir, 'promptback.db'),
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TASK_QUEUE: `record-${randomUUID()}`,
    LOG_LEVEL: 'error',
    ...over,
  });
  const log = createLogger('silent', 'promptback-record');
  const adapters = await openAdapters(config, log);
  const api = await startApi(config, adapters, server.address, log);
  const start = () => startWorker(config, adapters, server.address, { workflowBundle: { code: server.code }, workflowsPath: undefined });
  let worker: WorkerHandle | undefined = await start();
  return {
    url: api.url,
    api,
    async stopWorker() {
      await worker?.stop();
      worker = undefined;
    },
    async startWorker() {
      worker ??= await start();
    },
    async stop() {
      await worker?.stop();
      await api.stop();
      await adapters.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  body: any;
}

/** A real HTTP request to the API; a 4xx/5xx answer is an error unless `allow` lists it. */
export async function http(base: string, method: string, p: string, body?: unknown, allow: number[] = []): Promise<Reply> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (res.status >= 400 && !allow.includes(res.status)) throw new Error(`${method} ${p} → ${res.status} ${text}`);
  return { status: res.status, body: parsed };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Registers a prompt with two versions and deploys the second, as the README walkthrough does. */
export async function seedPrompt(url: string, prompt: string, versions: [string, string] = ['v1.9.0', 'v2.0.0']): Promise<void> {
  await http(url, 'PUT', `/api/prompts/${prompt}`, { description: `${prompt} assistant`, owner: 'support-team' });
  for (const v of versions) {
    await http(url, 'POST', `/api/prompts/${prompt}/versions`, { version: v, template: `You are ${prompt} ${v}.` });
    await http(url, 'POST', `/api/prompts/${prompt}/deploy`, { version: v });
  }
}

export async function sendTraffic(url: string, prompt: string, version: string, n: number, errorRate: number): Promise<void> {
  const errors = Math.round(n * errorRate);
  const events = Array.from({ length: n }, (_, i) => ({ prompt, version, ok: i >= errors, latency_ms: 100 + (i % 50) }));
  await http(url, 'POST', '/api/metrics', { events });
}
