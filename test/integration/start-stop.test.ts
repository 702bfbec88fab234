import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports';
import { http, steps, waitFor } from '../support/stack';

const ROOT = path.resolve(__dirname, '../..');

interface Started {
  child: ChildProcess;
  url: string;
  temporalPort: number;
  exited: Promise<void>;
  output: () => string;
}

const running: Started[] = [];
const dirs: string[] = [];

/** `npm start` as a terminal runs it: tsx's CLI in a process group of its own, all ports free, state in a fresh folder. */
async function npmStart(): Promise<Started> {
  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-start-'));
  dirs.push(dir);
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/main/start.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      TEMPORAL_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      WORKER_METRICS_PORT: '0',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started: Started = { child, url: `http://127.0.0.1:${port}`, temporalPort, exited, output: () => out.slice(-4000) };
  running.push(started);
  const until = Date.now() + 90_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return started;
    if (child.exitCode !== null || Date.now() > until) throw new Error(`npm start did not become ready:\n${started.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

async function closedWithin(port: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (await listening(port)) {
    if (Date.now() - t0 > ms) throw new Error(`the Temporal dev server still listens on ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - t0;
}

afterEach(() => {
  for (const s of running.splice(0)) {
    try {
      process.kill(-s.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('npm start stops as a whole', () => {
  it('Ctrl-C (SIGINT to the terminal’s process group) stops the API, the worker and the Temporal dev server', async () => {
    const s = await npmStart();
    expect(await listening(s.temporalPort)).toBe(true);
    const t0 = Date.now();
    process.kill(-s.child.pid!, 'SIGINT');
    await s.exited;
    expect(Date.now() - t0, s.output()).toBeLessThan(15_000);
    await closedWithin(s.temporalPort, 10_000);
  }, 150_000);

  it('promptback killed outright (SIGKILL, no shutdown) still takes its Temporal dev server with it', async () => {
    const s = await npmStart();
    expect(await listening(s.temporalPort)).toBe(true);
    process.kill(-s.child.pid!, 'SIGKILL');
    await s.exited;
    await closedWithin(s.temporalPort, 10_000);
  }, 150_000);
});

describe('npm start is ready when it can roll back', () => {
  it('/readyz answers 200 once the worker runs, and says so: a rollback requested at once is served within seconds', async () => {
    const s = await npmStart();
    const ready = (await (await fetch(`${s.url}/readyz`)).json()) as { checks: Record<string, string> };
    expect(ready.checks).toEqual({ store: 'ok', temporal: 'ok', worker: 'ok' });
    await steps(s.url, [
      ['PUT', '/api/prompts/customer-support', { description: 'Customer support assistant' }],
      ['POST', '/api/prompts/customer-support/versions', { version: 'v1.9.0', template: 'You are a helpful support agent.' }],
      ['POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0' }],
      ['POST', '/api/prompts/customer-support/versions', { version: 'v2.0.0', template: 'You are a very concise support agent.' }],
      ['POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' }],
    ]);
    const t0 = Date.now();
    const r = await http(s.url, 'POST', '/api/rollback', { prompt: 'customer-support', target_version: 'v1.9.0' });
    expect(r.status).toBe(202);
    const served = await waitFor(
      'v1.9.0 served',
      async () =>
        (await http(s.url, 'GET', '/api/prompts/customer-support/resolve?key=user-42')).body.version === 'v1.9.0'
          ? Date.now() - t0
          : undefined,
      30_000,
    );
    expect(served, s.output()).toBeLessThan(3_000);
  }, 150_000);
});
