/**
 * bench/resolve — the serving hot path, `GET /api/prompts/{p}/resolve?key=`, over loopback with autocannon.
 *
 *   npm run bench:resolve        (about 75 s; DURATION_S=… CONNECTIONS=… SWITCHES=… to change the defaults 10 / 50 / 30)
 *
 * 1. Requests/s and latency of promptback's resolve (answered from memory, before Express), of the same memory
 *    answer behind Express (to show where the time goes), and of the naive baseline it replaces: the
 *    implementation before the cache — the Express route reading the prompt, the split and the template from the
 *    store on every request (three reads) — and the ratio.
 * 2. Switch → first request served by the new version, the switch committed by another SQLite connection (as the
 *    worker process does; the in-process path is a direct call and cannot be slower), idle and under full load.
 *    Every poll is sent after the switch committed, so an old answer is a stale answer: they are counted too.
 * Targets: ≥ 20,000 req/s, p99 < 5 ms, switch visible in < 100 ms. autocannon runs as its own process so that it
 * does not share the server's event loop; on a 2-core box it takes one core, the server the other.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../src/api/app';
import { Problem } from '../src/api/problem';
import { createServer } from '../src/api/server';
import { PromptbackService, type ServiceDeps } from '../src/api/service';
import { DomainError } from '../src/domain/errors';
import { DEFAULT_CANARY, DEFAULT_GRADUAL } from '../src/domain/stages';
import { pickVersion } from '../src/domain/traffic';
import { DEFAULT_VERIFICATION } from '../src/domain/verification';
import { createLogger } from '../src/main/logger';
import { openAdapters, type Adapters } from '../src/main/wiring';
import type { Workflows } from '../src/ports/workflows';

const DURATION_S = Number(process.env.DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const SWITCHES = Number(process.env.SWITCHES ?? 30);
const PROMPT = 'customer-support';
const AUTOCANNON = path.join(__dirname, '../node_modules/.bin/autocannon');

/** Resolve never touches the workflow engine; everything else is refused loudly if the bench strays. */
const noEngine = new Proxy({} as Workflows, {
  get: (_t, name) => (name === 'webUiUrl' ? () => '' : () => Promise.reject(new Error(`bench: no workflow engine (${String(name)})`))),
});

/** The naive baseline: resolve as it was before the cache (git e3d6008~1) — three store reads per request. */
class StorePerRequest extends PromptbackService {
  constructor(private readonly deps: ServiceDeps) {
    super(deps);
  }

  override async resolve(prompt: string, key: string): Promise<{ version: string; template: string }> {
    if (!(await this.deps.registry.getPrompt(prompt))) throw new DomainError('UnknownPrompt', `no prompt named ${prompt}`, { prompt });
    const version = pickVersion(await this.deps.registry.getTraffic(prompt), key);
    if (version === undefined) throw new Problem(404, 'Nothing deployed', `prompt ${prompt} has no active version; deploy one first`);
    const v = await this.deps.registry.getVersion(prompt, version);
    if (!v) throw new DomainError('UnknownVersion', `prompt ${prompt} has no version ${version}`, { prompt, version });
    return { version, template: v.template };
  }
}

type Variant = 'promptback' | 'memory-behind-express' | 'naive';

async function serve(a: Adapters, variant: Variant): Promise<{ url: string; close: () => Promise<void> }> {
  const deps: ServiceDeps = {
    registry: a.registry,
    rollbacks: a.rollbacks,
    metrics: a.metrics,
    monitors: a.monitors,
    routes: a.routes,
    workflows: noEngine,
    clock: a.clock,
    publicUrl: 'http://127.0.0.1',
    verification: DEFAULT_VERIFICATION,
    monitorIntervalS: 30,
    gradualPlan: DEFAULT_GRADUAL,
    canaryPlan: DEFAULT_CANARY,
  };
  const service = variant === 'naive' ? new StorePerRequest(deps) : new PromptbackService(deps);
  const app = createApp({ service, log: createLogger('silent'), tokens: [] });
  const server = variant === 'promptback' ? createServer(app, service, []) : http.createServer(app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

/** autocannon in its own process; `started` resolves once it is sending. */
function load(url: string): { started: Promise<void>; done: Promise<Load> } {
  let child: ChildProcess | undefined;
  const done = new Promise<Load>((resolve, reject) => {
    child = execFile(
      AUTOCANNON,
      ['-j', '-c', String(CONNECTIONS), '-d', String(DURATION_S), `${url}/api/prompts/${PROMPT}/resolve?key=user-42`],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(new Error(`autocannon failed: ${err.message}`));
        const r = JSON.parse(stdout) as {
          requests: { average: number };
          latency: { p50: number; p99: number; max: number };
          errors: number;
          non2xx: number;
        };
        resolve({
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          max: r.latency.max,
          errors: r.errors,
          non2xx: r.non2xx,
        });
      },
    );
  });
  const started = new Promise<void>((r) => child!.once('spawn', () => setTimeout(r, 1000)));
  return { started, done };
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

interface Visibility {
  p50: number;
  p99: number;
  max: number;
  stale: number;
  switches: number;
}

/** Switches back and forth through the worker's connection; after each commit, polls until the new version is served. */
async function switchVisibility(url: string, worker: Adapters, tag: string): Promise<Visibility> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<string>((resolve, reject) => {
      http
        .get(`${url}/api/prompts/${PROMPT}/resolve?key=probe`, { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve((JSON.parse(body) as { version: string }).version));
        })
        .on('error', reject);
    });
  const delays: number[] = [];
  let stale = 0;
  let to = (await get()) === 'v1.9.0' ? 'v1.9.0' : 'v2.0.0';
  for (let i = 0; i < SWITCHES; i++) {
    to = to === 'v1.9.0' ? 'v2.0.0' : 'v1.9.0';
    await worker.registry.switchActive({ prompt: PROMPT, to, action: 'rollback', key: `${tag}-${i}`, actor: 'bench', reason: 'bench' });
    const committed = performance.now();
    for (;;) {
      if ((await get()) === to) break;
      stale++;
      if (performance.now() - committed > 5000) throw new Error('switch never became visible');
    }
    delays.push(performance.now() - committed);
    await new Promise((r) => setTimeout(r, 20));
  }
  agent.destroy();
  return { p50: pct(delays, 0.5), p99: pct(delays, 0.99), max: Math.max(...delays), stale, switches: SWITCHES };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-resolve-'));
  const file = path.join(dir, 'promptback.db');
  const api = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  const worker = await openAdapters({ databaseUrl: file }, createLogger('silent')); // the worker process's connection
  await api.registry.upsertPrompt({ name: PROMPT }, 'bench');
  for (const v of ['v1.9.0', 'v2.0.0'])
    await api.registry.addVersion({ prompt: PROMPT, version: v, template: `You are a support agent (${v}).`.repeat(20) }, 'bench');
  await api.registry.setTraffic({
    prompt: PROMPT,
    split: [
      { version: 'v1.9.0', percent: 90 },
      { version: 'v2.0.0', percent: 10 },
    ],
    key: 'bench-split',
    actor: 'bench',
    reason: 'bench',
    action: 'traffic',
  });

  console.log(
    `resolve over loopback: autocannon -c ${CONNECTIONS} -d ${DURATION_S}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const fast = await serve(api, 'promptback');
  const viaExpress = await serve(api, 'memory-behind-express');
  const naive = await serve(api, 'naive');
  await load(fast.url).done; // warm-up (JIT), not reported
  const cached = await load(fast.url).done;
  const mid = await load(viaExpress.url).done;
  const slow = await load(naive.url).done;
  await naive.close();
  await viaExpress.close();

  const idle = await switchVisibility(fast.url, worker, 'idle');
  const busy = load(fast.url);
  await busy.started;
  const loaded = await switchVisibility(fast.url, worker, 'loaded');
  const underLoad = await busy.done;
  await fast.close();

  const row = (name: string, l: Load) =>
    `${name.padEnd(44)} ${Math.round(l.rps).toString().padStart(8)} ${l.p50.toFixed(1).padStart(7)} ${l.p99.toFixed(1).padStart(7)} ${l.max.toFixed(1).padStart(7)} ${String(l.errors + l.non2xx).padStart(7)}`;
  console.log(
    `${'GET …/resolve'.padEnd(44)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'errors'.padStart(7)}`,
  );
  console.log(row('promptback: from memory, before Express', cached));
  console.log(row('  (the same memory answer behind Express)', mid));
  console.log(row('naive baseline: 3 store reads/request', slow));
  console.log(row('promptback while switching every ~20 ms', underLoad));
  console.log(
    `\nratio promptback / naive baseline: ${(cached.rps / slow.rps).toFixed(1)}× the requests/s, p99 ${(slow.p99 / Math.max(cached.p99, 1)).toFixed(1)}× lower`,
  );
  const vis = (name: string, v: Visibility) =>
    `switch → first request served by the new version, ${name} (${v.switches} switches committed by another connection): p50 ${v.p50.toFixed(2)} ms, p99 ${v.p99.toFixed(2)} ms, max ${v.max.toFixed(2)} ms; stale answers after a commit: ${v.stale}`;
  console.log(vis('idle', idle));
  console.log(vis(`under -c ${CONNECTIONS} load`, loaded));
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const worst = Math.max(idle.max, loaded.max);
  console.log(
    `targets: ≥ 20,000 req/s ${verdict(cached.rps >= 20_000)}; p99 < 5 ms ${verdict(cached.p99 < 5)}; switch visible < 100 ms ${verdict(worst < 100 && idle.stale + loaded.stale === 0)}`,
  );
  console.log(
    `RESULT ${JSON.stringify({
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      cached,
      cached_behind_express: mid,
      naive_store_per_request: slow,
      cached_while_switching: underLoad,
      ratio_rps: Number((cached.rps / slow.rps).toFixed(2)),
      switch_visible_ms: { idle, under_load: loaded },
    })}`,
  );
  await api.db.close();
  await worker.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
