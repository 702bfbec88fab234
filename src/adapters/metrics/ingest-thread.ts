import { receiveMessageOnPort, Worker as Thread, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { WindowStats } from '../../domain/verdict';
import { BatchRefused, type EncodedIngest, type MetricEvent, type MetricsStore, type RefusalBody } from '../../ports/metrics';
import { openDb } from '../sql/db';
import { ROLLUP_S } from '../../domain/storage';
import { SqlMetricsStore } from './sql';
import { SqlitePreparedWrites } from './sqlite-writes';

/** A batch to write: decoded by the caller, or encoded (the body as it arrived) for this thread's decoder. */
type Request = { id: number; events: readonly MetricEvent[] } | { id: number; body: Uint8Array; at: number };
/** A batch decoded and checked, waiting for its write. */
interface Batch {
  id: number;
  events: readonly MetricEvent[];
  prompts_with_errors?: string[];
}
type Written = { n: number; prompts_with_errors?: string[] };
/** A failure keeps its code (a driver's: ECONNREFUSED, 57P01, SQLITE_BUSY), so that the caller can tell an outage. */
type Reply = ({ id: number } & Written) | { id: number; error: string; code?: string } | { id: number; refused: RefusalBody };

/** What decodes encoded batches in the thread: decoded events, or the answer refusing the batch. */
export type BatchDecoder = (
  body: Uint8Array,
  receivedAtMs: number,
) => Promise<{ events: MetricEvent[]; prompts_with_errors: string[] } | { refused: RefusalBody }>;

/**
 * The module a thread loads to decode encoded batches (the composition root names it: decoding HTTP bodies and
 * checking them against the registry is not this adapter's business). Its `createBatchDecoder(options)` is called
 * once in the thread.
 */
export interface DecoderModule {
  module: string;
  options: Record<string, unknown>;
}

/** A DecoderModule as the thread loaded it. */
interface LoadedDecoder {
  createBatchDecoder(options: Record<string, unknown>): Promise<{ decode: BatchDecoder; close(): Promise<void> }>;
  options: Record<string, unknown>;
}

/**
 * A thread's entry: the batch is written by the same SqlMetricsStore.ingest, over the thread's own connection.
 * better-sqlite3 is synchronous: a 10,000-event batch written on the API's event loop stalls every request (and an
 * in-process worker's activities) for its duration; here it stalls only this thread. On Postgres the thread has its
 * own pool, and aggregating and encoding the batch's upserts leaves the API's event loop too.
 */
export async function serveIngest(port: MessagePort, url: string, loaded?: LoadedDecoder): Promise<void> {
  const db = await openDb(url);
  // Nothing else runs on this thread's connection: SQLite's upserts go through statements prepared once.
  const store = new SqlMetricsStore(db.kysely, ROLLUP_S, db.sqlite && new SqlitePreparedWrites(db.sqlite));
  // A decoder that cannot start (its registry connection refused, say) leaves the writes to this thread all the same:
  // the caller is told, and decodes every batch itself.
  let decoderProblem: string | undefined;
  const decoder = loaded
    ? await loaded.createBatchDecoder(loaded.options).catch((e: unknown) => {
        decoderProblem = e instanceof Error ? e.message : String(e);
        return undefined;
      })
    : undefined;
  const queue: Batch[] = [];
  let writing = false;
  let closing = false;
  let decoding = 0;
  const reply = (r: Reply) => port.postMessage(r);
  const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
  const failed = (id: number, e: unknown): Reply => {
    const code = (e as { code?: unknown } | null)?.code;
    return { id, error: messageOf(e), ...(typeof code === 'string' ? { code } : {}) };
  };
  const written = (b: Batch, n: number): Reply => ({
    id: b.id,
    n,
    ...(b.prompts_with_errors ? { prompts_with_errors: b.prompts_with_errors } : {}),
  });
  const closeWhenIdle = () => {
    if (closing && !writing && decoding === 0 && queue.length === 0)
      void Promise.allSettled([db.close(), decoder?.close()]).then(() => port.close());
  };
  const take = (m: Request | 'close') => {
    if (m === 'close') closing = true;
    else if (!('body' in m)) queue.push(m);
    else if (!decoder) reply({ id: m.id, error: 'this ingest thread has no decoder for encoded batches' });
    else {
      // Decoded (and checked against the registry) while earlier batches are written; queued for the next group.
      decoding++;
      decoder
        .decode(m.body, m.at)
        .then(
          (r) => {
            if ('refused' in r) return reply({ id: m.id, refused: r.refused });
            queue.push({ id: m.id, events: r.events, prompts_with_errors: r.prompts_with_errors });
            if (!writing) void drain();
          },
          (e: unknown) => reply(failed(m.id, e)),
        )
        .finally(() => {
          decoding--;
          closeWhenIdle();
        });
    }
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
      const group: Batch[] = [];
      let size = 0;
      while (queue.length > 0 && (group.length === 0 || size + queue[0]!.events.length <= GROUP_MAX_EVENTS)) {
        const r = queue.shift()!;
        group.push(r);
        size += r.events.length;
      }
      try {
        await store.ingest(group.length === 1 ? group[0]!.events : group.flatMap((r) => r.events));
        for (const r of group) reply(written(r, r.events.length));
      } catch (e) {
        if (group.length === 1) reply(failed(group[0]!.id, e));
        else
          for (const r of group)
            await store.ingest(r.events).then(
              (n) => reply(written(r, n)),
              (e2: unknown) => reply(failed(r.id, e2)),
            );
      }
    }
    writing = false;
    closeWhenIdle();
  };
  port.on('message', (m: Request | 'close') => {
    take(m);
    if (!writing) void drain();
  });
  port.postMessage(decoderProblem === undefined ? 'ready' : ({ ready: 'without decoder', why: decoderProblem } satisfies Ready));
}

/** The thread is up, but its decoder is not: encoded batches are decoded by the caller. */
interface Ready {
  ready: 'without decoder';
  why: string;
}

/** The most events one group commit writes (the batches beyond wait for the next). */
export const GROUP_MAX_EVENTS = 20_000;

/** Runs this module in a thread: TypeScript sources (tsx, vitest) are compiled there by tsx's require hook. */
const BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.module.endsWith('.ts')) require(workerData.tsx).register();
const d = workerData.decoder;
const decoder = d && { createBatchDecoder: require(d.module).createBatchDecoder, options: d.options };
require(workerData.module).serveIngest(parentPort, workerData.url, decoder).catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

/**
 * The metrics store (SQLite file or Postgres) with ingest on a thread of its own. Reads stay on the caller's connection
 * (SQLite in WAL and Postgres: they never wait for the thread's writes). Started on the first batch, so a process that never ingests (the worker)
 * never starts it; the API starts it with `warm()`. If the thread cannot run, ingest falls back to the caller's connection and says so once.
 */
export class ThreadedMetricsStore implements MetricsStore {
  private thread: Thread | undefined;
  private ready: Promise<boolean> | undefined;
  private readonly pending = new Map<number, { resolve: (w: Written) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly inline: SqlMetricsStore,
    private readonly url: string,
    private readonly log?: Logger,
    /** Decodes encoded batches in the thread (ingestEncoded); without it, the caller decodes every batch. */
    private decoder?: DecoderModule,
  ) {}

  async ingest(events: readonly MetricEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    if (this.closed || !(await this.start())) return this.inline.ingest(events);
    return (await this.send({ id: this.nextId++, events })).n;
  }

  /**
   * The body handed over as it arrived: parsed, validated, checked against the registry and written on the thread,
   * so that a batch costs the caller's event loop (which serves switches and resolves) next to nothing. The body's
   * memory moves to the thread when the Uint8Array views all of it (it is unusable here afterwards); else it is copied.
   */
  async ingestEncoded(body: Uint8Array, receivedAt: Date): Promise<EncodedIngest | undefined> {
    if (!this.decoder || this.closed || !(await this.start())) return undefined;
    // The thread says at its start whether its decoder runs: without it, the caller decodes.
    if (!this.decoder) return undefined;
    // A body already handed over (detached: no bytes) is not transferred again: a message that transfers a detached
    // buffer is dropped without a word, and its batch would never be answered.
    const whole =
      body.byteLength > 0 && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const owned = whole ? body : body.byteLength === 0 ? new Uint8Array(0) : new Uint8Array(body);
    const w = await this.send({ id: this.nextId++, body: owned, at: receivedAt.getTime() }, [owned.buffer]);
    return { accepted: w.n, prompts_with_errors: w.prompts_with_errors ?? [] };
  }

  private send(r: Request, transfer: ArrayBuffer[] = []): Promise<Written> {
    return new Promise<Written>((resolve, reject) => {
      this.pending.set(r.id, { resolve, reject });
      // Held while batches are in flight, so that a script awaiting one is not ended under it.
      this.thread!.ref();
      this.thread!.postMessage(r, transfer);
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
        workerData: {
          module: __filename.replace(/\.[jt]s$/, ext),
          tsx: require.resolve('tsx/cjs/api'),
          url: this.url,
          decoder: this.decoder,
        },
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
      t.on('message', (m: Reply | 'ready' | Ready | { fatal: string }) => {
        if (m !== 'ready' && 'ready' in m) {
          this.log?.warn(
            { why: m.why },
            "metrics ingest thread: its decoder did not start; metric batches are decoded on the API's event loop",
          );
          this.decoder = undefined;
          m = 'ready';
        }
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
        if ('error' in m) p.reject(Object.assign(new Error(m.error), m.code === undefined ? {} : { code: m.code }));
        else if ('refused' in m) p.reject(new BatchRefused(m.refused));
        else p.resolve(m);
      });
      t.on('error', (e) => fail(e.message));
      t.on('exit', (code) => {
        if (!this.closed) return fail(`exited with code ${code}`);
        // Stopped by close() with batches still unanswered (it waited 5 s): they fail now rather than hang.
        for (const p of this.pending.values()) p.reject(new Error('metrics ingest thread stopped (closing) before writing this batch'));
        this.pending.clear();
      });
    });
    return this.ready;
  }
}
