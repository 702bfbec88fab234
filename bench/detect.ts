/**
 * bench:detect — the product's targets, measured in one run on SQLite and on Postgres, idle and under ingest load:
 *   - breach → active version switched: p99 ≤ 1 s while the API ingests ≥ 50,000 events/s over 1,000 monitored prompts;
 *   - rollback request (POST /api/rollback) → switched: p99 ≤ 300 ms under the same load;
 *   - ingest itself ≥ 50,000 events/s with p99 per 1,000-event batch ≤ 50 ms (judged on the batches sent while the
 *     runs' incidents open and verify; the same load alone for BENCH_STEADY_S before them, 15 s (at least 8), its first
 *     3 s a warm-up, is printed beside it: with BENCH_SETTLE_BETWEEN=0 the idle condition's incidents may still verify then);
 * each beside its target with PASS/MISS, the ratio against the seed's 30-s polling loop on the same breach events,
 * and the 1-minute load average during the runs (the numbers are only as good as the machine was quiet).
 *
 * Everything runs here, on loopback: a headless Temporal dev server (free port, state in a temp dir), the real
 * adapters (a temp SQLite file; a throwaway Postgres from test/support/postgres.ts), the real HTTP API in this process
 * and the real worker in a process of its own (`src/main/worker.ts`, as `npm run worker` runs it in production;
 * BENCH_WORKER=inline runs it in this process, as `npm start` does); the load comes from a paced generator on its own
 * thread. `npm run bench:detect`. BENCH_WORKER_CPU_PROF=<dir> writes the worker process's CPU profile there.
 * Quick mode: BENCH_QUICK=1 (200 prompts, 8 + 8 runs per condition: a few minutes). Knobs: BENCH_STORES
 * (sqlite,postgres), BENCH_FLEET, BENCH_RATE, BENCH_BATCH, BENCH_LOAD_CLIENTS, BENCH_LOAD_ERROR_PCT, BENCH_RUNS,
 * BENCH_ROLLBACK_RUNS, BENCH_NAIVE_PERIOD_S (30), BENCH_POLL (http|resolve|registry), BENCH_WATCHDOG_MIN (30), BENCH_SETTLE_BETWEEN=0 (the next condition starts while the previous one's incidents still verify), BENCH_STEADY_S; stack settings for A/B runs:
 * METRICS_INGEST=inline, METRICS_DECODE=thread|main, METRICS_DATABASE_URL=same (one SQLite file), BENCH_EAGER_ACTIVITIES=0 (dev server default off),
 * TEMPORAL_CALL_TIMEOUT_MS (a busy machine). Runs slower than BENCH_TRACE_MS (1000; rollbacks BENCH_TRACE_ROLLBACK_MS, 900)
 * print their incident's Temporal history on the request's time axis. Prints a table, then one `RESULT {json}` line.
 *
 * BENCH_MODE=full runs the earlier, longer report instead (phases and Temporal histories of each incident, ingest
 * throughput cases, the naive store's insert rates, a 1,000-prompt fleet's cost): knobs BENCH_RUNS (30),
 * BENCH_WARMUP_RUNS (2), BENCH_TPUT_S (3), BENCH_FLEET (1000), BENCH_FLEET_SETTLE_S (60), BENCH_FLEET_WINDOW_S (30).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Worker as Thread } from 'node:worker_threads';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import SQLite from 'better-sqlite3';
import pino from 'pino';
import { startApi, type ApiHandle } from '../src/main/api';
import { loadConfig } from '../src/main/config';
import { findTemporalCli, startDevServer, type DevServer } from '../src/main/temporal-server';
import { openAdapters, type Adapters } from '../src/main/wiring';
import { startWorker, type WorkerHandle } from '../src/main/worker';
import type { MetricEvent } from '../src/ports/metrics';
import { startPostgres } from '../test/support/postgres';

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};
const RUNS = Math.max(20, num('BENCH_RUNS', 30));
const WARMUP_RUNS = num('BENCH_WARMUP_RUNS', 2);
const NAIVE_PERIOD_MS = num('BENCH_NAIVE_PERIOD_S', 30) * 1000;
const TPUT_MS = num('BENCH_TPUT_S', 3) * 1000;
const FLEET = num('BENCH_FLEET', 1000);
const FLEET_SETTLE_MS = num('BENCH_FLEET_SETTLE_S', 60) * 1000;
const FLEET_WINDOW_MS = num('BENCH_FLEET_WINDOW_S', 30) * 1000;
const MONITOR_INTERVAL_S = 30;
const TARGET_P99_MS = 1000;
const LOAD_RUNS = num('BENCH_LOAD_RUNS', 5);
const WATCHDOG_MS = num('BENCH_WATCHDOG_MIN', 30) * 60_000;
/** `memory` runs the dev server without a state file (npm start uses one: the default here). */
const TEMPORAL_DB = process.env.BENCH_TEMPORAL_DB === 'memory' ? 'memory' : 'file';
/** BENCH_TEMPORAL_PRAGMAS=none: the state file with SQLite's defaults (rollback journal, full sync), for comparison. */
const TEMPORAL_PRAGMAS = process.env.BENCH_TEMPORAL_PRAGMAS === 'none' ? { sqlitePragmas: {} } : {};
/** How t1 is observed: `http` = GET /api/prompts/{p} (default), `registry` = the registry adapter, in-process. */
const POLL = process.env.BENCH_POLL === 'registry' ? 'registry' : process.env.BENCH_POLL === 'resolve' ? 'resolve' : 'http';
const POLL_DESC = {
  http: 'GET /api/prompts/{p} over HTTP, every 10 ms',
  resolve: 'GET /api/prompts/{p}/resolve over HTTP (what an application is served), every 10 ms',
  registry: 'registry.getPrompt() in-process, every 10 ms',
}[POLL];
/** The version serving the prompt now, read as BENCH_POLL says. */
async function servingVersion(prompt: string): Promise<string | null | undefined> {
  if (POLL === 'resolve') return ((await must('GET', `/api/prompts/${prompt}/resolve?key=bench`)) as { version: string }).version;
  const p = POLL === 'http' ? await must('GET', `/api/prompts/${prompt}`) : await running.adapters!.registry.getPrompt(prompt);
  return p?.active_version;
}

const benchStart = performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const elapsed = () => ((performance.now() - benchStart) / 1000).toFixed(1);
const progress = (msg: string) => process.stdout.write(`# [${elapsed()} s] ${msg}\n`);

// ---------------------------------------------------------------------------------------------------- stats

interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}
/** Nearest-rank percentiles (with n = 30, p99 is the maximum: conservative). */
function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const at = (p: number) => (n === 0 ? NaN : s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
  return {
    n,
    min: n ? s[0]! : NaN,
    mean: n ? s.reduce((a, b) => a + b, 0) / n : NaN,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: n ? s[n - 1]! : NaN,
  };
}
const r1 = (x: number) => Math.round(x * 10) / 10;
const roundSummary = (s: Summary): Summary => ({
  n: s.n,
  min: r1(s.min),
  mean: r1(s.mean),
  p50: r1(s.p50),
  p95: r1(s.p95),
  p99: r1(s.p99),
  max: r1(s.max),
});
const fmtMs = (x: number) => (Number.isNaN(x) ? '-' : x >= 10_000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const fmtInt = (x: number) => (Number.isNaN(x) ? '-' : Math.round(x).toLocaleString('en-US'));

function table(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of cells.slice(1)) process.stdout.write(`${line(r)}\n`);
}

// ---------------------------------------------------------------------------------------------------- process facts

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The process and all its descendants (the dev server may fork). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}
/** utime + stime in seconds, summed over the tree. */
function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / CLK_TCK;
}
function treeMemMb(root: number): { rss_mb: number; hwm_mb: number } {
  let rss = 0;
  let hwm = 0;
  for (const pid of processTree(root)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return { rss_mb: r1(rss / 1024), hwm_mb: r1(hwm / 1024) };
}

/** Machine-wide busy and total CPU time (seconds, all cores) from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

interface LoadReport {
  wall_s: number;
  /** Cores' worth of CPU used on average: the whole machine, this process, the dev server, everyone else. */
  machine_cores: number;
  bench_process_cores: number;
  dev_server_cores: number;
  /** The worker's own process (BENCH_WORKER=process); 0 when it runs in this one. */
  worker_process_cores: number;
  other_processes_cores: number;
  loadavg_1m: number;
}
/** What else ran on the machine during a part: the numbers are only as good as the machine was quiet. */
function loadProbe(devPid: number, workerPids: readonly number[] = []): () => LoadReport {
  const m0 = machineCpu();
  const p0 = process.cpuUsage();
  const d0 = treeCpuSeconds(devPid);
  const workersCpu = () => workerPids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
  const w0 = workersCpu();
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const m1 = machineCpu();
    const p = process.cpuUsage(p0);
    const own = (p.user + p.system) / 1e6;
    const dev = treeCpuSeconds(devPid) - d0;
    const wrk = workersCpu() - w0;
    const machine = m1.busy - m0.busy;
    return {
      wall_s: r1(wall),
      machine_cores: Math.round((machine / wall) * 100) / 100,
      bench_process_cores: Math.round((own / wall) * 100) / 100,
      dev_server_cores: Math.round((dev / wall) * 100) / 100,
      worker_process_cores: Math.round((wrk / wall) * 100) / 100,
      other_processes_cores: Math.round((Math.max(0, machine - own - dev - wrk) / wall) * 100) / 100,
      loadavg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
    };
  };
}
const fmtLoad = (l: LoadReport) =>
  `machine ${l.machine_cores} cores busy (this process ${l.bench_process_cores}, ${l.worker_process_cores ? `worker process ${l.worker_process_cores}, ` : ''}dev server ${l.dev_server_cores}, other processes ${l.other_processes_cores}); load avg ${l.loadavg_1m}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------- the stack

const stackLog: string[] = [];
let stackWarnings = 0;
/** Pages and alerts: the OutboxNotifier logs each one at warn/error level. Counted apart from real warnings. */
let notificationLines = 0;
const workerLog: string[] = [];
let workerWarnings = 0;
const devOutput: string[] = [];
/** BENCH_DEV_LOG=<file>: every line the dev server writes (its warnings say why a task was retried). */
const DEV_LOG = process.env.BENCH_DEV_LOG;
/** Dev server lines saying a persistence operation or a history task failed (the task is retried after a backoff). */
let devFailures = 0;

/** The stack's own log (warn and up) is counted and kept, not printed: a warning during a bench is a finding. */
function benchLog(): pino.Logger {
  return pino(
    { level: 'warn', name: 'promptback-bench' },
    {
      write(line: string) {
        if (line.includes('AUTH_TOKENS is empty')) return;
        if (line.includes('"notification":')) {
          notificationLines += 1;
          return;
        }
        stackWarnings += 1;
        if (stackLog.length < 20) stackLog.push(line.trim().slice(0, 600));
      },
    },
  );
}

interface Running {
  dir: string;
  dev: DevServer;
  adapters: Adapters;
  worker: WorkerHandle;
  api: ApiHandle;
  url: string;
  pg?: { stop(): void };
  /** Worker processes (BENCH_WORKER=process): killed on the way out whatever happened. */
  children: ChildProcess[];
}
const running: Partial<Running> & { children: ChildProcess[] } = { children: [] };
let naiveDbs: SQLite.Database[] = [];

async function startEverything(): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-'));
  running.dir = dir;
  Runtime.install({
    // Core's own warnings (e.g. "workflow task duration exceeded") are forwarded here and counted too.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
    logger: new DefaultLogger('WARN', (e) => {
      workerWarnings += 1;
      if (workerLog.length < 20) workerLog.push(`${e.level} ${e.message} ${e.meta ? JSON.stringify(e.meta).slice(0, 300) : ''}`);
    }),
  });
  const [port, uiPort] = [await freePort(), await freePort()];
  const dev = await startDevServer({
    cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
    port,
    uiPort,
    ...(TEMPORAL_DB === 'file' ? { dbFile: path.join(dir, 'temporal.db'), ...TEMPORAL_PRAGMAS } : {}),
    namespace: 'default',
    headless: true,
    onOutput: (l) => {
      devOutput.push(l);
      if (devOutput.length > 50) devOutput.shift();
      if (DEV_LOG) fs.appendFileSync(DEV_LOG, `${l}\n`);
      if (/level=ERROR|Fail to process task/.test(l)) devFailures += 1;
    },
  });
  running.dev = dev;
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dir,
    DATABASE_URL: path.join(dir, 'promptback.db'),
    TEMPORAL_ADDRESS: dev.address,
    MONITOR_INTERVAL_S: String(MONITOR_INTERVAL_S),
    MONITOR_CHECKS,
    VERIFY_INTERVAL_S: '1',
    VERIFY_DURATION_S: '10',
    MIN_SAMPLES: '10',
    LOG_LEVEL: 'warn',
  });
  const log = benchLog();
  const adapters = await openAdapters(config, log);
  running.adapters = adapters;
  const worker = await startWorker(config, adapters, dev.address);
  running.worker = worker;
  worker.run.catch((e: unknown) => {
    workerWarnings += 1;
    workerLog.push(`worker stopped: ${(e as Error).message}`);
  });
  const api = await startApi(config, adapters, dev.address, log);
  running.api = api;
  return { dir, dev, adapters, worker, api, url: api.url, children: [] };
}

let stopping: Promise<void> | undefined;
/** Stops what the bench started; a second caller waits for the stop under way rather than exiting under it. */
function stopEverything(): Promise<void> {
  return (stopping ??= stopAll());
}
/** The stop, waited for at most `ms` (a stop that hangs must not keep a watchdog or a signal from ending the bench). */
const stopWithin = (ms: number): Promise<void> => Promise.race([stopEverything(), new Promise<void>((r) => setTimeout(r, ms).unref())]);
async function stopAll(): Promise<void> {
  const r = running;
  const step = async (what: string, fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (e) {
      process.stdout.write(`# cleanup: ${what} failed: ${(e as Error).message}\n`);
    }
  };
  await step('api', () => r.api?.stop());
  await step('worker', () => r.worker?.stop());
  for (const c of r.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await step('store', () => r.adapters?.db.close());
  await step('dev server', () => r.dev?.stop());
  await step('postgres', () => r.pg?.stop());
  for (const db of naiveDbs) await step('naive db', () => void db.close());
  naiveDbs = [];
  if (r.dir) await step('temp dir', () => fs.rmSync(r.dir!, { recursive: true, force: true }));
}

// ---------------------------------------------------------------------------------------------------- HTTP

let BASE = '';
interface Reply {
  status: number;
  body: any;
}
async function call(method: string, p: string, body?: unknown): Promise<Reply> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${BASE}${p}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    } catch (e) {
      // A keep-alive socket the server closed as we reused it: safe to retry reads only.
      if (method !== 'GET' || attempt >= 2) throw e;
    }
  }
}
async function must(method: string, p: string, body?: unknown): Promise<any> {
  const r = await call(method, p, body);
  if (r.status >= 300) throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body;
}

interface Ev {
  prompt: string;
  version: string;
  ok: boolean;
  latency_ms: number;
}
const events = (prompt: string, version: string, n: number, errors: number): Ev[] =>
  Array.from({ length: n }, (_, i) => ({ prompt, version, ok: i >= errors, latency_ms: 80 + ((i * 37) % 400) }));

// ---------------------------------------------------------------------------------------------------- naive baseline

/**
 * The seed's loop, done the seed's way: every event is a row in a plain SQLite table; every 30 s, for each
 * prompt, scan the raw events of the last 5 minutes (its get_recent_metrics), compute the error rate of the
 * active version and, above 5 % (with at least 20 samples, as promptback's policy), switch to the previous one.
 */
class NaiveBaseline {
  private readonly db: SQLite.Database;
  private readonly insert: SQLite.Statement;
  private readonly recent: SQLite.Statement;
  private readonly prompts = new Map<string, { active: string; previous: string | null; breachWall?: number; switchedWall?: number }>();
  private timer: NodeJS.Timeout | undefined;
  readonly polls: { ms: number; scanned: number }[] = [];
  firstPollWall = 0;

  constructor(file: string) {
    this.db = new SQLite(file);
    naiveDbs.push(this.db);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(
      'CREATE TABLE events (id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, version TEXT NOT NULL, ok INTEGER NOT NULL, latency_ms REAL NOT NULL, at INTEGER NOT NULL);' +
        'CREATE INDEX events_prompt_at ON events (prompt, at);',
    );
    this.insert = this.db.prepare('INSERT INTO events (prompt, version, ok, latency_ms, at) VALUES (?, ?, ?, ?, ?)');
    this.recent = this.db.prepare('SELECT version, ok FROM events WHERE prompt = ? AND at >= ?');
  }

  record(evs: readonly Ev[]): void {
    const at = Date.now();
    this.db.transaction(() => {
      for (const e of evs) this.insert.run(e.prompt, e.version, e.ok ? 1 : 0, e.latency_ms, at);
    })();
  }

  deploy(prompt: string, version: string): void {
    const cur = this.prompts.get(prompt);
    this.prompts.set(prompt, { active: version, previous: cur?.active ?? null });
  }

  breach(prompt: string, wall: number): void {
    const p = this.prompts.get(prompt);
    if (p) p.breachWall = wall;
  }

  start(phaseMs: number): void {
    this.firstPollWall = Date.now() + phaseMs;
    this.timer = setTimeout(() => {
      this.poll();
      this.timer = setInterval(() => this.poll(), NAIVE_PERIOD_MS);
    }, phaseMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.timer);
  }

  private poll(): void {
    const t = performance.now();
    const now = Date.now();
    let scanned = 0;
    for (const [name, p] of this.prompts) {
      const rows = this.recent.all(name, now - 300_000) as { version: string; ok: number }[];
      scanned += rows.length;
      let n = 0;
      let errors = 0;
      for (const r of rows) {
        if (r.version !== p.active) continue;
        n += 1;
        if (r.ok === 0) errors += 1;
      }
      if (n >= 20 && errors / n > 0.05 && p.previous !== null) {
        p.active = p.previous;
        p.previous = null;
        p.switchedWall = Date.now();
      }
    }
    this.polls.push({ ms: performance.now() - t, scanned });
  }

  latencies(): { measured: number[]; pending: number } {
    const measured: number[] = [];
    let pending = 0;
    for (const p of this.prompts.values()) {
      if (p.breachWall === undefined) continue;
      if (p.switchedWall === undefined) pending += 1;
      else measured.push(p.switchedWall - p.breachWall);
    }
    return { measured, pending };
  }

  /** Offsets of the breaches within the poll period (shows that they cover it). */
  offsets(): number[] {
    return [...this.prompts.values()]
      .filter((p) => p.breachWall !== undefined)
      .map((p) => (((p.breachWall! - this.firstPollWall) % NAIVE_PERIOD_MS) + NAIVE_PERIOD_MS) % NAIVE_PERIOD_MS);
  }
}

// ---------------------------------------------------------------------------------------------------- part 1

interface DetectRun {
  prompt: string;
  /** t0 = the breach POST returned. */
  ms: number;
  /** t0 = just before the breach POST was sent. */
  ms_pre: number;
  /** The switch's audit row (`at`, written in the switch transaction) minus t0 = POST returned. */
  audit_ms: number | null;
  polls: number;
  timed_out: boolean;
  post_ms: number;
  /** t0_pre wall clock, for the phase breakdown. */
  pre_wall: number;
  post_wall: number;
}

async function detectRun(prompt: string, naive: NaiveBaseline | undefined): Promise<DetectRun> {
  const send = async (evs: Ev[]) => {
    naive?.record(evs);
    await must('POST', '/api/metrics', { events: evs });
  };
  await must('PUT', `/api/prompts/${prompt}`, { description: 'bench: detect', owner: 'bench' });
  await must('POST', `/api/prompts/${prompt}/versions`, { version: 'v1', template: 'You are a helpful assistant.' });
  await must('POST', `/api/prompts/${prompt}/deploy`, { version: 'v1', strategy: 'immediate' });
  naive?.deploy(prompt, 'v1');
  await send(events(prompt, 'v1', 30, 0)); // a little healthy traffic on v1 (becomes the baseline)
  await must('POST', `/api/prompts/${prompt}/versions`, { version: 'v2', template: 'You are a terse assistant.' });
  await must('POST', `/api/prompts/${prompt}/deploy`, { version: 'v2', strategy: 'immediate' });
  naive?.deploy(prompt, 'v2');
  await send(events(prompt, 'v2', 40, 0)); // healthy v2 traffic first: no errors, so no fast path yet

  // The breach: 60 more events, 12 errors → 12 / 100 = 12 % over the window (> 5 %, ≥ 20 samples).
  const breach = events(prompt, 'v2', 60, 12);
  naive?.record(breach);
  const body = JSON.stringify({ events: breach });
  const preWall = Date.now();
  const pre = performance.now();
  const r = await call('POST', '/api/metrics', body);
  const t0 = performance.now();
  const postWall = Date.now();
  if (r.status !== 202) throw new Error(`breach POST → ${r.status} ${JSON.stringify(r.body)}`);
  naive?.breach(prompt, postWall);

  let polls = 0;
  let t1: number | undefined;
  for (let k = 1; ; k++) {
    const serving = await servingVersion(prompt);
    polls += 1;
    if (serving === 'v1') {
      t1 = performance.now();
      break;
    }
    if (performance.now() - t0 > 60_000) break;
    const wait = t0 + k * 10 - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const timedOut = t1 === undefined;
  let auditMs: number | null = null;
  const audit = (await running.adapters!.registry.audit({ prompt })).find((a) => a.action === 'rollback');
  if (audit) auditMs = Date.parse(audit.at) - postWall;
  // Traffic now goes to v1: lets the incident verify and complete.
  if (!timedOut) await send(events(prompt, 'v1', 30, 0));
  return {
    prompt,
    ms: (t1 ?? performance.now()) - t0,
    ms_pre: (t1 ?? performance.now()) - pre,
    audit_ms: auditMs,
    polls,
    timed_out: timedOut,
    post_ms: t0 - pre,
    pre_wall: preWall,
    post_wall: postWall,
  };
}

/** Where the Temporal-side time of the incident goes, read from the workflows' histories. */
interface HistoryStats {
  /** Workflow task scheduled → picked up by the worker. */
  wft_wait: number[];
  /** Workflow task picked up → completed (the worker ran the workflow code). */
  wft_run: number[];
  /** Activity scheduled → started. */
  act_wait: number[];
  /** Activity started → completed (the activity's own work: SQL). */
  act_run: number[];
  /** Activities on the critical path, by type. */
  activities: Record<string, number>;
  /** Monitor: check-now signal received → child start initiated. */
  monitor_signal_to_child: number[];
  /** Child start initiated (monitor) → rollback workflow started. */
  child_start: number[];
  /** Rollback workflow started → switchActiveVersion completed. */
  rollback_to_switch: number[];
}
/** The activity whose completion means the prompt switched: step by step, or in one step (rollbacks since switch-in-one-step). */
const SWITCHES: unknown[] = ['switchActiveVersion', 'switchInOneStep'];
const evTime = (e: any): number => Number(e.eventTime?.seconds ?? 0) * 1000 + Number(e.eventTime?.nanos ?? 0) / 1e6;
const ET = {
  WFT_SCHEDULED: 5,
  WFT_STARTED: 6,
  WFT_COMPLETED: 7,
  ACT_SCHEDULED: 10,
  ACT_STARTED: 11,
  ACT_COMPLETED: 12,
  SIGNALED: 26,
  CHILD_INITIATED: 29,
  CHILD_STARTED: 31,
};

function segmentStats(events: any[], into: HistoryStats): void {
  let wftScheduled: number | undefined;
  let wftStarted: number | undefined;
  const actScheduled = new Map<string, { at: number; type: string }>();
  const actStarted = new Map<string, number>();
  for (const e of events) {
    const t = evTime(e);
    const type = Number(e.eventType);
    if (type === ET.WFT_SCHEDULED) wftScheduled = t;
    else if (type === ET.WFT_STARTED && wftScheduled !== undefined) {
      into.wft_wait.push(t - wftScheduled);
      wftStarted = t;
    } else if (type === ET.WFT_COMPLETED && wftStarted !== undefined) into.wft_run.push(t - wftStarted);
    else if (type === ET.ACT_SCHEDULED) {
      const name = String(e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?');
      actScheduled.set(String(e.eventId), { at: t, type: name });
      into.activities[name] = (into.activities[name] ?? 0) + 1;
    } else if (type === ET.ACT_STARTED) {
      const id = String(e.activityTaskStartedEventAttributes?.scheduledEventId);
      const sch = actScheduled.get(id);
      if (sch) into.act_wait.push(t - sch.at);
      actStarted.set(id, t);
    } else if (type === ET.ACT_COMPLETED) {
      const st = actStarted.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId));
      if (st !== undefined) into.act_run.push(t - st);
    }
  }
}

async function historyBreakdown(views: Iterable<any>): Promise<HistoryStats> {
  const out: HistoryStats = {
    wft_wait: [],
    wft_run: [],
    act_wait: [],
    act_run: [],
    activities: {},
    monitor_signal_to_child: [],
    child_start: [],
    rollback_to_switch: [],
  };
  const client = running.api!.client;
  for (const v of views) {
    try {
      const rb = (await client.workflow.getHandle(v.workflow_id).fetchHistory()).events ?? [];
      // The rollback up to (and including) the completion of the switch activity.
      const switchSched = rb.find(
        (e: any) =>
          Number(e.eventType) === ET.ACT_SCHEDULED && SWITCHES.includes(e.activityTaskScheduledEventAttributes?.activityType?.name),
      );
      const switchDone = rb.find(
        (e: any) =>
          Number(e.eventType) === ET.ACT_COMPLETED &&
          String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(switchSched?.eventId),
      );
      const end = switchDone ? rb.indexOf(switchDone) : rb.length - 1;
      const seg = rb.slice(0, end + 1);
      segmentStats(seg, out);
      if (seg.length) out.rollback_to_switch.push(evTime(seg[seg.length - 1]) - evTime(seg[0]));
      // The monitor, from the check-now signal to initiating the child.
      const mon = (await client.workflow.getHandle(`monitor/${v.prompt}`).fetchHistory()).events ?? [];
      const childAt = mon.findIndex((e: any) => Number(e.eventType) === ET.CHILD_INITIATED);
      if (childAt >= 0) {
        let sigAt = childAt;
        while (sigAt > 0 && Number(mon[sigAt]!.eventType) !== ET.SIGNALED) sigAt--;
        const mseg = mon.slice(sigAt, childAt + 1);
        segmentStats(mseg, out);
        out.monitor_signal_to_child.push(evTime(mon[childAt]) - evTime(mon[sigAt]));
        if (rb[0]) out.child_start.push(evTime(rb[0]) - evTime(mon[childAt]));
      }
    } catch (e) {
      progress(`history of ${String(v.workflow_id)}: ${(e as Error).message}`);
    }
  }
  return out;
}

interface Phases {
  to_incident_claimed: number[];
  claimed_to_switch_committed: number[];
  switch_committed_to_observed: number[];
  statuses: Record<string, number>;
  triggers_ok: number;
  views: Map<string, any>;
}
async function phaseBreakdown(runs: readonly DetectRun[]): Promise<Phases> {
  const out: Phases = {
    to_incident_claimed: [],
    claimed_to_switch_committed: [],
    switch_committed_to_observed: [],
    statuses: {},
    triggers_ok: 0,
    views: new Map(),
  };
  for (const run of runs) {
    const list = (await must('GET', `/api/rollbacks?prompt=${run.prompt}`)).rollbacks as any[];
    const rb = list[0];
    if (!rb) {
      out.statuses.none = (out.statuses.none ?? 0) + 1;
      continue;
    }
    out.statuses[rb.status] = (out.statuses[rb.status] ?? 0) + 1;
    out.views.set(run.prompt, rb);
    if (rb.requested_by === 'monitor' && rb.severity === 'critical' && rb.trigger?.metric === 'error_rate') out.triggers_ok += 1;
    const claimed = Date.parse(rb.requested_at);
    out.to_incident_claimed.push(claimed - run.pre_wall);
    if (run.audit_ms !== null) {
      const switchWall = run.post_wall + run.audit_ms;
      out.claimed_to_switch_committed.push(switchWall - claimed);
      out.switch_committed_to_observed.push(run.ms - run.audit_ms);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- part 3

const LOADGEN = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { url, body, clients, durationMs } = workerData;
  let stop = false;
  parentPort.on('message', () => { stop = true; });
  const lat = [];
  let ok = 0, failed = 0, firstError = null;
  const once = async () => {
    const s = performance.now();
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await r.text();
      if (r.status === 202) ok++; else { failed++; if (firstError === null) firstError = r.status + ' ' + text.slice(0, 300); }
    } catch (e) { failed++; if (firstError === null) firstError = String(e); }
    lat.push(performance.now() - s);
  };
  await Promise.all(Array.from({ length: clients }, once)); // warm-up: one request per client, not counted
  lat.length = 0; ok = 0; failed = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(Array.from({ length: clients }, async () => { while (performance.now() < end && !stop) await once(); }));
  parentPort.postMessage({ ok, okInWindow, failed, firstError, elapsedMs: stopAt - t0, lat });
})().catch((e) => parentPort.postMessage({ error: String(e) }));
`;

interface LoadResult {
  ok: number;
  /** The paced generator's: acknowledged before it was told to stop (elapsedMs is then up to the stop). */
  okInWindow?: number;
  failed: number;
  firstError: string | null;
  elapsedMs: number;
  lat: number[];
  /** The paced generator's: when each acknowledged batch was sent, in ms since the load started (beside `lat`). */
  sentAt?: number[];
  /** The paced generator's start, as performance.timeOrigin + performance.now() (comparable across threads). */
  startedAt?: number;
  error?: string;
}
/** A load generator on its own thread (own event loop), so the clients do not queue behind the server's work. */
function startLoad(body: string, clients: number, durationMs: number): { done: Promise<LoadResult>; stop(): void } {
  const t = new Thread(LOADGEN, { eval: true, workerData: { url: `${BASE}/api/metrics`, body, clients, durationMs } });
  const done = new Promise<LoadResult>((resolve, reject) => {
    t.once('message', (m: LoadResult) => {
      void t.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    });
    t.once('error', reject);
  });
  return { done, stop: () => t.postMessage('stop') };
}
const loadgen = (body: string, clients: number, durationMs: number): Promise<LoadResult> => startLoad(body, clients, durationMs).done;

interface TputRow {
  case: string;
  batch: number;
  clients: number;
  events_per_s: number;
  requests: number;
  failed: number;
  req_p50_ms: number;
  req_p99_ms: number;
  body_kb: number;
}

type NaiveMode = 'autocommit-wal' | 'autocommit-default' | 'tx-per-1000' | 'tx-per-10000';
const NAIVE_INSERTS = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.sqlite);
const { file, mode } = workerData;
const db = new SQLite(file);
if (mode !== 'autocommit-default') { db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); }
db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, version TEXT NOT NULL, ok INTEGER NOT NULL, latency_ms REAL NOT NULL, at INTEGER NOT NULL);' +
  'CREATE INDEX events_prompt_at ON events (prompt, at);');
const ins = db.prepare('INSERT INTO events (prompt, version, ok, latency_ms, at) VALUES (?, ?, ?, ?, ?)');
const batch = mode === 'tx-per-10000' ? 10000 : 1000;
const evs = Array.from({ length: batch }, (_, i) => ({ prompt: 'bench-naive-tput', version: 'v1', ok: true, latency_ms: 80 + ((i * 37) % 400) }));
const autocommit = mode.startsWith('autocommit');
const budget = autocommit ? 2000 : 1500;
let n = 0;
const t0 = performance.now();
while (performance.now() - t0 < budget) {
  const at = Date.now();
  if (autocommit) {
    for (const e of evs) {
      ins.run(e.prompt, e.version, e.ok ? 1 : 0, e.latency_ms, at);
      n += 1;
      if ((n & 255) === 0 && performance.now() - t0 >= budget) break;
    }
  } else {
    db.transaction(() => { for (const e of evs) ins.run(e.prompt, e.version, e.ok ? 1 : 0, e.latency_ms, at); })();
    n += evs.length;
  }
}
const rate = n / ((performance.now() - t0) / 1000);
db.close();
parentPort.postMessage({ rate });
`;
/**
 * The seed's way of storing metrics: one raw row per event. On its own thread: better-sqlite3 is synchronous, and
 * blocking the main thread for seconds would stall the worker's workflow activations (it did, in a first version).
 */
function naiveInsertRate(file: string, mode: NaiveMode): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = new Thread(NAIVE_INSERTS, { eval: true, workerData: { file, mode, sqlite: require.resolve('better-sqlite3') } });
    t.once('message', (m: { rate: number }) => {
      void t.terminate();
      resolve(m.rate);
    });
    t.once('error', reject);
  });
}

const histRow = (x: Summary, perIncident?: number): string[] => [
  String(x.n),
  fmtMs(x.p50),
  fmtMs(x.p95),
  fmtMs(x.max),
  perIncident === undefined ? '' : `${fmtMs(x.p50 * perIncident)} (${perIncident.toFixed(1)} ×)`,
];

function gitState(): { head: string; dirty: string[] } {
  try {
    const root = path.resolve(__dirname, '..');
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root })
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim());
    return { head, dirty };
  } catch {
    return { head: 'unknown', dirty: [] };
  }
}

// ---------------------------------------------------------------------------------------------------- targets mode

/**
 * The product's targets, in one run, on each store: breach → switched and rollback request → switched, idle and
 * while the API ingests ≥ 50,000 events/s spread over 1,000 monitored prompts; the ingest rate and its per-batch
 * latency; the seed's 30-s loop on the same breaches for the ratio. Knobs: BENCH_STORES (sqlite,postgres),
 * BENCH_FLEET (1000), BENCH_RATE (50000 events/s offered), BENCH_BATCH (1000), BENCH_LOAD_CLIENTS (4),
 * BENCH_LOAD_ERROR_PCT (0), BENCH_RUNS (30), BENCH_ROLLBACK_RUNS (30), BENCH_QUICK=1 (fleet 200, 8 + 8 runs).
 * Stack settings (METRICS_INGEST, METRICS_DATABASE_URL=same to keep one SQLite file) pass through for A/B runs.
 */
const QUICK = process.env.BENCH_QUICK === '1';
const T_STORES = (process.env.BENCH_STORES ?? 'sqlite,postgres')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const T_FLEET = num('BENCH_FLEET', QUICK ? 200 : 1000);
/** Postgres flushes its commits to disk (fsync on, production's setting) unless BENCH_PG_FSYNC=off. */
const PG_DURABLE = process.env.BENCH_PG_FSYNC !== 'off';
// Offered 5 % above the target: a paced generator only ever falls short of what it offers, so offering exactly
// 50,000 would read a server that keeps up as a MISS. The figure judged is what was acknowledged.
const T_RATE = num('BENCH_RATE', 52_500);
const T_BATCH = num('BENCH_BATCH', 1000);
const T_CLIENTS = Math.max(1, num('BENCH_LOAD_CLIENTS', 4));
const T_ERR_PCT = num('BENCH_LOAD_ERROR_PCT', 0);
const T_RUNS = Math.max(1, num('BENCH_RUNS', QUICK ? 8 : 30));
const T_RB_RUNS = Math.max(1, num('BENCH_ROLLBACK_RUNS', QUICK ? 8 : 30));
/** BENCH_CONDITIONS=idle (or load) measures one condition only: e.g. to chase idle outliers. */
const T_CONDITIONS = (['idle', 'load'] as const).filter((c) => (process.env.BENCH_CONDITIONS ?? 'idle,load').split(',').includes(c));
const FLEET_REST_S = Math.max(1, num('BENCH_FLEET_REST_S', 10));
const VERIFY_INTERVAL = String(Math.max(1, num('BENCH_VERIFY_INTERVAL_S', 5)));
const VERIFY_DURATION = String(Math.max(1, num('BENCH_VERIFY_DURATION_S', 60)));
/** How the stack's monitors check (the product's MONITOR_CHECKS, default activity): BENCH_MONITOR_CHECKS=timer for the other. */
const MONITOR_CHECKS = process.env.BENCH_MONITOR_CHECKS === 'timer' ? 'timer' : 'activity';
/** The paced load's first seconds (connections opened, the thread's first batches): not part of any figure. */
const LOAD_WARMUP_MS = 3000;
const TARGETS = { breach_p99_ms: 1000, rollback_p99_ms: 300, ingest_events_per_s: 50_000, batch_p99_ms: 50 };

const PACED_LOADGEN = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { url, bodies, clients, intervalMs } = workerData;
  let stop = false;
  let stopAt = 0;
  parentPort.on('message', () => { stop = true; stopAt = performance.now(); });
  const lat = [], sentAt = [];
  // okInWindow: acknowledged before the stop; the rate is those over the window (the batches in flight at the stop
  // finish after it and are not counted, nor is the time they take).
  let ok = 0, okInWindow = 0, failed = 0, firstError = null, k = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    // Paced: each client sends every clients × intervalMs; behind schedule, it sends at once (never bursts to catch up).
    let next = t0 + c * intervalMs;
    while (!stop) {
      const now = performance.now();
      if (next > now) await new Promise((r) => setTimeout(r, next - now));
      if (stop) break;
      next = Math.max(next + clients * intervalMs, performance.now());
      const s = performance.now();
      try {
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[k++ % bodies.length] });
        const text = await r.text();
        if (r.status === 202) { ok++; if (!stop) okInWindow++; lat.push(performance.now() - s); sentAt.push(s - t0); } else { failed++; if (firstError === null) firstError = r.status + ' ' + text.slice(0, 300); }
      } catch (e) { failed++; if (firstError === null) firstError = String(e); }
    }
  }));
  parentPort.postMessage({ ok, okInWindow, failed, firstError, elapsedMs: stopAt - t0, lat, sentAt, startedAt: performance.timeOrigin + t0 });
})().catch((e) => parentPort.postMessage({ error: String(e) }));
`;
/** Load alone before the runs (BENCH_STEADY_S, default 15 s; its first LOAD_WARMUP_MS not counted): the ingest tail of an ordinary load, apart from the runs' incidents. */
const T_STEADY_MS = Math.max(LOAD_WARMUP_MS + 5000, num('BENCH_STEADY_S', 15) * 1000);
function startPacedLoad(bodies: string[], clients: number, ratePerS: number): { done: Promise<LoadResult>; stop(): void } {
  const t = new Thread(PACED_LOADGEN, {
    eval: true,
    workerData: { url: `${BASE}/api/metrics`, bodies, clients, intervalMs: 1000 / ratePerS },
  });
  const done = new Promise<LoadResult>((resolve, reject) => {
    t.once('message', (m: LoadResult) => {
      void t.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    });
    t.once('error', reject);
  });
  return { done, stop: () => t.postMessage('stop') };
}

interface StoreStack {
  adapters: Adapters;
  /** The worker's process when it runs apart (BENCH_WORKER=process, the production shape): its CPU is reported. */
  /** The worker processes (none when the worker runs in this process). */
  workerPids: number[];
  api: ApiHandle;
  stop(): Promise<void>;
}

/**
 * Where the worker runs: `process` (default) = `src/main/worker.ts` in a process of its own, as in production; `inline`
 * = in this process, as `npm start` does; `split` = two worker processes, one per task queue (WORKER_TASK_QUEUES=main
 * and =rollbacks), the production layout with workers dedicated to rollbacks.
 */
const WORKER_MODE = process.env.BENCH_WORKER === 'inline' ? 'inline' : process.env.BENCH_WORKER === 'split' ? 'split' : 'process';

/**
 * The production worker (`npm run worker`) in its own process against the same stores and Temporal server; resolves
 * when it polls. Its warnings and errors are counted with the worker runtime's.
 */
async function spawnWorkerProcess(env: Record<string, string>): Promise<{ pid: number; stop(): Promise<void> }> {
  // BENCH_WORKER_CPU_PROF=<dir>: the worker process writes a V8 CPU profile there when it stops.
  const prof = process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_CPU_PROF}`] : [];
  // As `npm run worker` starts it, with the workflow-vm preload (WORKFLOW_DEADLOCK_WATCHDOG=on keeps the SDK's watchdog).
  const preload = ['--require', path.join(__dirname, '..', 'src', 'main', 'workflow-vm.cjs')];
  const child = spawn(process.execPath, [...prof, ...preload, '--import', 'tsx', path.join(__dirname, '..', 'src', 'main', 'worker.ts')], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Killed on the way out even if the bench is interrupted while it starts.
  running.children.push(child);
  let ready: (() => void) | undefined;
  let failed: ((e: Error) => void) | undefined;
  const readyP = new Promise<void>((res, rej) => {
    ready = res;
    failed = rej;
  });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    let e: { level?: number; msg?: string } | undefined;
    try {
      e = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      e = undefined;
    }
    if (e?.msg?.startsWith('worker running')) ready?.();
    if (line.includes('"notification":')) {
      notificationLines += 1;
      return;
    }
    if (line.includes('no delivery channel is configured') || line.includes('AUTH_TOKENS is empty')) return;
    if (!e || (e.level ?? 0) >= 40) {
      workerWarnings += 1;
      if (workerLog.length < 20) workerLog.push(`worker process: ${line.slice(0, 300)}`);
    }
  };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        if (i > 0) onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.once('exit', (code) => failed?.(new Error(`the worker process exited (${code}) before it polled:\n${tail.join('\n')}`)));
  const timer = setTimeout(() => failed?.(new Error(`the worker process did not poll within 120 s:\n${tail.join('\n')}`)), 120_000);
  try {
    await readyP;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}
let runtimeInstalled = false;
async function startStoreStack(dev: DevServer, dir: string, store: string, databaseUrl: string): Promise<StoreStack> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    Runtime.install({
      telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
      logger: new DefaultLogger('WARN', (e) => {
        workerWarnings += 1;
        if (workerLog.length < 20) workerLog.push(`${e.level} ${e.message} ${e.meta ? JSON.stringify(e.meta).slice(0, 300) : ''}`);
      }),
    });
  }
  const pass = (k: string) => (process.env[k] ? { [k]: process.env[k] } : {});
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dir,
    DATABASE_URL: databaseUrl,
    ...(process.env.METRICS_DATABASE_URL === 'same' ? { METRICS_DATABASE_URL: databaseUrl } : pass('METRICS_DATABASE_URL')),
    ...pass('METRICS_INGEST'),
    ...pass('METRICS_DECODE'),
    // A busy shared machine: engine calls may need longer than the default bound to start the fleet's monitors.
    ...pass('TEMPORAL_CALL_TIMEOUT_MS'),
    // Any free port for the worker's /metrics: two benches (or a bench beside a running worker) must not collide.
    WORKER_METRICS_PORT: process.env.WORKER_METRICS_PORT ?? '0',
    TEMPORAL_ADDRESS: dev.address,
    TEMPORAL_TASK_QUEUE: `promptback-bench-${store}`,
    MONITOR_INTERVAL_S: String(MONITOR_INTERVAL_S),
    MONITOR_CHECKS,
    // Verification as configured by default (a check every 5 s for 60 s): every run's rollback verifies while the next
    // runs. BENCH_VERIFY_INTERVAL_S / BENCH_VERIFY_DURATION_S change it (1 / 10: a check a second from each of the
    // last ten runs' rollbacks, the bench's own incident storm).
    VERIFY_INTERVAL_S: VERIFY_INTERVAL,
    VERIFY_DURATION_S: VERIFY_DURATION,
    MIN_SAMPLES: '10',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env);
  const log = benchLog();
  const adapters = await openAdapters(config, log);
  let stopWorker: () => Promise<void>;
  const workerPids: number[] = [];
  if (WORKER_MODE !== 'inline') {
    const ws = await Promise.all(
      (WORKER_MODE === 'split' ? ['main', 'rollbacks'] : ['both']).map((q) => spawnWorkerProcess({ ...env, WORKER_TASK_QUEUES: q })),
    );
    workerPids.push(...ws.map((w) => w.pid));
    stopWorker = async () => {
      await Promise.all(ws.map((w) => w.stop()));
    };
  } else {
    const worker = await startWorker(config, adapters, dev.address);
    worker.run.catch((e: unknown) => {
      workerWarnings += 1;
      workerLog.push(`worker stopped: ${(e as Error).message}`);
    });
    stopWorker = () => worker.stop();
  }
  const api = await startApi(config, adapters, dev.address, log);
  running.adapters = adapters;
  return {
    adapters,
    workerPids,
    api,
    async stop() {
      await api.stop().catch(() => undefined);
      await stopWorker().catch(() => undefined);
      await adapters.db.close().catch(() => undefined);
    },
  };
}

/** BENCH_SETTLE_BETWEEN=0: the next condition starts while the previous one's incidents still verify. */
const SETTLE_BETWEEN = process.env.BENCH_SETTLE_BETWEEN !== '0';
/** How long each condition waited for the previous one's incidents to close (RESULT's config). */
const settled_between: { before: string; waited_s: number; still_open: number }[] = [];

/** Waits until none of `prompts` has an open rollback (verified and closed), up to `maxMs`. */
async function untilClosed(prompts: readonly string[], maxMs: number): Promise<{ s: number; open: number }> {
  const t0 = performance.now();
  const wanted = new Set(prompts);
  for (;;) {
    const { prompts: all } = (await must('GET', '/api/prompts')) as { prompts: { name: string; open_rollback_id: string | null }[] };
    const open = all.filter((p) => wanted.has(p.name) && p.open_rollback_id !== null).length;
    const s = Math.round((performance.now() - t0) / 100) / 10;
    if (open === 0 || performance.now() - t0 > maxMs) return { s, open };
    await sleep(1000);
  }
}

/** v1 (healthy, the baseline) then v2 active, monitored; no background traffic of its own. */
async function registerTwoVersions(prompt: string, naive: NaiveBaseline | undefined): Promise<void> {
  await must('PUT', `/api/prompts/${prompt}`, { description: 'bench: targets', owner: 'bench' });
  await must('POST', `/api/prompts/${prompt}/versions`, { version: 'v1', template: 'You are a helpful assistant.' });
  await must('POST', `/api/prompts/${prompt}/deploy`, { version: 'v1', strategy: 'immediate' });
  naive?.deploy(prompt, 'v1');
  const e1 = events(prompt, 'v1', 30, 0);
  naive?.record(e1);
  await must('POST', '/api/metrics', { events: e1 });
  await must('POST', `/api/prompts/${prompt}/versions`, { version: 'v2', template: 'You are a terse assistant.' });
  await must('POST', `/api/prompts/${prompt}/deploy`, { version: 'v2', strategy: 'immediate' });
  naive?.deploy(prompt, 'v2');
  const e2 = events(prompt, 'v2', 40, 0);
  naive?.record(e2);
  await must('POST', '/api/metrics', { events: e2 });
}

async function pool<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Polls GET /api/prompts/{p} every 10 ms until v1 serves; ms since t0 (performance.now()), or NaN after 60 s. */
async function untilV1(prompt: string, t0: number): Promise<number> {
  for (let k = 1; ; k++) {
    if ((await servingVersion(prompt)) === 'v1') return performance.now() - t0;
    if (performance.now() - t0 > 60_000) return NaN;
    const wait = t0 + k * 10 - performance.now();
    if (wait > 0) await sleep(wait);
  }
}

interface TargetRun {
  prompt: string;
  /** Wall clock at t0, to place the incident's history events on the same axis. */
  t0_wall: number;
  ms: number;
  post_ms: number;
  loadavg_1m: number;
}
async function breachRun(prompt: string, naive: NaiveBaseline | undefined): Promise<TargetRun> {
  const breach = events(prompt, 'v2', 60, 12); // 12 errors / 100 in the window: 12 % > 5 %
  naive?.record(breach);
  const body = JSON.stringify({ events: breach });
  const t0Wall = Date.now();
  const t0 = performance.now();
  const r = await call('POST', '/api/metrics', body);
  const post = performance.now() - t0;
  if (r.status !== 202) throw new Error(`breach POST → ${r.status} ${JSON.stringify(r.body)}`);
  naive?.breach(prompt, Date.now());
  return { prompt, t0_wall: t0Wall, ms: await untilV1(prompt, t0), post_ms: post, loadavg_1m: os.loadavg()[0]! };
}
async function rollbackRun(prompt: string): Promise<TargetRun> {
  const t0Wall = Date.now();
  const t0 = performance.now();
  const r = await call('POST', '/api/rollback', { prompt, target_version: 'v1', reason: 'bench: runbook rollback' });
  const post = performance.now() - t0;
  if (r.status !== 202) throw new Error(`rollback POST → ${r.status} ${JSON.stringify(r.body)}`);
  return { prompt, t0_wall: t0Wall, ms: await untilV1(prompt, t0), post_ms: post, loadavg_1m: os.loadavg()[0]! };
}

/** Runs slower than this (ms) print their incident's history (BENCH_TRACE_MS; default: the breach target). */
const TRACE_MS = num('BENCH_TRACE_MS', 1000);
const EVENT_NAME = (n: number) =>
  (temporal.api.enums.v1.EventType[n] ?? String(n))
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
/**
 * One slow run's history, on the t0 axis: the monitor's events from t0 until it starts the incident, then the
 * rollback's until its switch completes; for each event what decides its wait (sticky or normal queue, activity
 * type and attempt, timeouts, failures).
 */
async function incidentTrace(api: ApiHandle, run: TargetRun): Promise<string> {
  const lines: string[] = [];
  const events: { at: number; line: string }[] = [];
  const put = (who: string, e: any) => {
    const type = Number(e.eventType);
    const at = evTime(e) - run.t0_wall;
    const a = e.workflowTaskScheduledEventAttributes;
    const detail = [
      a?.taskQueue ? `queue ${a.taskQueue.kind === 2 ? 'sticky' : 'normal'}` : '',
      e.workflowTaskTimedOutEventAttributes ? `timeout ${e.workflowTaskTimedOutEventAttributes.timeoutType}` : '',
      e.workflowTaskFailedEventAttributes ? `cause ${e.workflowTaskFailedEventAttributes.cause}` : '',
      e.activityTaskScheduledEventAttributes ? String(e.activityTaskScheduledEventAttributes.activityType?.name) : '',
      e.activityTaskStartedEventAttributes ? `attempt ${e.activityTaskStartedEventAttributes.attempt}` : '',
      e.activityTaskFailedEventAttributes ? String(e.activityTaskFailedEventAttributes.failure?.message ?? '').slice(0, 200) : '',
      e.workflowExecutionSignaledEventAttributes ? String(e.workflowExecutionSignaledEventAttributes.signalName) : '',
    ]
      .filter(Boolean)
      .join(', ');
    events.push({
      at,
      line: `    ${at >= 0 ? '+' : ''}${Math.round(at)} ms  ${who.padEnd(8)} ${EVENT_NAME(type)}${detail ? ` (${detail})` : ''}`,
    });
  };
  try {
    const mon = (await api.client.workflow.getHandle(`monitor/${run.prompt}`).fetchHistory()).events ?? [];
    // Up to the child's start recorded in the monitor: the child's first task is scheduled only after that.
    const childAt = mon.findIndex((e: any) => Number(e.eventType) === ET.CHILD_STARTED && evTime(e) >= run.t0_wall - 1000);
    for (const e of mon.slice(0, childAt >= 0 ? childAt + 1 : undefined)) if (evTime(e) >= run.t0_wall - 1000) put('monitor', e);
  } catch (e) {
    lines.push(`    monitor history: ${(e as Error).message}`);
  }
  try {
    const list = (await must('GET', `/api/rollbacks?prompt=${run.prompt}`)).rollbacks as any[];
    const wid = list[0]?.workflow_id as string | undefined;
    if (wid) {
      const rb = (await api.client.workflow.getHandle(wid).fetchHistory()).events ?? [];
      let switchId: string | undefined;
      for (const e of rb) {
        put('rollback', e);
        const t = Number(e.eventType);
        if (t === ET.ACT_SCHEDULED && SWITCHES.includes(e.activityTaskScheduledEventAttributes?.activityType?.name))
          switchId = String(e.eventId);
        if (t === ET.ACT_COMPLETED && switchId && String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === switchId) break;
      }
    } else lines.push('    no rollback recorded');
  } catch (e) {
    lines.push(`    rollback history: ${(e as Error).message}`);
  }
  // Both workflows on one axis, in time order (the sort is stable: events of one instant keep their history order).
  return [...events.sort((a, b) => a.at - b.at).map((e) => e.line), ...lines].join('\n');
}
async function traceSlow(api: ApiHandle, store: string, what: string, runs: readonly TargetRun[], overMs: number): Promise<void> {
  for (const r of runs) {
    if (!(Number.isNaN(r.ms) || r.ms > overMs)) continue;
    progress(
      `[${store}] ${what} ${r.prompt}: ${fmtMs(r.ms)} (request answered in ${fmtMs(r.post_ms)}, load avg ${r.loadavg_1m.toFixed(1)}); its history on the t0 axis:\n${await incidentTrace(api, r)}`,
    );
  }
}

interface Condition {
  breach: TargetRun[];
  rollback: TargetRun[];
  load: LoadReport;
  ingest?: {
    offered_events_per_s: number;
    events_per_s: number;
    batches: number;
    failed: number;
    /** Batches sent while the runs ran (their incidents open, switched, verified): the figure judged. */
    batch_ms: Summary;
    /** Batches sent before the runs, after the warm-up: the monitors checking, no incident. */
    batch_ms_steady: Summary;
    /** The machine meanwhile. */
    steady_load: LoadReport;
    first_error: string | null;
  };
}
const ms = (runs: TargetRun[]) => summarize(runs.filter((r) => !Number.isNaN(r.ms)).map((r) => r.ms));
const timedOut = (runs: TargetRun[]) => runs.filter((r) => Number.isNaN(r.ms)).length;
const laRange = (runs: TargetRun[]) => {
  const xs = runs.map((r) => r.loadavg_1m);
  return xs.length ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : '-';
};

async function measureStore(dev: DevServer, dir: string, store: string, databaseUrl: string) {
  progress(`[${store}] starting worker and API on ${store === 'sqlite' ? databaseUrl : 'a throwaway Postgres'} …`);
  const stack = await startStoreStack(dev, dir, store, databaseUrl);
  BASE = stack.api.url;
  const devPid = dev.process.pid!;
  try {
    const px = `b${store.slice(0, 2)}`;
    const fleet = Array.from({ length: T_FLEET }, (_, i) => `${px}-fleet-${String(i).padStart(4, '0')}`);
    const names = (what: string, n: number) => Array.from({ length: n }, (_, i) => `${px}-${what}-${i}`);
    const breachIdle = names('breach-idle', T_RUNS);
    const breachLoad = names('breach-load', T_RUNS);
    const rbIdle = names('rollback-idle', T_RB_RUNS);
    const rbLoad = names('rollback-load', T_RB_RUNS);
    const naive = new NaiveBaseline(path.join(dir, `naive-${store}.db`));
    naiveDbs.push((naive as any).db);
    const regT = performance.now();
    progress(`[${store}] registering ${T_FLEET} monitored prompts (the load's) and ${2 * (T_RUNS + T_RB_RUNS)} two-version prompts …`);
    await pool(fleet, 16, async (name) => {
      await must('PUT', `/api/prompts/${name}`, { description: 'bench: fleet' });
      await must('POST', `/api/prompts/${name}/versions`, { version: 'v1', template: 'You are a helpful assistant.' });
      const d = await must('POST', `/api/prompts/${name}/deploy`, { version: 'v1' });
      if ('error' in (d.monitor ?? {})) throw new Error(`monitor of ${name} not started: ${d.monitor.error}`);
    });
    await pool([...breachIdle, ...breachLoad, ...rbIdle, ...rbLoad], 16, (p) => registerTwoVersions(p, naive));
    progress(`[${store}] registered in ${((performance.now() - regT) / 1000).toFixed(1)} s`);
    // The load: batches cycling over the fleet, one event per prompt per pass. Errors (BENCH_LOAD_ERROR_PCT, default
    // 0) go to every 10th prompt only and at that prompt's share, so that they exercise the ingest fast path
    // without tripping a trigger: keep it below the young-version alert threshold (0.5 %).
    // Each prompt's latencies spread as real traffic's do: over the bodies it sees every second, a prompt's events fall
    // in ~40 of the histogram's 4-% bins (80–480 ms), not in one (a constant latency per prompt stores one latency row
    // per prompt and second, and flatters the store).
    const BODIES = 60;
    const body = (b: number, errorPct: number) =>
      JSON.stringify({
        events: Array.from({ length: T_BATCH }, (_, i) => {
          const n = b * T_BATCH + i;
          const j = n % fleet.length;
          const pass = Math.floor(n / fleet.length);
          return {
            prompt: fleet[j]!,
            version: 'v1',
            ok: !(errorPct > 0 && j % 10 === 0 && (pass * 7919 + j) % Math.round(100 / errorPct) === 0),
            latency_ms: 80 + ((n * 7919 + pass * 104_729) % 4_000) / 10,
          };
        }),
      });
    const bodies = Array.from({ length: BODIES }, (_, b) => body(b, T_ERR_PCT));
    // Healthy traffic first, so that the fleet's monitors see data, not an empty window.
    for (let b = 0; b < BODIES; b++) await must('POST', '/api/metrics', body(b, 0));
    // Measure the steady state, not the start-up: every monitor started above has made its first check.
    const settleT = performance.now();
    for (;;) {
      const ms_ = (await must('GET', '/api/monitors')).monitors as { checks: number }[];
      const waiting = ms_.filter((m) => m.checks === 0).length;
      if (waiting === 0 || performance.now() - settleT > 180_000) {
        progress(
          `[${store}] ${ms_.length} monitors ${waiting ? `(${waiting} still without a first check after 180 s)` : 'have each made their first check'}: settled in ${((performance.now() - settleT) / 1000).toFixed(1)} s`,
        );
        break;
      }
      await sleep(500);
    }

    // The fleet at rest: what the monitors alone cost, with no request, breach or rollback (BENCH_FLEET_REST_S, 10 s).
    const restProbe = loadProbe(devPid, stack.workerPids);
    await sleep(FLEET_REST_S * 1000);
    const rest = restProbe();
    progress(`[${store}] ${T_FLEET} monitors at rest (MONITOR_CHECKS=${MONITOR_CHECKS}), ${FLEET_REST_S} s: ${fmtLoad(rest)}`);

    const conditions: Record<'idle' | 'load', Condition> = {} as any;
    naive.start(Math.random() * NAIVE_PERIOD_MS);
    let lastBreachWall = Date.now();
    let previous: string[] = [];
    for (const cond of T_CONDITIONS) {
      // Each condition starts from a quiet stack: the previous condition's 60 incidents (verifying for
      // VERIFY_DURATION_S after their switch) are closed first, so that "under load" means the ingest load and this
      // condition's own incidents, not also the last condition's. BENCH_SETTLE_BETWEEN=0 skips the wait.
      if (previous.length > 0 && SETTLE_BETWEEN) {
        const w = await untilClosed(previous, (Number(VERIFY_DURATION) + 60) * 1000);
        settled_between.push({ before: cond, waited_s: w.s, still_open: w.open });
        progress(
          `[${store}] before ${cond}: the previous condition's ${previous.length} incidents ${w.open ? `(${w.open} still open)` : 'closed'} after ${w.s} s`,
        );
      }
      previous = cond === 'idle' ? [...breachIdle, ...rbIdle] : [...breachLoad, ...rbLoad];
      const load = cond === 'load' ? startPacedLoad(bodies, T_CLIENTS, T_RATE / T_BATCH) : undefined;
      // The load settles, then runs alone for a while (the steady figure) before the runs start.
      let steadyLoad: LoadReport | undefined;
      if (load) {
        await sleep(LOAD_WARMUP_MS);
        const steadyProbe = loadProbe(devPid, stack.workerPids);
        await sleep(T_STEADY_MS - LOAD_WARMUP_MS);
        steadyLoad = steadyProbe();
      }
      const runsFrom = performance.timeOrigin + performance.now();
      const probe = loadProbe(devPid, stack.workerPids);
      const breach: TargetRun[] = [];
      for (const p of cond === 'idle' ? breachIdle : breachLoad) {
        breach.push(await breachRun(p, naive));
        lastBreachWall = Date.now();
      }
      progress(`[${store}] ${cond}: breach → switched p50 ${fmtMs(ms(breach).p50)} p99 ${fmtMs(ms(breach).p99)}`);
      const rollback: TargetRun[] = [];
      for (const p of cond === 'idle' ? rbIdle : rbLoad) rollback.push(await rollbackRun(p));
      progress(`[${store}] ${cond}: rollback → switched p50 ${fmtMs(ms(rollback).p50)} p99 ${fmtMs(ms(rollback).p99)}`);
      progress(`[${store}] ${cond}: dev server task/persistence failures so far: ${devFailures}`);
      const c: Condition = { breach, rollback, load: probe() };
      // The load stops with the runs: the slow runs' histories, read next, are not part of its figures.
      load?.stop();
      await traceSlow(stack.api, store, `${cond} breach`, breach, TRACE_MS);
      await traceSlow(stack.api, store, `${cond} rollback`, rollback, num('BENCH_TRACE_ROLLBACK_MS', 3 * TARGETS.rollback_p99_ms));
      if (load) {
        const r = await load.done;
        // When each batch was sent, on this thread's axis: before the runs (after the warm-up) or during them.
        const sentAt = (r.sentAt ?? []).map((x) => x + (r.startedAt ?? 0));
        const steadyFrom = (r.startedAt ?? 0) + LOAD_WARMUP_MS;
        const between = (from: number, to: number) => r.lat.filter((_, k) => sentAt[k]! >= from && sentAt[k]! < to);
        c.ingest = {
          offered_events_per_s: T_RATE,
          events_per_s: Math.round(((r.okInWindow ?? r.ok) * T_BATCH) / (r.elapsedMs / 1000)),
          batches: r.ok,
          failed: r.failed,
          batch_ms: summarize(between(runsFrom, Infinity)),
          batch_ms_steady: summarize(between(steadyFrom, runsFrom)),
          steady_load: steadyLoad!,
          first_error: r.firstError,
        };
        progress(
          `[${store}] ingest: ${fmtInt(c.ingest.events_per_s)} events/s; batch p99 ${fmtMs(c.ingest.batch_ms_steady.p99)} before the runs (p50 ${fmtMs(c.ingest.batch_ms_steady.p50)}), ${fmtMs(c.ingest.batch_ms.p99)} under the runs (p50 ${fmtMs(c.ingest.batch_ms.p50)})`,
        );
      }
      conditions[cond] = c;
    }
    // The seed's loop on the same breaches: wait for its last poll to catch the last one.
    const deadline = lastBreachWall + NAIVE_PERIOD_MS + 3000;
    while (naive.latencies().pending > 0 && Date.now() < deadline) await sleep(200);
    naive.stop();
    const nl = naive.latencies();
    return { store, rest, conditions, naive: { ms: summarize(nl.measured), never_switched: nl.pending } };
  } finally {
    await stack.stop();
  }
}

async function mainTargets(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-'));
  running.dir = dir;
  const [port, uiPort] = [await freePort(), await freePort()];
  progress(`starting the Temporal dev server (headless, state file in a temp dir) …`);
  const dev = await startDevServer({
    ...(process.env.BENCH_EAGER_ACTIVITIES === '0' ? { dynamicConfig: { 'system.enableActivityEagerExecution': false } } : {}),
    cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
    port,
    uiPort,
    ...(TEMPORAL_DB === 'file' ? { dbFile: path.join(dir, 'temporal.db'), ...TEMPORAL_PRAGMAS } : {}),
    namespace: 'default',
    headless: true,
    onOutput: (l) => {
      devOutput.push(l);
      if (devOutput.length > 50) devOutput.shift();
      if (DEV_LOG) fs.appendFileSync(DEV_LOG, `${l}\n`);
      if (/level=ERROR|Fail to process task/.test(l)) devFailures += 1;
    },
  });
  running.dev = dev;
  const idle = loadProbe(dev.process.pid!);
  await sleep(2000);
  const machineBefore = idle();
  progress(`machine before the bench: ${fmtLoad(machineBefore)}`);
  const results = [];
  for (const store of T_STORES) {
    if (store === 'sqlite') results.push(await measureStore(dev, dir, store, path.join(dir, 'promptback.db')));
    else if (store === 'postgres') {
      // Durable by default, as production runs it (fsync on); BENCH_PG_FSYNC=off measures without flushing commits.
      const pgi = await startPostgres({ durable: PG_DURABLE });
      running.pg = pgi;
      try {
        results.push(await measureStore(dev, dir, store, await pgi.newDatabase()));
      } finally {
        delete running.pg;
        pgi.stop();
      }
    } else throw new Error(`BENCH_STORES: unknown store ${store} (sqlite, postgres)`);
  }

  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const rows: (string | number)[][] = [];
  const figures: any[] = [];
  const steadyIngest: any[] = [];
  for (const r of results) {
    for (const cond of T_CONDITIONS) {
      const c = r.conditions[cond];
      const b = ms(c.breach);
      const rb = ms(c.rollback);
      const la = `${laRange([...c.breach, ...c.rollback])} (machine ${c.load.machine_cores} cores busy, others ${c.load.other_processes_cores})`;
      const vsNaive = (x: number) => (x > 0 && r.naive.ms.n ? `seed ÷ this = ${(r.naive.ms.p99 / x).toFixed(1)}×` : '-');
      const bOk = b.p99 <= TARGETS.breach_p99_ms && timedOut(c.breach) === 0;
      const rOk = rb.p99 <= TARGETS.rollback_p99_ms && timedOut(c.rollback) === 0;
      rows.push([
        `${r.store}`,
        cond,
        'breach → switched',
        b.n,
        fmtMs(b.p50),
        fmtMs(b.p99),
        fmtMs(b.max),
        `p99 ≤ ${TARGETS.breach_p99_ms} ms`,
        verdict(bOk),
        vsNaive(b.p99),
        la,
      ]);
      rows.push([
        `${r.store}`,
        cond,
        'rollback request → switched',
        rb.n,
        fmtMs(rb.p50),
        fmtMs(rb.p99),
        fmtMs(rb.max),
        `p99 ≤ ${TARGETS.rollback_p99_ms} ms`,
        verdict(rOk),
        vsNaive(rb.p99),
        la,
      ]);
      figures.push(
        {
          store: r.store,
          condition: cond,
          figure: 'breach_to_switch_ms',
          ...roundSummary(b),
          timed_out: timedOut(c.breach),
          target_p99_ms: TARGETS.breach_p99_ms,
          verdict: verdict(bOk),
          naive_p99_over_this_p99: r1(r.naive.ms.p99 / b.p99),
          loadavg_1m: c.breach.map((x) => x.loadavg_1m),
        },
        {
          store: r.store,
          condition: cond,
          figure: 'rollback_to_switch_ms',
          ...roundSummary(rb),
          timed_out: timedOut(c.rollback),
          target_p99_ms: TARGETS.rollback_p99_ms,
          verdict: verdict(rOk),
          naive_p99_over_this_p99: r1(r.naive.ms.p99 / rb.p99),
          loadavg_1m: c.rollback.map((x) => x.loadavg_1m),
        },
      );
      if (c.ingest) {
        const i = c.ingest;
        const iOk = i.events_per_s >= TARGETS.ingest_events_per_s && i.failed === 0;
        const lOk = i.batch_ms.p99 <= TARGETS.batch_p99_ms;
        rows.push([
          `${r.store}`,
          cond,
          'ingest events/s (offered ' + fmtInt(i.offered_events_per_s) + ')',
          i.batches,
          '',
          fmtInt(i.events_per_s),
          '',
          `≥ ${fmtInt(TARGETS.ingest_events_per_s)}`,
          verdict(iOk),
          '',
          la,
        ]);
        const steadyOk = i.batch_ms_steady.p99 <= TARGETS.batch_p99_ms;
        rows.push([
          `${r.store}`,
          cond,
          `ingest per ${fmtInt(T_BATCH)}-event batch, before the runs (no incident)`,
          i.batch_ms_steady.n,
          fmtMs(i.batch_ms_steady.p50),
          fmtMs(i.batch_ms_steady.p99),
          fmtMs(i.batch_ms_steady.max),
          `p99 ≤ ${TARGETS.batch_p99_ms} ms`,
          `(${verdict(steadyOk)})`,
          '',
          `${i.steady_load.loadavg_1m} (machine ${i.steady_load.machine_cores} cores busy, others ${i.steady_load.other_processes_cores})`,
        ]);
        rows.push([
          `${r.store}`,
          cond,
          `ingest per ${fmtInt(T_BATCH)}-event batch, under the runs`,
          i.batch_ms.n,
          fmtMs(i.batch_ms.p50),
          fmtMs(i.batch_ms.p99),
          fmtMs(i.batch_ms.max),
          `p99 ≤ ${TARGETS.batch_p99_ms} ms`,
          verdict(lOk),
          '',
          la,
        ]);
        figures.push(
          {
            store: r.store,
            condition: cond,
            figure: 'ingest_events_per_s',
            value: i.events_per_s,
            offered: i.offered_events_per_s,
            failed: i.failed,
            first_error: i.first_error,
            target: TARGETS.ingest_events_per_s,
            verdict: verdict(iOk),
          },
          {
            store: r.store,
            condition: cond,
            figure: 'ingest_batch_ms',
            ...roundSummary(i.batch_ms),
            target_p99_ms: TARGETS.batch_p99_ms,
            verdict: verdict(lOk),
          },
        );
        // Beside the figures judged, not one of them: the same load before the runs' incidents.
        steadyIngest.push({
          store: r.store,
          ...roundSummary(i.batch_ms_steady),
          target_p99_ms: TARGETS.batch_p99_ms,
          verdict: verdict(steadyOk),
          window_s: i.steady_load.wall_s,
          load: i.steady_load,
        });
      }
    }
  }
  table(
    `Targets (${T_FLEET} monitored prompts carry the load: ${fmtInt(T_BATCH)}-event batches, ${T_ERR_PCT} % errors, ${T_CLIENTS} paced clients; breaches and rollbacks on their own two-version prompts${SETTLE_BETWEEN && T_CONDITIONS.length > 1 ? ", each condition once the previous one's incidents closed" : ''}; t0 = request sent, t1 = first ${POLL_DESC} showing v1)`,
    [
      'store',
      'condition',
      'figure',
      'n',
      'p50',
      'p99',
      'max',
      'target',
      'verdict',
      `vs seed ${NAIVE_PERIOD_MS / 1000}-s loop (p99)`,
      'load avg 1m during runs',
    ],
    rows,
  );
  for (const r of results)
    process.stdout.write(
      `[${r.store}] seed's ${NAIVE_PERIOD_MS / 1000}-s loop on the same breach events: p50 ${fmtMs(r.naive.ms.p50)}, p99 ${fmtMs(r.naive.ms.p99)} (n ${r.naive.ms.n}, never switched ${r.naive.never_switched}; analytic U(0, ${NAIVE_PERIOD_MS / 1000} s) p99 ${fmtMs(0.99 * NAIVE_PERIOD_MS)})\n`,
    );
  process.stdout.write(
    `machine: ${os.cpus().length} CPUs; before the bench: ${fmtLoad(machineBefore)}\n` +
      `stack warnings/errors logged: API+activities ${stackWarnings}, worker runtime ${workerWarnings}\n` +
      [...stackLog.slice(0, 5), ...workerLog.slice(0, 5)].map((l) => `  ${l}`).join('\n') +
      '\n',
  );
  const result = {
    mode: 'targets',
    machine: { cpus: os.cpus().length, node: process.version, before: machineBefore },
    source: gitState(),
    config: {
      fleet: T_FLEET,
      offered_events_per_s: T_RATE,
      batch: T_BATCH,
      load_clients: T_CLIENTS,
      load_error_pct: T_ERR_PCT,
      runs: T_RUNS,
      rollback_runs: T_RB_RUNS,
      naive_period_s: NAIVE_PERIOD_MS / 1000,
      poll: POLL_DESC,
      metrics_ingest: process.env.METRICS_INGEST ?? 'thread',
      metrics_decode: process.env.METRICS_DECODE ?? 'auto',
      monitor_checks: MONITOR_CHECKS,
      verification: { interval_s: Number(VERIFY_INTERVAL), duration_s: Number(VERIFY_DURATION) },
      load_alone_before_the_runs_s: T_STEADY_MS / 1000,
      metrics_database_url: process.env.METRICS_DATABASE_URL ?? 'default (sqlite: sibling file)',
      postgres_fsync: PG_DURABLE ? 'on' : 'off',
      worker: WORKER_MODE,
      workflow_deadlock_watchdog: process.env.WORKFLOW_DEADLOCK_WATCHDOG === 'on' ? 'on (per call)' : 'off',
      between_conditions: SETTLE_BETWEEN ? "each condition waits for the previous one's incidents to close" : 'no wait',
      settled_between,
    },
    targets: TARGETS,
    figures,
    ingest_before_the_runs: steadyIngest,
    naive: Object.fromEntries(results.map((r) => [r.store, { ...roundSummary(r.naive.ms), never_switched: r.naive.never_switched }])),
    load: Object.fromEntries(
      results.map((r) => [r.store, { fleet_at_rest: r.rest, idle: r.conditions.idle?.load, load: r.conditions.load?.load }]),
    ),
    warnings: { stack: stackWarnings, worker: workerWarnings },
    all_pass: figures.every((f) => f.verdict === 'PASS'),
    total_s: r1((performance.now() - benchStart) / 1000),
  };
  await stopEverything();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  progress(`starting dev server (headless, free port, temp dir), worker (bundling workflows) and API …`);
  const s = await startEverything();
  BASE = s.url;
  const cpuCount = os.cpus().length;
  progress(`stack up: API ${s.url}, Temporal ${s.dev.address} (dev server pid ${s.dev.process.pid}), ${cpuCount} CPUs`);
  const startupS = (performance.now() - benchStart) / 1000;

  // ------------------------------------------------------------------ 1 + 2: detection, and the naive loop on the same data
  const devPid = s.dev.process.pid!;
  const idle = loadProbe(devPid);
  await sleep(2000);
  const loadIdle = idle();
  progress(`machine before the bench, stack idle (2 s): ${fmtLoad(loadIdle)}`);
  const naive = new NaiveBaseline(path.join(s.dir, 'naive.db'));
  const warm: DetectRun[] = [];
  for (let i = 0; i < WARMUP_RUNS; i++) warm.push(await detectRun(`bench-detect-warm-${i}`, undefined));
  progress(`warm-up runs: ${warm.map((w) => fmtMs(w.ms)).join(', ')}`);

  // Naive loop with a random phase; promptback runs are spread over one full poll period, so the breaches land
  // at stratified offsets within it: the naive latencies measured are a fair sample of its distribution.
  const phase = Math.random() * NAIVE_PERIOD_MS;
  naive.start(phase);
  const slotMs = NAIVE_PERIOD_MS / RUNS;
  const part1Start = performance.now();
  const p1probe = loadProbe(devPid);
  const runs: DetectRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    const slot = part1Start + i * slotMs - performance.now();
    if (slot > 0) await sleep(slot);
    const run = await detectRun(`bench-detect-${i}`, naive);
    runs.push(run);
    if ((i + 1) % 10 === 0) progress(`detect run ${i + 1}/${RUNS}: last ${fmtMs(run.ms)}`);
  }
  const loadPart1 = p1probe();
  const lastBreachWall = Math.max(...runs.map((r) => r.post_wall));
  const pb = summarize(runs.filter((r) => !r.timed_out).map((r) => r.ms));
  const pbPre = summarize(runs.filter((r) => !r.timed_out).map((r) => r.ms_pre));
  const pbAudit = summarize(runs.flatMap((r) => (r.audit_ms === null ? [] : [r.audit_ms])));
  const postMs = summarize(runs.map((r) => r.post_ms));
  progress(`promptback: p50 ${fmtMs(pb.p50)}, p99 ${fmtMs(pb.p99)}; naive loop still polling (every ${NAIVE_PERIOD_MS / 1000} s)`);

  // ------------------------------------------------------------------ 3: ingest throughput (the naive loop's last polls overlap)
  await must('PUT', '/api/prompts/bench-tput', { description: 'bench: throughput, no monitor' });
  await must('POST', '/api/prompts/bench-tput/versions', { version: 'v1', template: 't' });
  await must('PUT', '/api/prompts/bench-tput-mon', { description: 'bench: throughput, monitored' });
  await must('POST', '/api/prompts/bench-tput-mon/versions', { version: 'v1', template: 't' });
  await must('POST', '/api/prompts/bench-tput-mon/deploy', { version: 'v1' });
  const tput: TputRow[] = [];
  const p3probe = loadProbe(devPid);
  const cases: { name: string; prompt: string; errorsPer100: number; spread?: number }[] = [
    { name: 'healthy, no monitor', prompt: 'bench-tput', errorsPer100: 0 },
    { name: 'monitored, 1 % errors (fast path runs)', prompt: 'bench-tput-mon', errorsPer100: 1 },
    { name: 'healthy, spread over 1,000 prompts', prompt: 'bench-spread', errorsPer100: 0, spread: 1000 },
  ];
  for (const c of cases) {
    for (const batch of [1000, 10_000]) {
      const evs = Array.from({ length: batch }, (_, i) => ({
        prompt: c.spread ? `${c.prompt}-${String(i % c.spread).padStart(4, '0')}` : c.prompt,
        version: 'v1',
        ok: i % 100 >= c.errorsPer100,
        latency_ms: 80 + ((i * 37) % 400),
      }));
      const body = JSON.stringify({ events: evs });
      for (const clients of [1, 4]) {
        const r = await loadgen(body, clients, TPUT_MS);
        const lat = summarize(r.lat);
        const row: TputRow = {
          case: c.name,
          batch,
          clients,
          events_per_s: Math.round((r.ok * batch) / (r.elapsedMs / 1000)),
          requests: r.ok,
          failed: r.failed,
          req_p50_ms: r1(lat.p50),
          req_p99_ms: r1(lat.p99),
          body_kb: Math.round(Buffer.byteLength(body) / 1024),
        };
        if (r.firstError) progress(`throughput ${c.name} ×${clients}: first failure ${r.firstError}`);
        tput.push(row);
        progress(`ingest ${c.name}, batch ${batch}, ${clients} client(s): ${fmtInt(row.events_per_s)} events/s`);
      }
    }
  }
  const loadPart3 = p3probe();

  // Detection while 4 clients push 10k-event batches: API and worker share one process and one SQLite connection.
  const loadBody = JSON.stringify({ events: events('bench-tput', 'v1', 10_000, 0) });
  const bg = startLoad(loadBody, 4, 60_000);
  await sleep(500);
  const underLoad: DetectRun[] = [];
  const underLoadStart = performance.now();
  // At most ~30 s of this: under load one run can take seconds.
  for (let i = 0; i < LOAD_RUNS && (i === 0 || performance.now() - underLoadStart < 30_000); i++)
    underLoad.push(await detectRun(`bench-detect-load-${i}`, undefined));
  bg.stop();
  const bgResult = await bg.done;
  const bgRate = Math.round((bgResult.ok * 10_000) / (bgResult.elapsedMs / 1000));
  const ul = summarize(underLoad.filter((r) => !r.timed_out).map((r) => r.ms));
  progress(`detection under ingest load (${fmtInt(bgRate)} events/s alongside): p50 ${fmtMs(ul.p50)}, max ${fmtMs(ul.max)}`);
  // promptback's store alone (no HTTP, no JSON, no validation), 10k-event batches, for the like-for-like ratio.
  const direct: MetricEvent[] = events('bench-tput-direct', 'v1', 10_000, 0).map((e) => ({ ...e, at: new Date() }));
  let directN = 0;
  const dt0 = performance.now();
  while (performance.now() - dt0 < 1500) {
    const now = new Date();
    for (const e of direct) e.at = now;
    directN += await s.adapters.metrics.ingest(direct);
  }
  const directRate = Math.round(directN / ((performance.now() - dt0) / 1000));
  const naiveRates = {
    autocommit_default_pragmas: Math.round(await naiveInsertRate(path.join(s.dir, 'naive-a.db'), 'autocommit-default')),
    autocommit_wal_normal: Math.round(await naiveInsertRate(path.join(s.dir, 'naive-b.db'), 'autocommit-wal')),
    tx_per_1000: Math.round(await naiveInsertRate(path.join(s.dir, 'naive-c.db'), 'tx-per-1000')),
    tx_per_10000: Math.round(await naiveInsertRate(path.join(s.dir, 'naive-d.db'), 'tx-per-10000')),
  };
  progress(`naive inserts: ${JSON.stringify(naiveRates)}; promptback store direct: ${fmtInt(directRate)} events/s`);

  // ------------------------------------------------------------------ 2 (end): wait for the naive loop's last switch
  const naiveDeadline = lastBreachWall + NAIVE_PERIOD_MS + 5000;
  while (naive.latencies().pending > 0 && Date.now() < naiveDeadline) await sleep(200);
  naive.stop();
  const naiveLat = naive.latencies();
  const nv = summarize(naiveLat.measured);
  const naiveScan = summarize(naive.polls.map((p) => p.ms));
  const offsets = naive.offsets().map((o) => o / NAIVE_PERIOD_MS);
  const phases = await phaseBreakdown(runs);
  const hist = await historyBreakdown(phases.views.values());
  const P = NAIVE_PERIOD_MS;
  const analytic = { p50: 0.5 * P, p95: 0.95 * P, p99: 0.99 * P, max: P, mean: 0.5 * P };

  // Stop the monitors of parts 1 and 3, so that part 4 watches exactly its own fleet.
  const before = (await must('GET', '/api/monitors')).monitors as any[];
  for (const m of before) if (m.status === 'running') await must('DELETE', `/api/monitors/${m.prompt}`);

  // ------------------------------------------------------------------ 4: 1,000 monitored prompts
  progress(`registering ${FLEET} prompts (PUT, version, deploy → monitor), 16 at a time …`);
  const fleet = Array.from({ length: FLEET }, (_, i) => `bench-fleet-${String(i).padStart(4, '0')}`);
  const deployMs: number[] = [];
  const regStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < fleet.length) {
        const name = fleet[next++]!;
        await must('PUT', `/api/prompts/${name}`, { description: 'bench: fleet' });
        await must('POST', `/api/prompts/${name}/versions`, { version: 'v1', template: 'You are a helpful assistant.' });
        const t = performance.now();
        const d = await must('POST', `/api/prompts/${name}/deploy`, { version: 'v1' });
        deployMs.push(performance.now() - t);
        if ('error' in (d.monitor ?? {})) throw new Error(`monitor of ${name} not started: ${d.monitor.error}`);
      }
    }),
  );
  const regS = (performance.now() - regStart) / 1000;
  progress(`registered ${FLEET} in ${regS.toFixed(1)} s; feeding traffic and settling for ${FLEET_SETTLE_MS / 1000} s …`);
  const feedMs: { events: number; ms: number }[] = [];
  const feed = async (perPrompt: number) => {
    const all = fleet.flatMap((p) => events(p, 'v1', perPrompt, 0));
    for (let i = 0; i < all.length; i += 10_000) {
      const t = performance.now();
      await must('POST', '/api/metrics', { events: all.slice(i, i + 10_000) });
      feedMs.push({ events: Math.min(10_000, all.length - i), ms: performance.now() - t });
    }
  };
  await feed(30);
  let feeding = true;
  let feedErrors = 0;
  const feeder = (async () => {
    while (feeding) {
      await sleep(10_000);
      if (!feeding) break;
      await feed(1).catch(() => (feedErrors += 1));
    }
  })();
  const settleEnd = performance.now() + FLEET_SETTLE_MS;
  const fleetState = async () => {
    const t = performance.now();
    const ms = ((await must('GET', '/api/monitors')).monitors as any[]).filter((m) => String(m.prompt).startsWith('bench-fleet-'));
    const listMs = performance.now() - t;
    const now = Date.now();
    const verdicts: Record<string, number> = {};
    for (const m of ms) verdicts[m.last_verdict?.kind ?? 'none'] = (verdicts[m.last_verdict?.kind ?? 'none'] ?? 0) + 1;
    return {
      checks: ms.reduce((a, m) => a + Number(m.checks), 0),
      running: ms.filter((m) => m.status === 'running').length,
      neverChecked: ms.filter((m) => !m.last_check_at).length,
      maxStalenessS: Math.max(0, ...ms.filter((m) => m.last_check_at).map((m) => (now - Date.parse(m.last_check_at)) / 1000)),
      verdicts,
      listMs,
      at: performance.now(),
    };
  };
  await sleep(Math.max(0, settleEnd - performance.now()));

  const st0 = await fleetState();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const dev0 = treeCpuSeconds(s.dev.process.pid!);
  const p4probe = loadProbe(devPid);
  const getMs: number[] = [];
  const windowEnd = w0 + FLEET_WINDOW_MS;
  let k = 0;
  while (performance.now() < windowEnd) {
    const t = performance.now();
    await must('GET', `/api/prompts/${fleet[(k++ * 37) % fleet.length]!}`);
    getMs.push(performance.now() - t);
    await sleep(Math.max(0, Math.min(1000, windowEnd - performance.now())));
  }
  const cpu1 = process.cpuUsage(cpu0);
  const w1 = performance.now();
  const dev1 = treeCpuSeconds(s.dev.process.pid!);
  const loadPart4 = p4probe();
  loop.disable();
  const mem = process.memoryUsage();
  const devMem = treeMemMb(s.dev.process.pid!);
  const wStatus = s.worker.worker!.getStatus();
  const st1 = await fleetState();
  const lp0 = performance.now();
  const promptCount = ((await must('GET', '/api/prompts')).prompts as unknown[]).length;
  const listPromptsMs = performance.now() - lp0;
  feeding = false;
  await feeder;
  const winS = (w1 - w0) / 1000;
  const checkRate = (st1.checks - st0.checks) / ((st1.at - st0.at) / 1000);
  const fleetResult = {
    prompts: FLEET,
    registration_s: r1(regS),
    registration_per_s: r1(FLEET / regS),
    deploy_ms: roundSummary(summarize(deployMs)),
    settle_s: FLEET_SETTLE_MS / 1000,
    window_s: r1(winS),
    traffic: `30 healthy events per prompt at start, then 1 per prompt every 10 s (${FLEET / 10} events/s)`,
    app_cpu_pct_of_one_core: r1(((cpu1.user + cpu1.system) / 1e6 / winS) * 100),
    app_cpu_user_pct: r1((cpu1.user / 1e6 / winS) * 100),
    app_cpu_system_pct: r1((cpu1.system / 1e6 / winS) * 100),
    app_rss_mb: r1(mem.rss / 2 ** 20),
    app_heap_used_mb: r1(mem.heapUsed / 2 ** 20),
    app_heap_total_mb: r1(mem.heapTotal / 2 ** 20),
    app_external_mb: r1(mem.external / 2 ** 20),
    event_loop_delay_p99_ms: r1(loop.percentile(99) / 1e6),
    event_loop_delay_max_ms: r1(loop.max / 1e6),
    get_prompt_ms: roundSummary(summarize(getMs)),
    dev_server_cpu_pct_of_one_core: r1(((dev1 - dev0) / winS) * 100),
    dev_server_rss_mb: devMem.rss_mb,
    dev_server_peak_rss_mb: devMem.hwm_mb,
    checks_per_s: r1(checkRate),
    expected_checks_per_s: r1(FLEET / MONITOR_INTERVAL_S),
    checks_in_window: st1.checks - st0.checks,
    monitors_running: st1.running,
    monitors_never_checked: st1.neverChecked,
    max_check_staleness_s: r1(st1.maxStalenessS),
    verdicts: st1.verdicts,
    list_monitors_ms: r1(st1.listMs),
    list_prompts_ms: r1(listPromptsMs),
    list_prompts_rows: promptCount,
    worker_cached_workflows: wStatus.numCachedWorkflows,
    worker_in_flight_activities: wStatus.numInFlightActivities,
    feed_errors: feedErrors,
    feed_post_ms_10k_events_1000_prompts: feedMs.filter((f) => f.events === 10_000).map((f) => r1(f.ms)),
    feed_post_ms_1000_events_1000_prompts: roundSummary(summarize(feedMs.filter((f) => f.events === FLEET).map((f) => f.ms))),
  };
  progress(`fleet window done: app CPU ${fleetResult.app_cpu_pct_of_one_core} %, checks ${fleetResult.checks_per_s}/s`);

  // ------------------------------------------------------------------ report
  const pass = pb.p99 <= TARGET_P99_MS && runs.every((r) => !r.timed_out);
  table(
    `1. Breach → active version switched (promptback, fast path; ${runs.length} runs, fresh prompt each, MONITOR_INTERVAL_S=${MONITOR_INTERVAL_S}; t1 = first ${POLL_DESC} showing v1; Temporal dev server state: ${TEMPORAL_DB})`,
    ['measure', 'n', 'p50', 'p95', 'p99', 'max', 'mean'],
    [
      ['t0 = breach POST returned', pb.n, fmtMs(pb.p50), fmtMs(pb.p95), fmtMs(pb.p99), fmtMs(pb.max), fmtMs(pb.mean)],
      ['t0 = before breach POST sent', pbPre.n, fmtMs(pbPre.p50), fmtMs(pbPre.p95), fmtMs(pbPre.p99), fmtMs(pbPre.max), fmtMs(pbPre.mean)],
      [
        'switch committed (audit row at) − POST returned',
        pbAudit.n,
        fmtMs(pbAudit.p50),
        fmtMs(pbAudit.p95),
        fmtMs(pbAudit.p99),
        fmtMs(pbAudit.max),
        fmtMs(pbAudit.mean),
      ],
      [
        'breach POST itself (ingest + fast path + signal)',
        postMs.n,
        fmtMs(postMs.p50),
        fmtMs(postMs.p95),
        fmtMs(postMs.p99),
        fmtMs(postMs.max),
        fmtMs(postMs.mean),
      ],
    ],
  );
  const ph = {
    a: summarize(phases.to_incident_claimed),
    b: summarize(phases.claimed_to_switch_committed),
    c: summarize(phases.switch_committed_to_observed),
  };
  table(
    'Phases (wall clock, same process): where the time goes',
    ['phase', 'p50', 'p95', 'max'],
    [
      [
        'POST sent → incident claimed by monitorCheck (ingest, fast path, signal, monitor task, check activity)',
        fmtMs(ph.a.p50),
        fmtMs(ph.a.p95),
        fmtMs(ph.a.max),
      ],
      [
        'incident claimed → switch committed (child workflow; 3 saveRollback, assessNow, chooseTarget, switch)',
        fmtMs(ph.b.p50),
        fmtMs(ph.b.p95),
        fmtMs(ph.b.max),
      ],
      ['switch committed → seen by the 10-ms HTTP poll', fmtMs(ph.c.p50), fmtMs(ph.c.p95), fmtMs(ph.c.max)],
    ],
  );
  const hs = (xs: number[]) => summarize(xs);
  table(
    'Temporal histories of the incidents (monitor: check-now signal → child initiated; rollback: start → switch activity completed)',
    ['step', 'n', 'p50', 'p95', 'max', 'sum per incident (p50 × count)'],
    [
      ['monitor: signal received → child start initiated', ...histRow(hs(hist.monitor_signal_to_child))],
      ['child start initiated → rollback workflow started', ...histRow(hs(hist.child_start))],
      ['rollback started → switch activity completed', ...histRow(hs(hist.rollback_to_switch))],
      ['workflow task: scheduled → picked up', ...histRow(hs(hist.wft_wait), hist.wft_wait.length / runs.length)],
      ['workflow task: picked up → completed', ...histRow(hs(hist.wft_run), hist.wft_run.length / runs.length)],
      ['activity: scheduled → started', ...histRow(hs(hist.act_wait), hist.act_wait.length / runs.length)],
      ['activity: started → completed', ...histRow(hs(hist.act_run), hist.act_run.length / runs.length)],
    ],
  );
  process.stdout.write(`activities on the critical path (all incidents): ${JSON.stringify(hist.activities)}\n`);
  const median = [...runs].sort((a, b) => a.ms - b.ms)[Math.floor(runs.length / 2)]!;
  const mv = phases.views.get(median.prompt);
  const medianTimeline: { event: string; ms: number }[] = [
    { event: 'breach POST sent', ms: 0 },
    { event: 'breach POST returned', ms: median.post_wall - median.pre_wall },
    ...(mv ? [{ event: 'incident claimed (requested_at)', ms: Date.parse(mv.requested_at) - median.pre_wall }] : []),
    ...((mv?.timeline ?? []) as { at: string; event: string }[])
      .filter(
        (t) =>
          !['verification_check', 'recovered', 'notified', 'paged'].includes(t.event) ||
          Date.parse(t.at) - median.pre_wall < median.ms_pre + 50,
      )
      .map((t) => ({ event: `timeline: ${t.event}`, ms: Date.parse(t.at) - median.pre_wall })),
    ...(median.audit_ms !== null
      ? [{ event: 'switch committed (audit row at)', ms: median.post_wall + median.audit_ms - median.pre_wall }]
      : []),
    { event: 'v1 seen by GET /api/prompts', ms: median.ms_pre },
  ].sort((a, b) => a.ms - b.ms);
  table(
    `Median run (${median.prompt}) step by step, ms after the breach POST was sent (timeline times are workflow-task times)`,
    ['step', 'ms'],
    medianTimeline.map((t) => [t.event, t.ms.toFixed(0)]),
  );
  process.stdout.write(
    `incidents: ${JSON.stringify(phases.statuses)} (status at report time); monitor-opened critical error_rate triggers: ${phases.triggers_ok}/${runs.length}; timed out: ${runs.filter((r) => r.timed_out).length}; warm-up (excluded): ${warm.map((w) => fmtMs(w.ms)).join(', ')}\n`,
  );
  process.stdout.write(`target p99 ≤ ${TARGET_P99_MS} ms (t0 = POST returned): ${pass ? 'PASS' : 'MISS'} (p99 ${fmtMs(pb.p99)})\n`);

  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(0)}×` : '-');
  table(
    `2. promptback vs the naive ${P / 1000}-s poll (same run, same events: every event posted in part 1 was also a raw row in the naive table)`,
    ['', 'n', 'p50', 'p95', 'p99', 'max'],
    [
      ['promptback (fast path)', pb.n, fmtMs(pb.p50), fmtMs(pb.p95), fmtMs(pb.p99), fmtMs(pb.max)],
      ['naive loop, measured', nv.n, fmtMs(nv.p50), fmtMs(nv.p95), fmtMs(nv.p99), fmtMs(nv.max)],
      ['naive loop, analytic U(0, period)', '∞', fmtMs(analytic.p50), fmtMs(analytic.p95), fmtMs(analytic.p99), fmtMs(analytic.max)],
      ['ratio naive measured / promptback', '', ratio(nv.p50, pb.p50), ratio(nv.p95, pb.p95), ratio(nv.p99, pb.p99), ratio(nv.max, pb.max)],
      ['ratio naive analytic / promptback', '', ratio(analytic.p50, pb.p50), ratio(analytic.p95, pb.p95), ratio(analytic.p99, pb.p99), ''],
    ],
  );
  process.stdout.write(
    `naive: first poll at a random phase (${(phase / 1000).toFixed(1)} s), breaches spread over one period (offsets in [${Math.min(...offsets).toFixed(2)}, ${Math.max(...offsets).toFixed(2)}] of it); ` +
      `${naiveLat.pending} never switched; ${naive.polls.length} polls, scan of the raw events p50 ${fmtMs(naiveScan.p50)} max ${fmtMs(naiveScan.max)}\n`,
  );

  const best = (pred: (r: TputRow) => boolean) => Math.max(...tput.filter(pred).map((r) => r.events_per_s));
  table(
    '3. Ingest throughput, POST /api/metrics over loopback (load generator on its own thread; 1 warm-up request per client excluded)',
    ['case', 'batch', 'clients', 'events/s', 'requests', 'failed', 'req p50', 'req p99', 'body'],
    tput.map((r) => [
      r.case,
      fmtInt(r.batch),
      r.clients,
      fmtInt(r.events_per_s),
      r.requests,
      r.failed,
      fmtMs(r.req_p50_ms),
      fmtMs(r.req_p99_ms),
      `${r.body_kb} KiB`,
    ]),
  );
  const httpBest = best(() => true);
  const http10kSeq = tput.find((r) => r.case.startsWith('healthy') && r.batch === 10_000 && r.clients === 1)!.events_per_s;
  table(
    'Naive ingest: one raw row per event into SQLite (events table + (prompt, at) index), in-process, no HTTP',
    ['naive mode', 'events/s', 'promptback HTTP 10k seq ÷ naive', 'promptback store direct ÷ naive'],
    [
      ['INSERT per event, autocommit, default pragmas (rollback journal, synchronous=FULL)', naiveRates.autocommit_default_pragmas],
      ['INSERT per event, autocommit, WAL + synchronous=NORMAL (promptback’s pragmas)', naiveRates.autocommit_wal_normal],
      ['INSERT per event, one transaction per 1,000', naiveRates.tx_per_1000],
      ['INSERT per event, one transaction per 10,000', naiveRates.tx_per_10000],
    ].map(([name, rate]) => [
      name as string,
      fmtInt(rate as number),
      `${(http10kSeq / (rate as number)).toFixed(2)}×`,
      `${(directRate / (rate as number)).toFixed(2)}×`,
    ]),
  );
  process.stdout.write(
    `promptback store alone (SqlMetricsStore.ingest, 10k-event batches, aggregation into 1-s buckets, no HTTP): ${fmtInt(directRate)} events/s; best HTTP case ${fmtInt(httpBest)} events/s\n`,
  );

  table(
    `4. ${FLEET} monitored prompts (MONITOR_INTERVAL_S=${MONITOR_INTERVAL_S}), after ${FLEET_SETTLE_MS / 1000} s settling, ${r1(winS)}-s window`,
    ['what', 'value'],
    [
      [
        'registration (PUT + version + deploy→monitor), 16 concurrent',
        `${r1(regS)} s (${r1(FLEET / regS)} prompts/s), deploy p50 ${fmtMs(fleetResult.deploy_ms.p50)} p99 ${fmtMs(fleetResult.deploy_ms.p99)}`,
      ],
      [
        'worker+API process CPU (% of one core; machine has ' + cpuCount + ')',
        `${fleetResult.app_cpu_pct_of_one_core} % (user ${fleetResult.app_cpu_user_pct} %, sys ${fleetResult.app_cpu_system_pct} %)`,
      ],
      [
        'worker+API process RSS / heap used / heap total',
        `${fleetResult.app_rss_mb} MiB / ${fleetResult.app_heap_used_mb} MiB / ${fleetResult.app_heap_total_mb} MiB`,
      ],
      ['main event-loop delay p99 / max', `${fmtMs(fleetResult.event_loop_delay_p99_ms)} / ${fmtMs(fleetResult.event_loop_delay_max_ms)}`],
      ['GET /api/prompts/{p} under load p50 / max', `${fmtMs(fleetResult.get_prompt_ms.p50)} / ${fmtMs(fleetResult.get_prompt_ms.max)}`],
      ['Temporal dev server CPU (% of one core)', `${fleetResult.dev_server_cpu_pct_of_one_core} %`],
      ['Temporal dev server RSS (peak)', `${fleetResult.dev_server_rss_mb} MiB (${fleetResult.dev_server_peak_rss_mb} MiB)`],
      ['monitor checks / s (actual vs expected)', `${fleetResult.checks_per_s} vs ${fleetResult.expected_checks_per_s}`],
      ['monitors running / never checked / max time since last check', `${st1.running} / ${st1.neverChecked} / ${r1(st1.maxStalenessS)} s`],
      ['last verdicts', JSON.stringify(st1.verdicts)],
      ['GET /api/monitors (1,000+ rows)', fmtMs(st1.listMs)],
      [`GET /api/prompts (${promptCount} rows)`, fmtMs(listPromptsMs)],
      [
        'traffic POSTs across the fleet (10k events over 1,000 prompts; 1 event per prompt)',
        `${fleetResult.feed_post_ms_10k_events_1000_prompts.map((x) => fmtMs(x)).join(', ')}; p50 ${fmtMs(fleetResult.feed_post_ms_1000_events_1000_prompts.p50)} max ${fmtMs(fleetResult.feed_post_ms_1000_events_1000_prompts.max)}`,
      ],
      ['worker cached workflows / in-flight activities', `${wStatus.numCachedWorkflows} / ${wStatus.numInFlightActivities}`],
    ],
  );

  process.stdout.write(
    `\nstack warnings/errors logged: API+activities ${stackWarnings}, Temporal worker runtime ${workerWarnings} (plus ${notificationLines} notification lines from the outbox notifier)\n` +
      [...stackLog.slice(0, 5), ...workerLog.slice(0, 5)].map((l) => `  ${l}`).join('\n') +
      (stackLog.length + workerLog.length ? '\n' : ''),
  );

  table(
    'Machine load during each part (the machine is shared: other processes compete for its cores)',
    ['part', 'load'],
    [
      ['stack idle, before part 1', fmtLoad(loadIdle)],
      ['part 1+2 detection runs', fmtLoad(loadPart1)],
      ['part 3 HTTP ingest', fmtLoad(loadPart3)],
      ['part 4 fleet window', fmtLoad(loadPart4)],
    ],
  );
  progress('stopping everything …');
  const stopT = performance.now();
  await stopEverything();
  const stopS = (performance.now() - stopT) / 1000;
  let devAlive = true;
  try {
    process.kill(devPid, 0);
  } catch {
    devAlive = false;
  }
  let pgrep = '';
  try {
    pgrep = execFileSync('pgrep', ['-f', 'temporal server start-dev']).toString().trim();
  } catch {
    pgrep = '';
  }
  const others = pgrep.split('\n').filter(Boolean);
  process.stdout.write(
    `cleanup: stopped in ${stopS.toFixed(1)} s; our dev server (pid ${devPid}) ${devAlive ? 'STILL RUNNING' : 'gone'}; ` +
      `pgrep -f 'temporal server start-dev': ${others.length ? `${others.join(', ')} (${others.includes(String(devPid)) ? 'includes ours!' : 'not ours: other users of this machine'})` : 'none'}\n`,
  );
  const totalS = (performance.now() - benchStart) / 1000;
  process.stdout.write(`total bench time: ${totalS.toFixed(1)} s (start-up ${startupS.toFixed(1)} s)\n\n`);

  const result = {
    machine: { cpus: cpuCount, node: process.version },
    source: gitState(),
    config: {
      runs: RUNS,
      warmup_runs: WARMUP_RUNS,
      monitor_interval_s: MONITOR_INTERVAL_S,
      naive_period_s: P / 1000,
      poll: POLL_DESC,
      temporal_db: TEMPORAL_DB,
    },
    detect: {
      promptback_ms: roundSummary(pb),
      promptback_from_send_ms: roundSummary(pbPre),
      under_ingest_load_ms: roundSummary(ul),
      under_ingest_load_events_per_s: bgRate,
      under_ingest_load_timed_out: underLoad.filter((r) => r.timed_out).length,
      promptback_audit_commit_ms: roundSummary(pbAudit),
      breach_post_ms: roundSummary(postMs),
      temporal_history_ms: {
        monitor_signal_to_child: roundSummary(summarize(hist.monitor_signal_to_child)),
        child_start: roundSummary(summarize(hist.child_start)),
        rollback_to_switch: roundSummary(summarize(hist.rollback_to_switch)),
        wft_wait: roundSummary(summarize(hist.wft_wait)),
        wft_run: roundSummary(summarize(hist.wft_run)),
        activity_wait: roundSummary(summarize(hist.act_wait)),
        activity_run: roundSummary(summarize(hist.act_run)),
        activities_per_incident: Object.fromEntries(Object.entries(hist.activities).map(([k, n]) => [k, r1(n / runs.length)])),
      },
      phases_ms: {
        to_incident_claimed: roundSummary(ph.a),
        claimed_to_switch_committed: roundSummary(ph.b),
        switch_committed_to_observed: roundSummary(ph.c),
      },
      incident_statuses: phases.statuses,
      timed_out: runs.filter((r) => r.timed_out).length,
      warmup_ms: warm.map((w) => r1(w.ms)),
      target_p99_ms: TARGET_P99_MS,
      verdict: pass ? 'PASS' : 'MISS',
    },
    naive: {
      measured_ms: roundSummary(nv),
      never_switched: naiveLat.pending,
      analytic_ms: analytic,
      scan_ms: roundSummary(naiveScan),
      ratio_p50_measured: r1(nv.p50 / pb.p50),
      ratio_p99_measured: r1(nv.p99 / pb.p99),
      ratio_p50_analytic: r1(analytic.p50 / pb.p50),
      ratio_p99_analytic: r1(analytic.p99 / pb.p99),
    },
    ingest: {
      http: tput,
      promptback_store_direct_events_per_s: directRate,
      naive_events_per_s: naiveRates,
      ratio_http_10k_seq_vs_naive_autocommit_wal: r1(http10kSeq / naiveRates.autocommit_wal_normal),
      ratio_http_10k_seq_vs_naive_autocommit_default: r1(http10kSeq / naiveRates.autocommit_default_pragmas),
      ratio_http_10k_seq_vs_naive_tx_per_1000: Math.round((http10kSeq / naiveRates.tx_per_1000) * 100) / 100,
    },
    fleet: fleetResult,
    load: { idle: loadIdle, part1: loadPart1, part3: loadPart3, part4: loadPart4 },
    warnings: { stack: stackWarnings, worker: workerWarnings, notification_lines: notificationLines },
    cleanup: { dev_server_gone: !devAlive, stop_s: r1(stopS), pgrep_matches: others },
    startup_s: r1(startupS),
    total_s: r1(totalS),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

const watchdog = setTimeout(() => {
  process.stdout.write(`# watchdog: bench exceeded ${WATCHDOG_MS / 60_000} min; stopping\n`);
  void stopWithin(60_000).finally(() => process.exit(1));
}, WATCHDOG_MS);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stdout.write(`# ${sig}: stopping\n`);
    void stopWithin(60_000).finally(() => process.exit(130));
  });
}
// A failure outside the awaited chain (the load generator's thread, a stray rejection) would end this process at once
// and leave the worker process and Postgres running, loading the machine for the next run: stop them first.
for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
  process.once(ev, (e: unknown) => {
    process.stdout.write(`# bench failed (${ev}): ${(e as Error)?.stack ?? String(e)}\n`);
    void stopWithin(60_000).finally(() => process.exit(1));
  });
}

(process.env.BENCH_MODE === 'full' ? main : mainTargets)().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  async (e: unknown) => {
    process.stdout.write(`# bench failed: ${(e as Error).stack ?? String(e)}\n`);
    if (devOutput.length) process.stdout.write(`# last dev server output:\n${devOutput.slice(-10).join('\n')}\n`);
    if (stackLog.length) process.stdout.write(`# stack log:\n${stackLog.join('\n')}\n`);
    if (workerLog.length) process.stdout.write(`# worker log:\n${workerLog.join('\n')}\n`);
    await stopEverything();
    clearTimeout(watchdog);
    process.exit(1);
  },
);
