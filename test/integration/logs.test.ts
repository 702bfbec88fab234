import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { spawnApi, spawnWorker, type Proc } from '../support/processes';

/**
 * What an operator reads from `npm run api` / `npm run worker` with stdout piped to a log collector (JSON, one
 * object a line): one access line per request, probes and scrapes kept out of info, the SDK's start-up quiet.
 */
const ADMIN = 'tok-admin-logs-test';
let dir: string;
let env: Record<string, string>;
let api: Proc & { url: string };
const lines: string[] = [];

interface AccessLine {
  level: number;
  msg: string;
  access: { method: string; path: string; status: number; duration_ms: number; actor?: string; aborted?: boolean };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-logs-'));
  env = {
    DATA_DIR: dir,
    DATABASE_URL: path.join(dir, 'promptback.db'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'it-logs',
    TEMPORAL_TASK_QUEUE: `it-${randomUUID()}`,
    AUTH_TOKENS: `ops:admin:${ADMIN}`,
    LOG_LEVEL: 'info',
  };
  api = await spawnApi(env);
  let buf = '';
  api.child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.trim() !== ''));
  });
});
afterAll(async () => {
  await api?.kill('SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const accessLines = (): AccessLine[] =>
  lines.map((l) => JSON.parse(l) as AccessLine | { access?: undefined }).filter((l): l is AccessLine => l.access !== undefined);

/** Sends a request tagged with a unique path suffix or query and returns the access lines that name its path. */
async function request(method: string, p: string, token?: string): Promise<number> {
  const res = await fetch(`${api.url}${p}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  await res.text();
  return res.status;
}

async function settle(): Promise<void> {
  // pino writes asynchronously: give the lines time to arrive (and any second line the chance to show up).
  await new Promise((r) => setTimeout(r, 700));
}

describe('access log of the API process', () => {
  it('one JSON line per request: method, path (no query), status, duration in ms, the authenticated actor', async () => {
    const before = accessLines().length;
    expect(await request('GET', '/api/prompts?owner=secret-key', ADMIN)).toBe(200);
    await settle();
    const mine = accessLines()
      .slice(before)
      .filter((l) => l.access.path === '/api/prompts');
    expect(mine).toHaveLength(1);
    const line = mine[0]!;
    expect(line.level).toBe(30);
    expect(line.access).toMatchObject({ method: 'GET', path: '/api/prompts', status: 200, actor: 'ops' });
    expect(typeof line.access.duration_ms).toBe('number');
    expect(line.access.duration_ms).toBeGreaterThanOrEqual(0);
    expect(line.msg).toMatch(/^GET \/api\/prompts 200 [\d.]+ ms ops$/);
    expect(lines.join('\n')).not.toContain('secret-key');
  });

  it('a refused request is logged once too, without an actor (401), and a 404 of an unknown route', async () => {
    const before = accessLines().length;
    expect(await request('PUT', '/api/prompts/logged-out')).toBe(401);
    expect(await request('GET', '/api/no-such-route', ADMIN)).toBe(404);
    await settle();
    const mine = accessLines().slice(before);
    expect(mine.map((l) => [l.access.method, l.access.path, l.access.status, l.access.actor])).toEqual([
      ['PUT', '/api/prompts/logged-out', 401, undefined],
      ['GET', '/api/no-such-route', 404, undefined],
    ]);
  });

  it('health probes and /metrics scrapes write no line at info level', async () => {
    const before = lines.length;
    expect(await request('GET', '/healthz')).toBe(200);
    expect(await request('GET', '/readyz')).toBe(200);
    expect(await request('GET', '/metrics', ADMIN)).toBe(200);
    await settle();
    expect(lines.slice(before)).toEqual([]);
  });

  it('every line the API wrote to a pipe is JSON (LOG_FORMAT unset, stdout not a terminal)', () => {
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
  });
});

describe('worker start-up', () => {
  it("bundling the workflows (webpack) and the SDK's core info stay out of the info level", async () => {
    // No prebuilt bundle: the worker runs webpack at start, as `npm run worker` does on a fresh checkout.
    const worker = spawnWorker({ ...env, WORKFLOW_BUNDLE_PATH: undefined });
    try {
      const deadline = Date.now() + 120_000;
      while (!worker.output().includes('worker running against')) {
        if (worker.child.exitCode !== null) throw new Error(`worker exited ${worker.child.exitCode}:\n${worker.output()}`);
        if (Date.now() > deadline) throw new Error(`worker did not start:\n${worker.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const out = worker.output();
      expect(out).not.toMatch(/Workflow bundle created|webpack|compiled successfully|Worker state changed/i);
      const written = out.split('\n').filter((l) => l.trim() !== '');
      for (const l of written) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
      expect(written.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContainEqual(expect.stringMatching(/^worker running against/));
    } finally {
      await worker.kill('SIGTERM');
    }
  });
});
