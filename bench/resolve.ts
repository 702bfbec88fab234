/**
 * bench/resolve — the serving hot path, `GET /api/prompts/{p}/resolve?key=`, over loopback with autocannon.
 *
 *   npx tsx bench/resolve.ts            (about 1 minute; DURATION_S=… to change the 10-s runs)
 *
 * Measures requests/s and latency of (a) promptback's resolve answered from memory (CachedRoutes) and (b) the
 * naive baseline it replaces — the same API reading the prompt's split and templates from the store on every
 * request — and the ratio; then the switch → first-request-served-by-the-new-version delay when the switch is
 * committed by another connection (as the worker process does), 30 times. Targets: ≥ 20,000 req/s, p99 < 5 ms,
 * switch visible in < 100 ms. autocannon runs as a separate process so it does not share the server's event loop.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CachedRoutes } from '../src/adapters/registry/cached-routes';
import { createApp } from '../src/api/app';
import { createServer } from '../src/api/server';
import { PromptbackService } from '../src/api/service';
import { DEFAULT_CANARY, DEFAULT_GRADUAL } from '../src/domain/stages';
import { DEFAULT_VERIFICATION } from '../src/domain/verification';
import { createLogger } from '../src/main/logger';
import { openAdapters, type Adapters } from '../src/main/wiring';
import type { RouteSource } from '../src/ports/routes';
import type { Workflows } from '../src/ports/workflows';

const exec = promisify(execFile);
const DURATION_S = Number(process.env.DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);

/** Resolve never touches the workflow engine; everything else is refused loudly if the bench strays. */
const noEngine = new Proxy({} as Workflows, {
  get: (_t, name) => (name === 'webUiUrl' ? () => '' : () => Promise.reject(new Error(`bench: no workflow engine (${String(name)})`))),
});

async function serve(a: Adapters, routes: RouteSource, fastPath: boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const service = new PromptbackService({
    registry: a.registry,
    rollbacks: a.rollbacks,
    metrics: a.metrics,
    monitors: a.monitors,
    routes,
    workflows: noEngine,
    clock: a.clock,
    publicUrl: 'http://127.0.0.1',
    verification: DEFAULT_VERIFICATION,
    monitorIntervalS: 30,
    gradualPlan: DEFAULT_GRADUAL,
    canaryPlan: DEFAULT_CANARY,
  });
  const app = createApp({ service, log: createLogger('silent'), tokens: [] });
  const server = fastPath ? createServer(app, service, []) : http.createServer(app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

async function load(url: string): Promise<Load> {
  const bin = path.join(__dirname, '../node_modules/.bin/autocannon');
  const { stdout } = await exec(
    bin,
    ['-j', '-c', String(CONNECTIONS), '-d', String(DURATION_S), `${url}/api/prompts/customer-support/resolve?key=user-42`],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number; max: number };
    errors: number;
    non2xx: number;
  };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors, non2xx: r.non2xx };
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-resolve-'));
  const file = path.join(dir, 'promptback.db');
  const api = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  const worker = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  await api.registry.upsertPrompt({ name: 'customer-support' }, 'bench');
  for (const v of ['v1.9.0', 'v2.0.0'])
    await api.registry.addVersion(
      { prompt: 'customer-support', version: v, template: `You are a support agent (${v}).`.repeat(20) },
      'bench',
    );
  await api.registry.setTraffic({
    prompt: 'customer-support',
    split: [
      { version: 'v1.9.0', percent: 90 },
      { version: 'v2.0.0', percent: 10 },
    ],
    key: 'bench-split',
    actor: 'bench',
    reason: 'bench',
    action: 'traffic',
  });

  console.log(`resolve over loopback: autocannon -c ${CONNECTIONS} -d ${DURATION_S}, ${os.cpus().length} cores, Node ${process.version}\n`);
  const cached = await serve(api, api.routes, true);
  // The naive baseline: the plain Express route, reading the store on every request (no change probe → no cache).
  const naive = await serve(api, new CachedRoutes(api.db.kysely), false);
  // In between, for the record: memory-backed routes behind Express, to show where the time goes.
  const viaExpress = await serve(api, api.routes, false);
  await load(cached.url); // warm-up (JIT), not reported
  const fast = await load(cached.url);
  const mid = await load(viaExpress.url);
  const slow = await load(naive.url);
  await naive.close();
  await viaExpress.close();

  // Switch → first request served by the new version, the switch committed by another connection (the worker).
  const delays: number[] = [];
  let to = 'v1.9.0';
  for (let i = 0; i < 30; i++) {
    to = to === 'v1.9.0' ? 'v2.0.0' : 'v1.9.0';
    const t0 = performance.now();
    await worker.registry.switchActive({
      prompt: 'customer-support',
      to,
      action: 'rollback',
      key: `bench-sw-${i}`,
      actor: 'bench',
      reason: 'bench',
    });
    const committed = performance.now();
    for (;;) {
      const r = (await (await fetch(`${cached.url}/api/prompts/customer-support/resolve?key=any`)).json()) as { version: string };
      if (r.version === to) break;
      if (performance.now() - committed > 5000) throw new Error('switch never became visible');
    }
    delays.push(performance.now() - committed);
    void t0;
  }
  await cached.close();

  const row = (name: string, l: Load) =>
    `${name.padEnd(38)} ${Math.round(l.rps).toString().padStart(9)} ${l.p50.toFixed(1).padStart(8)} ${l.p99.toFixed(1).padStart(8)} ${l.max.toFixed(1).padStart(8)} ${String(l.errors + l.non2xx).padStart(7)}`;
  console.log(
    `${'path'.padEnd(38)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'errors'.padStart(7)}`,
  );
  console.log(row('promptback (from memory)', fast));
  console.log(row('  (from memory, behind Express)', mid));
  console.log(row('naive baseline (store read per request)', slow));
  console.log(
    `\nratio promptback / naive: ${(fast.rps / slow.rps).toFixed(2)}× req/s, p99 ${(slow.p99 / Math.max(fast.p99, 0.01)).toFixed(2)}× lower`,
  );
  const sw = { p50: pct(delays, 0.5), p99: pct(delays, 0.99), max: Math.max(...delays) };
  console.log(
    `switch → first request on the new version (30 switches by another connection): p50 ${sw.p50.toFixed(2)} ms, p99 ${sw.p99.toFixed(2)} ms, max ${sw.max.toFixed(2)} ms`,
  );
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  console.log(
    `targets: ≥ 20,000 req/s ${verdict(fast.rps >= 20_000)}; p99 < 5 ms ${verdict(fast.p99 < 5)}; switch visible < 100 ms ${verdict(sw.max < 100)}`,
  );
  console.log(
    `RESULT ${JSON.stringify({ cached: fast, cached_via_express: mid, naive: slow, ratio_rps: fast.rps / slow.rps, switch_visible_ms: sw })}`,
  );
  await api.db.close();
  await worker.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
