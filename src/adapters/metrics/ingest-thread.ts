import { receiveMessageOnPort, Worker as Thread, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { WindowStats } from '../../domain/verdict';
import type { MetricEvent, MetricsStore } from '../../ports/metrics';
import { openDb } from '../sql/db';
import { ROLLUP_S } from '../../domain/storage';
import { SqlMetricsStore } from './sql';
import { SqlitePreparedWrites } from './sqlite-writes';

interface Request {
  id: number;
  events: readonly MetricEvent[];
}
type Reply = { id: number; n: number } | { id: number; error: string };

/**
 * A thread's entry: the batch is written by the same SqlMetricsStore.ingest, over the thread's own connection.
 * better-sqlite3 is synchronous: a 10,000-event batch written on the API's event loop stalls every request (and an
 * in-process worker's activities) for its duration; here it stalls only this thread. On Postgres the thread has its
 * own pool, and aggregating and encoding the batch's upserts leaves the API's event loop too.
 */
export async function serveIngest(port: MessagePort, url: string): Promise<void> {
  const db = await openDb(url);
  // Nothing else runs on this thread's connection: SQLite's upserts go through statements prepared once.
  const store = new SqlMetricsStore(db.kysely, ROLLUP_S, db.sqlite && new SqlitePreparedWrites(db.sqlite));
  const queue: Request[] = [];
  let writing = false;
  let closing = false;
  const reply = (r: Reply) => port.postMessage(r);
  const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
  const take = (m: Request | 'close') => {
    if (m === 'close') closing = true;
    else queue.push(m);
  };
  /**
   * Group commit: the batches that arrived while the last write ran are written together, in one transaction whose
   * upserts merge their counts (1,000 prompts × 10 batches make 1,000 rows, not 10,000), and each is acknowledged
   * only once that transaction committed. Under load the groups grow and the writes per event fall; alone, a batch
   * is written at once. If a group's write fails, each of its batches is written alone, so that one cannot fail
   * another.
   */
  const drain = async () => {
    writing = true;
    for (;;) {
      // A SQLite write blocks this thread: what arrived meanwhile waits on the port, not yet dispatched.
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) take(m.message as Request | 'close');
      if (queue.length === 0) break;
      const group: Request[] = [];
      let size = 0;
      while (queue.length > 0 && (group.length === 0 || size + queue[0]!.events.length <= GROUP_MAX_EVENTS)) {
        const r = queue.shift()!;
        group.push(r);
        size += r.events.length;
      }
      try {
        await store.ingest(group.length === 1 ? group[0]!.events : group.flatMap((r) => r.events));
        for (const r of group) reply({ id: r.id, n: r.events.length });
      } catch (e) {
        if (group.length === 1) reply({ id: group[0]!.id, error: messageOf(e) });
        else
          for (const r of group)
            await store.ingest(r.events).then(
              (n) => reply({ id: r.id, n }),
              (e2: unknown) => reply({ id: r.id, error: messageOf(e2) }),
            );
      }
    }
    writing = false;
    if (closing) void db.close().finally(() => port.close());
  };
  port.on('message', (m: Request | 'close') => {
    take(m);
    if (!writing) void drain();
  });
  port.postMessage('ready');
}

/** The most events one group commit writes (the batches beyond wait for the next). */
export const GROUP_MAX_EVENTS = 20_000;

/** Runs this module in a thread: TypeScript sources (tsx, vitest) are compiled there by tsx's require hook. */
const BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.module.endsWith('.ts')) require(workerData.tsx).register();
require(workerData.module).serveIngest(parentPort, workerData.url).catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

/**
 * The metrics store (SQLite file or Postgres) with ingest on a thread of its own. Reads stay on the caller's connection
 * (SQLite in WAL and Postgres: they never wait for the thread's writes). Started on the first batch, so a process that never ingests (the worker)
 * never starts it; the API starts it with `warm()`. If the thread cannot run, ingest falls back to the caller's connection and says so once.
 */
export class ThreadedMetricsStore implements MetricsStore {
  private thread: Thread | undefined;
  private ready: Promise<boolean> | undefined;
  private readonly pending = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly inline: SqlMetricsStore,
    private readonly url: string,
    private readonly log?: Logger,
  ) {}

  async ingest(events: readonly MetricEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    if (this.closed || !(await this.start())) return this.inline.ingest(events);
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held while batches are in flight, so that a script awaiting one is not ended under it.
      this.thread!.ref();
      this.thread!.postMessage({ id, events } satisfies Request);
    });
  }

  lastSeen(prompt: string, version: string): Promise<Date | undefined> {
    return this.inline.lastSeen(prompt, version);
  }

  lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined> {
    return this.inline.lastWindow(prompt, version, window_s);
  }

  window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats> {
    return this.inline.window(prompt, version, from, to);
  }

  /**
   * Starts the thread now rather than on the first batch: the API calls it at start, so its first batch does not pay
   * the thread's start (loading the store's modules, opening the database: hundreds of ms on a busy box).
   */
  warm(): Promise<boolean> {
    return this.closed ? Promise.resolve(false) : this.start();
  }

  /** Lets the batches in flight finish (up to 5 s), then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ready) await this.ready;
    const t = this.thread;
    if (!t) return;
    this.thread = undefined; // closing twice is a no-op
    const until = Date.now() + 5000;
    while (this.pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    t.ref();
    await new Promise<void>((resolve) => {
      t.once('exit', () => resolve());
      t.postMessage('close');
      setTimeout(() => void t.terminate(), 5000).unref();
    });
  }

  private start(): Promise<boolean> {
    this.ready ??= new Promise<boolean>((resolve) => {
      const ext = __filename.endsWith('.ts') ? '.ts' : '.js';
      const t = new Thread(BOOT, {
        eval: true,
        workerData: { module: __filename.replace(/\.[jt]s$/, ext), tsx: require.resolve('tsx/cjs/api'), url: this.url },
      });
      t.unref();
      const fail = (why: string) => {
        for (const p of this.pending.values()) p.reject(new Error(`metrics ingest thread stopped: ${why}`));
        this.pending.clear();
        if (this.thread === t) this.thread = undefined;
        this.log?.warn({ why }, 'metrics ingest thread unavailable; writing metrics on the main thread');
        this.ready = Promise.resolve(false);
        resolve(false);
      };
      t.on('message', (m: Reply | 'ready' | { fatal: string }) => {
        if (m === 'ready') {
          this.thread = t;
          resolve(true);
          return;
        }
        if ('fatal' in m) return fail(m.fatal);
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (this.pending.size === 0) t.unref();
        if ('error' in m) p.reject(new Error(m.error));
        else p.resolve(m.n);
      });
      t.on('error', (e) => fail(e.message));
      t.on('exit', (code) => {
        if (!this.closed) fail(`exited with code ${code}`);
      });
    });
    return this.ready;
  }
}
