/**
 * bench/sdk — how fast a switch reaches every connected SDK client, and what `client.get` costs.
 *
 *   npm run bench:sdk        (CLIENTS=1000 PROCS=2 SWITCHES=20 WARMUP=3 GET_S=3 PROBE_MS=… to change the defaults)
 *
 * 1. CLIENTS PromptbackClients (packages/client), spread over PROCS child processes, each with its own watch stream to
 *    the real API (createApp + createServer + PromptWatch over a real SQLite file). The parent commits SWITCHES
 *    switches through the registry on another SQLite connection — as the worker process does, so the API learns of
 *    them through the store probe (every PROBE_MS, the API's default for the store) — then SWITCHES more through the
 *    API's own registry (onRoutesChanged), and every client reports the moment its `change` event fired, i.e. from
 *    when `client.get` serves the new version. Lag = that moment − the moment just before the switch call began
 *    (both wall clocks of one host). Target: p99 < 100 ms; the cache-based alternative (Langfuse's SDK default)
 *    serves the old version for up to its 60-s TTL.
 *    The clients run in their own processes, not in the API's, but on the same cores: reading 1,000 sockets, parsing
 *    1,000 events and firing 1,000 `change` callbacks is in the figure, as is the server's fan-out, which the
 *    output shows apart (change noticed → last event written) so that each side's share is visible. WARMUP switches
 *    (JIT) come first and are not reported.
 * 2. `client.get` from memory, in-process: ops/s for a 100 % version and for a 50/50 split (key hashing).
 * The box is shared: the load average is printed beside every figure, with two yardsticks that do not depend on it —
 * the CPU each switch costs the API and the client processes, and how long 5 ms of CPU took on the wall clock
 * between switches (what the box's other work makes of a burst just then).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PromptbackClient } from '../packages/client/src/index';
import { createApp } from '../src/api/app';
import { createServer } from '../src/api/server';
import { PromptbackService } from '../src/api/service';
import { PROBE_MS, PromptWatch, type Fanout } from '../src/api/watch';
import { DEFAULT_CANARY, DEFAULT_GRADUAL } from '../src/domain/stages';
import { DEFAULT_VERIFICATION } from '../src/domain/verification';
import { createLogger } from '../src/main/logger';
import { openAdapters } from '../src/main/wiring';
import type { Workflows } from '../src/ports/workflows';

const CLIENTS = Number(process.env.CLIENTS ?? 1000);
const PROCS = Number(process.env.PROCS ?? 2);
const SWITCHES = Number(process.env.SWITCHES ?? 20);
const GET_S = Number(process.env.GET_S ?? 3);
const WARMUP = Number(process.env.WARMUP ?? 3);
const PROMPT = 'customer-support';
const VERSIONS = ['v1.9.0', 'v2.0.0'] as const;
const TARGET_MS = 100;
const TTL_S = 60;

const wallNow = (): number => performance.timeOrigin + performance.now();
/** This process's CPU time so far (user + system): what the work costs, whatever else runs on the box. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const load = (): string => `load ${os.loadavg()[0]!.toFixed(2)}`;
const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

type ToChild = { type: 'stop' };
type FromChild =
  | { type: 'ready'; n: number; cpuMs: number }
  | { type: 'served'; version: string; at: number[]; cpuMs: number }
  | { type: 'error'; message: string };

/** A child process holding `n` clients; reports, per switch, when each client serves the new version. */
async function clientsProcess(): Promise<void> {
  const url = process.env.BENCH_URL!;
  const n = Number(process.env.BENCH_N);
  const send = (m: FromChild) => process.send!(m);
  const clients = Array.from({ length: n }, () => new PromptbackClient({ url }));
  await Promise.all(clients.map((c) => c.watch(PROMPT)));
  let expecting: string | undefined;
  let times: number[] = [];
  let served = 0;

  // As little as possible per client: the time, and a count (this process's CPU is in the measured lag).
  clients.forEach((c, i) =>
    c.on('change', (e) => {
      const at = wallNow();
      const v = e.traffic[0]?.version ?? '';
      if (v !== expecting) {
        expecting = v;
        times = new Array<number>(n).fill(NaN);
        served = 0;
      }
      if (Number.isNaN(times[i])) served++;
      times[i] = at;
      if (served === n) {
        send({ type: 'served', version: v, at: times, cpuMs: cpuMs() });
        expecting = undefined;
      }
    }),
  );
  send({ type: 'ready', n, cpuMs: cpuMs() });
  process.on('message', (m: ToChild) => {
    if (m.type === 'stop') void Promise.all(clients.map((c) => c.close(10))).then(() => process.exit(0));
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-sdk-'));
  const file = path.join(dir, 'promptback.db');
  const log = createLogger('silent');
  const api = await openAdapters({ databaseUrl: file }, log);
  const worker = await openAdapters({ databaseUrl: file }, log); // the worker process's connection
  await api.registry.upsertPrompt({ name: PROMPT }, 'bench');
  for (const v of VERSIONS)
    await api.registry.addVersion({ prompt: PROMPT, version: v, template: `You are a support agent (${v}).` }, 'bench');
  await api.registry.switchActive({
    prompt: PROMPT,
    to: VERSIONS[1],
    action: 'deploy',
    key: 'bench-deploy',
    actor: 'bench',
    reason: 'bench',
  });

  // The real API, as startApi builds it, without the workflow engine (nothing here starts a workflow).
  const noEngine = new Proxy({} as Workflows, {
    get: (_t, name) => (name === 'webUiUrl' ? () => '' : () => Promise.reject(new Error(`bench: no workflow engine (${String(name)})`))),
  });
  const service = new PromptbackService({
    registry: api.registry,
    rollbacks: api.rollbacks,
    metrics: api.metrics,
    monitors: api.monitors,
    routes: api.routes,
    workflows: noEngine,
    clock: api.clock,
    publicUrl: 'http://127.0.0.1',
    verification: DEFAULT_VERIFICATION,
    monitorIntervalS: 30,
    gradualPlan: DEFAULT_GRADUAL,
    canaryPlan: DEFAULT_CANARY,
  });
  const probeMs = Number(process.env.PROBE_MS ?? PROBE_MS[api.db.dialect]);
  const fanouts: (Fanout & { at: number })[] = [];
  const watch = new PromptWatch({
    routes: api.routes,
    registry: api.registry,
    dataVersion: api.db.dataVersion,
    log,
    probeMs,
    onPublish: (e) => fanouts.push({ ...e, at: wallNow() }),
  });
  api.registry.onRoutesChanged(() => watch.changed());
  const server: http.Server = createServer(createApp({ service, log, tokens: [], watch }), service, []);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  console.log(
    `bench:sdk — ${CLIENTS} SDK clients in ${PROCS} processes beside the API's, on the same ${os.cpus().length} cores (their CPU is in the figures), ` +
      `${SWITCHES} switches per path; Node ${process.version}, ${load()}\n`,
  );

  // 1. Connect the clients.
  const connectStart = wallNow();
  const children: ChildProcess[] = [];
  const inbox: FromChild[] = [];
  let wake: (() => void) | undefined;
  for (let p = 0; p < PROCS; p++) {
    const n = Math.floor(CLIENTS / PROCS) + (p < CLIENTS % PROCS ? 1 : 0);
    const child = fork(__filename, [], {
      execArgv: ['--import', 'tsx', ...(process.env.CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.CPU_PROF] : [])],
      env: { ...process.env, BENCH_ROLE: 'clients', BENCH_URL: url, BENCH_N: String(n) },
    });
    child.on('message', (m: FromChild) => {
      inbox.push(m);
      wake?.();
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) inbox.push({ type: 'error', message: `client process exited with ${code}` });
      wake?.();
    });
    children.push(child);
  }
  const next = async (type: FromChild['type'], count: number, timeoutMs: number): Promise<FromChild[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const err = inbox.find((m) => m.type === 'error');
      if (err) throw new Error((err as { message: string }).message);
      const got = inbox.filter((m) => m.type === type);
      if (got.length >= count) {
        for (const g of got.slice(0, count)) inbox.splice(inbox.indexOf(g), 1);
        return got.slice(0, count);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} × ${type} (got ${got.length})`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  };
  const ready = (await next('ready', PROCS, 120_000)) as Extract<FromChild, { type: 'ready' }>[];
  let clientsCpu = ready.reduce((a, m) => a + m.cpuMs, 0);
  console.log(`connected: ${watch.size} watch streams open in ${((wallNow() - connectStart) / 1000).toFixed(1)} s (${load()})`);

  // 2. Switches, committed by another connection (the worker process: the store probe finds them) and by the API's own
  // registry (a worker in the API process, as `npm start` runs it); every client must serve one before the next.
  let switchNo = 0;
  // Between switches the API process is otherwise idle: how long 5 ms of its CPU take on the wall clock then is what
  // the box's other work makes of any burst right now (×1 on an idle core), the yardstick for every figure below.
  const pause = async (ms: number, burst: number[]) => {
    await new Promise((res) => setTimeout(res, ms / 2));
    const t = performance.now();
    const c = cpuMs();
    while (cpuMs() - c < 5);
    burst.push(performance.now() - t);
    await new Promise((res) => setTimeout(res, ms / 2));
  };
  // JIT warm-up of the API and of every client (their first events cost several times more), not reported.
  for (let i = 0; i < WARMUP; i++, switchNo++) {
    await pause(200, []);
    await api.registry.switchActive({
      prompt: PROMPT,
      to: VERSIONS[switchNo % 2]!,
      action: 'rollback',
      key: `bench-${switchNo}`,
      actor: 'bench',
      reason: 'bench',
    });
    const served = (await next('served', PROCS, 10_000)) as Extract<FromChild, { type: 'served' }>[];
    clientsCpu = served.reduce((a, m) => a + m.cpuMs, 0);
  }
  const measure = async (registry: typeof api.registry) => {
    const r = {
      perClient: [] as number[],
      lastClient: [] as number[],
      commits: [] as number[],
      noticed: [] as number[],
      written: [] as number[],
      loads: [] as number[],
      serverCpu: [] as number[],
      burst: [] as number[],
      clientsCpu: [] as number[],
    };
    for (let i = 0; i < SWITCHES; i++, switchNo++) {
      await pause(200, r.burst);
      const to = VERSIONS[switchNo % 2]!;
      fanouts.length = 0;
      const cpu0 = cpuMs();
      const t0 = wallNow();
      await registry.switchActive({ prompt: PROMPT, to, action: 'rollback', key: `bench-${switchNo}`, actor: 'bench', reason: 'bench' });
      r.commits.push(wallNow() - t0);
      const served = (await next('served', PROCS, 10_000)) as Extract<FromChild, { type: 'served' }>[];
      r.serverCpu.push(cpuMs() - cpu0);
      const cpuNow = served.reduce((a, m) => a + m.cpuMs, 0);
      r.clientsCpu.push(cpuNow - clientsCpu);
      clientsCpu = cpuNow;
      if (served.some((s) => s.version !== to)) throw new Error(`clients served ${served.map((s) => s.version).join(',')}, expected ${to}`);
      const lags = served.flatMap((s) => s.at.map((t) => t - t0));
      r.perClient.push(...lags);
      r.lastClient.push(Math.max(...lags));
      const fanout = fanouts.find((e) => e.watchers === CLIENTS);
      if (fanout) {
        r.written.push(fanout.at - t0);
        r.noticed.push(fanout.at - fanout.sinceSignalMs - t0);
      }
      r.loads.push(os.loadavg()[0]!);
    }
    return r;
  };
  const crossProcess = await measure(worker.registry);
  const inProcess = await measure(api.registry);
  for (const c of children) c.send({ type: 'stop' } satisfies ToChild);

  // 3. client.get from memory, in-process.
  const client = new PromptbackClient({ url });
  await client.watch(PROMPT);
  const keys = Array.from({ length: 4096 }, (_, i) => `user-${i}`);
  const opsPerSec = async (): Promise<number> => {
    let n = 0;
    const until = performance.now() + GET_S * 1000;
    while (performance.now() < until) {
      for (let j = 0; j < 1000; j++) await client.get(PROMPT, { key: keys[(n + j) & 4095]! });
      n += 1000;
    }
    return n / GET_S;
  };
  await opsPerSec(); // warm-up (JIT), not reported
  const getSingle = await opsPerSec();
  const getSingleLoad = load();
  await worker.registry.setTraffic({
    prompt: PROMPT,
    split: [
      { version: VERSIONS[0], percent: 50 },
      { version: VERSIONS[1], percent: 50 },
    ],
    key: 'bench-split',
    actor: 'bench',
    reason: 'bench',
    action: 'traffic',
  });
  for (let waited = 0; client.staleness(PROMPT)!.traffic.length !== 2; waited += 50) {
    if (waited > 10_000) throw new Error('the split did not reach the client');
    await new Promise((r) => setTimeout(r, 50));
  }
  const getSplit = await opsPerSec();
  const getSplitLoad = load();
  await client.close(10);

  const f = (x: number) => x.toFixed(1).padStart(7);
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const report = (label: string, r: Awaited<ReturnType<typeof measure>>) => {
    const loadRange = `load ${Math.min(...r.loads).toFixed(2)}–${Math.max(...r.loads).toFixed(2)}`;
    const line = (name: string, xs: number[]) =>
      console.log(
        `  ${name.padEnd(30)} p50 ${f(pct(xs, 0.5))} ms  p99 ${f(pct(xs, 0.99))} ms  max ${f(Math.max(...xs))} ms  (${loadRange})`,
      );
    console.log(`\nswitch committed ${label} → every connected client serves the new version (${CLIENTS} clients × ${SWITCHES} switches):`);
    line('the commit itself', r.commits);
    if (r.noticed.length > 0) {
      line('server: change noticed', r.noticed);
      line('server: last event written', r.written);
    }
    line('per client (serves it)', r.perClient);
    line('last client of each switch', r.lastClient);
    line('meanwhile, 5 ms of CPU took', r.burst);
    const p99 = pct(r.perClient, 0.99);
    console.log(
      `  CPU per switch (whatever the load): API process ${mean(r.serverCpu).toFixed(1)} ms (commit, probe, read, ${CLIENTS} writes), ` +
        `client processes ${mean(r.clientsCpu).toFixed(1)} ms (${CLIENTS} events read, parsed, applied; with their timers between switches)`,
    );
    console.log(
      `  target p99 < ${TARGET_MS} ms: ${verdict(p99 < TARGET_MS)} per client (p99 ${p99.toFixed(1)} ms), ` +
        `${verdict(pct(r.lastClient, 0.99) < TARGET_MS)} for the last client (p99 ${pct(r.lastClient, 0.99).toFixed(1)} ms); ` +
        `${r.lastClient.filter((x) => x < TARGET_MS).length} of ${r.lastClient.length} switches reached every client within ${TARGET_MS} ms; ${loadRange}`,
    );
    console.log(
      `  vs a cache client with a ${TTL_S}-s TTL (serves the old version up to ${TTL_S * 1000} ms, ${(TTL_S * 1000) / 2} ms on average): ` +
        `${Math.round((TTL_S * 1000) / Math.max(...r.perClient)).toLocaleString('en')}× sooner worst case, ` +
        `${Math.round((TTL_S * 1000) / 2 / mean(r.perClient)).toLocaleString('en')}× on average`,
    );
    const s = (xs: number[]) => (xs.length > 0 ? { p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: Math.max(...xs) } : undefined);
    return {
      per_client: { ...s(r.perClient), mean: mean(r.perClient) },
      last_client: s(r.lastClient),
      server_noticed: s(r.noticed),
      server_last_write: s(r.written),
      box_5ms_cpu_burst_wall: s(r.burst),
      cpu_ms_per_switch: { api: mean(r.serverCpu), clients: mean(r.clientsCpu) },
      target_p99_ms: TARGET_MS,
      pass: p99 < TARGET_MS,
      ttl_ratio: { worst: (TTL_S * 1000) / Math.max(...r.perClient), mean: (TTL_S * 1000) / 2 / mean(r.perClient) },
      loadavg_1m: [Math.min(...r.loads), Math.max(...r.loads)],
    };
  };
  const cross = report(`by another process (store probe every ${probeMs} ms)`, crossProcess);
  const local = report('in the API process (onRoutesChanged)', inProcess);
  console.log(`\nclient.get from memory, in-process:`);
  console.log(`  one version at 100 %   ${Math.round(getSingle).toLocaleString('en')} ops/s (${getSingleLoad})`);
  console.log(`  50/50 split (hashing)  ${Math.round(getSplit).toLocaleString('en')} ops/s (${getSplitLoad})`);
  console.log(
    `RESULT ${JSON.stringify({
      clients: CLIENTS,
      procs: PROCS,
      probe_ms: probeMs,
      switches: SWITCHES,
      switch_to_every_client_ms: { by_another_process: cross, in_api_process: local },
      ttl_cache_ms: { max: TTL_S * 1000, mean: (TTL_S * 1000) / 2 },
      get_ops_per_s: { single: Math.round(getSingle), split: Math.round(getSplit) },
    })}`,
  );

  watch.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await api.db.close();
  await worker.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

const run = process.env.BENCH_ROLE === 'clients' ? clientsProcess : main;
run().catch((e: unknown) => {
  if (process.send) process.send({ type: 'error', message: String(e) } satisfies FromChild);
  console.error(e);
  process.exit(1);
});
