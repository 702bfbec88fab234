import type { components } from './schema';

/**
 * One outcome of serving a prompt version, exactly as `POST /api/metrics` takes it (the API's generated type):
 * `quality` is 0..1, `at` ISO-8601 (defaults to the moment report() was called).
 */
export type MetricEvent = components['schemas']['MetricEvent'];

export interface ReporterOptions {
  /** Events per POST (the API takes at most 10,000). Default 500. */
  batchSize?: number;
  /** How long an event may wait for a batch to fill. Default 1,000 ms. */
  flushIntervalMs?: number;
  /** Events held in memory; beyond it the oldest are dropped and counted. Default 10,000. */
  maxQueue?: number;
  /** Backoff after a failed POST: doubles from min to max, with jitter. Defaults 250 ms / 30,000 ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface ReporterStats {
  /** Waiting to be sent, including a batch in flight. */
  queued: number;
  sent: number;
  /** Dropped because the queue was full (oldest first). */
  dropped: number;
  /** Refused by the API (bad event, unknown prompt/version, no permission): never retried. */
  rejected: number;
  /** POSTs retried after a network error, a 5xx or a 429. */
  retries: number;
}

type Post = (events: components['schemas']['IngestBody']['events']) => Promise<{ status: number; body: unknown }>;

const sleep = (ms: number, signal?: { aborted: boolean }): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    (t as { unref?: () => void }).unref?.();
  });

/**
 * Batches metric events to `POST /api/metrics` with bounded memory: at most `maxQueue` events wait, the oldest are
 * dropped (and counted) beyond that, so an API outage never grows the caller's heap. One POST in flight at a time,
 * retried with exponential backoff on network errors, 5xx and 429; a 400 naming bad events drops those and sends the
 * rest; any other 4xx drops the batch as rejected.
 */
export class MetricsReporter {
  private queue: MetricEvent[] = [];
  private head = 0;
  private inFlight = 0;
  private stats = { sent: 0, dropped: 0, rejected: 0, retries: 0 };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private closed = { aborted: false };
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly post: Post,
    o: ReporterOptions = {},
    private readonly onError: (e: Error) => void = () => {},
  ) {
    this.batchSize = Math.min(o.batchSize ?? 500, 10_000);
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.maxQueue = o.maxQueue ?? 10_000;
    this.minBackoffMs = o.minBackoffMs ?? 250;
    this.maxBackoffMs = o.maxBackoffMs ?? 30_000;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  report(e: MetricEvent): void {
    this.queue.push(e.at ? e : { ...e, at: new Date().toISOString() });
    if (this.pending > this.maxQueue) {
      this.head++;
      this.stats.dropped++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.pending >= this.batchSize) this.kick();
    else if (!this.timer && !this.running) {
      this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  getStats(): ReporterStats {
    return { queued: this.pending + this.inFlight, ...this.stats };
  }

  /** Sends everything queued now; resolves when the queue is empty or `timeoutMs` passed (retries go on after). */
  async flush(timeoutMs = 10_000): Promise<ReporterStats> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending + this.inFlight > 0 && Date.now() < deadline && !this.closed.aborted) {
      this.kick();
      await Promise.race([this.running, sleep(Math.max(0, Math.min(50, deadline - Date.now())))]);
    }
    return this.getStats();
  }

  /** Flushes (up to `timeoutMs`), then stops; what could not be sent is counted as dropped. */
  async close(timeoutMs = 10_000): Promise<ReporterStats> {
    await this.flush(timeoutMs);
    this.closed.aborted = true;
    clearTimeout(this.timer);
    this.stats.dropped += this.pending;
    this.queue = [];
    this.head = 0;
    return this.getStats();
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.closed.aborted) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.pending > 0 && !this.closed.aborted) this.rearm();
    });
  }

  /** Re-arms the timer for what arrived while a batch was in flight. */
  private rearm(): void {
    if (this.pending >= this.batchSize) return this.kick();
    this.timer = setTimeout(() => this.kick(), this.flushIntervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async drain(): Promise<void> {
    let backoff = this.minBackoffMs;
    while (this.pending > 0 && !this.closed.aborted) {
      let batch = this.queue.slice(this.head, this.head + this.batchSize);
      this.head += batch.length;
      this.inFlight = batch.length;
      while (batch.length > 0) {
        let status = 0;
        let body: unknown;
        try {
          ({ status, body } = await this.post(batch));
        } catch (e) {
          this.onError(e instanceof Error ? e : new Error(String(e)));
        }
        if (status >= 200 && status < 300) {
          this.stats.sent += batch.length;
          backoff = this.minBackoffMs;
          break;
        }
        const bad = status === 400 ? badIndexes(body) : undefined;
        if (bad && bad.size > 0 && bad.size < batch.length) {
          this.stats.rejected += bad.size;
          batch = batch.filter((_, i) => !bad.has(i));
          this.inFlight = batch.length;
          continue;
        }
        if (status >= 400 && status < 500 && status !== 429 && status !== 408) {
          this.stats.rejected += batch.length;
          this.onError(new Error(`POST /api/metrics answered ${status}: ${batch.length} events dropped (${detailOf(body)})`));
          break;
        }
        if (this.closed.aborted) {
          this.stats.dropped += batch.length;
          break;
        }
        this.stats.retries++;
        await sleep(backoff / 2 + Math.random() * (backoff / 2), this.closed);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
      this.inFlight = 0;
    }
  }
}

/** The indexes a 400 names as `events[i]…` in its problem+json errors. */
function badIndexes(body: unknown): Set<number> | undefined {
  const errors = (body as { errors?: { field?: unknown }[] } | undefined)?.errors;
  if (!Array.isArray(errors)) return undefined;
  const out = new Set<number>();
  for (const e of errors) {
    const m = /^events\[(\d+)\]/.exec(typeof e.field === 'string' ? e.field : '');
    if (m) out.add(Number(m[1]));
  }
  return out;
}

const detailOf = (body: unknown): string => {
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  return typeof detail === 'string' ? detail : 'no detail';
};
