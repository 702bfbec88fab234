import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startApi, type ApiHandle } from '../../src/main/api';
import { loadConfig, type Config } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { startWorker, type WorkerHandle } from '../../src/main/worker';
import { quietRuntime } from './runtime';
import type { TestNamespace } from './namespaces';

const ROOT = path.resolve(__dirname, '../..');

export interface Stack {
  url: string;
  config: Config;
  adapters: Adapters;
  api: ApiHandle;
  dir: string;
  env: Record<string, string>;
  /** An in-process worker (default), or undefined after stopWorker(). */
  worker?: WorkerHandle;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  /** A worker in its own OS process (`npm run worker`), so that a test can SIGKILL it. */
  spawnWorker(): ChildProcess;
  stop(): Promise<void>;
}

/**
 * The real system against the test run's dev server: SQLite file in a fresh folder, API on a free loopback
 * port, worker on a task queue of its own. Verification is shortened (1-s checks for 10 s) via configuration.
 */
export async function startStack(opts: { namespace: TestNamespace; worker?: boolean; env?: Record<string, string> }): Promise<Stack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-it-'));
  const env: Record<string, string> = {
    PORT: '0',
    // Workers' own /metrics on any free port: files run in parallel, and a stack may spawn several workers.
    WORKER_METRICS_PORT: '0',
    DATA_DIR: dir,
    DATABASE_URL: path.join(dir, 'promptback.db'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: opts.namespace,
    TEMPORAL_TASK_QUEUE: `it-${randomUUID()}`,
    MONITOR_INTERVAL_S: '1',
    VERIFY_INTERVAL_S: '1',
    VERIFY_DURATION_S: '10',
    MIN_SAMPLES: '5',
    LOG_LEVEL: 'error',
    ...opts.env,
  };
  quietRuntime();
  const config = loadConfig(env);
  // TEST_LOG_LEVEL=warn shows the stack's own warnings (why a fast path or a start gave up) when a test is diagnosed.
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', 'promptback-test');
  const adapters = await openAdapters(config, log);
  const api = await startApi(config, adapters, config.temporal.address!, log);
  const children: ChildProcess[] = [];
  const stack: Stack = {
    url: api.url,
    config,
    adapters,
    api,
    dir,
    env,
    async startWorker() {
      stack.worker = await startWorker(config, adapters, config.temporal.address!, {
        workflowBundle: { codePath: inject('workflowBundlePath') },
        workflowsPath: undefined,
      });
    },
    async stopWorker() {
      await stack.worker?.stop();
      stack.worker = undefined;
    },
    spawnWorker() {
      // node itself (not the tsx wrapper) so that a signal reaches the worker process, not a parent of it.
      const preload = ['--require', path.join(ROOT, 'src/main/workflow-vm.cjs')];
      const child = spawn(process.execPath, [...preload, '--import', 'tsx', path.join(ROOT, 'src/main/worker.ts')], {
        cwd: ROOT,
        // The run's prebuilt workflow bundle: no bundling at start, so a worker is up in about a second even under load.
        env: { ...process.env, ...env, WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath') },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      return child;
    },
    async stop() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await stack.stopWorker();
      await api.stop();
      await adapters.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.worker !== false) await stack.startWorker();
  return stack;
}

export interface Reply {
  status: number;
  type: string;
  body: any;
}

/** A real HTTP request to the stack. `raw` sends the body as-is (no JSON encoding, no Content-Type). */
export async function http(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  opts: { raw?: boolean; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { ...(opts.raw || body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers },
    body: body === undefined ? undefined : opts.raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: parsed };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Registers customer-support with v1.9.0 and v2.0.0 and deploys v2.0.0, as the README walkthrough does. */
export function seedCustomerSupport(url: string): Promise<void> {
  return steps(url, [
    ['PUT', '/api/prompts/customer-support', { description: 'Customer support assistant', owner: 'support-team' }],
    ['POST', '/api/prompts/customer-support/versions', { version: 'v1.9.0', template: 'You are a helpful support agent.' }],
    ['POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0' }],
    ['POST', '/api/prompts/customer-support/versions', { version: 'v2.0.0', template: 'You are a very concise support agent.' }],
    ['POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' }],
  ]);
}

/** Runs each request in order; the first that does not succeed stops the set-up, saying what it answered. */
export async function steps(url: string, list: readonly [string, string, unknown][]): Promise<void> {
  for (const [m, p, b] of list) {
    const r = await http(url, m, p, b);
    if (r.status >= 300) throw new Error(`${m} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** `prompt` with v1 (deployed first: known good) and v2 deployed, as an operator sets one up. */
export function seedTwoVersions(url: string, prompt: string, description: string): Promise<void> {
  return steps(url, [
    ['PUT', `/api/prompts/${prompt}`, { description }],
    ['POST', `/api/prompts/${prompt}/versions`, { version: 'v1', template: 'one' }],
    ['POST', `/api/prompts/${prompt}/deploy`, { version: 'v1' }],
    ['POST', `/api/prompts/${prompt}/versions`, { version: 'v2', template: 'two' }],
    ['POST', `/api/prompts/${prompt}/deploy`, { version: 'v2' }],
  ]);
}

export async function sendTraffic(url: string, version: string, n: number, errorRate: number): Promise<void> {
  const errors = Math.round(n * errorRate);
  const events = Array.from({ length: n }, (_, i) => ({
    prompt: 'customer-support',
    version,
    ok: i >= errors,
    latency_ms: 100 + (i % 50),
  }));
  const r = await http(url, 'POST', '/api/metrics', { events });
  if (r.status !== 202) throw new Error(`metrics → ${r.status} ${JSON.stringify(r.body)}`);
}
