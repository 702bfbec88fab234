import { MetricsReporter, type MetricEvent, type ReporterOptions, type ReporterStats } from './reporter';
import { SseParser, type SseEvent } from './sse';
import { pickVersion, type TrafficShare } from './traffic';
import type { components, paths } from './schema';
import { fetchStream, nodeStream, type OpenStream } from './transport';

/** The API's own types, generated from its OpenAPI document (`npm run openapi`): the SDK cannot drift from the API. */
type Schemas = components['schemas'];

export { pickVersion, hashKey, type TrafficShare } from './traffic';
export type { MetricEvent, ReporterOptions, ReporterStats } from './reporter';
export type { components, paths } from './schema';

export interface ClientOptions {
  /** The promptback API, e.g. http://localhost:8000 */
  url: string;
  /** A bearer token with the viewer role (and ingest, for report()). */
  token?: string;
  /** Prompts to watch from the start, so that the first get() does not wait. */
  prompts?: string[];
  /** Polling period of the fallback while the stream is down. Default 1,000 ms. */
  pollIntervalMs?: number;
  /** A stream silent this long is presumed dead (the server sends a heartbeat every 15 s). Default 20,000 ms. */
  idleTimeoutMs?: number;
  /** Past this staleness the client emits `stale` (and `fresh` when it recovers). Default 30,000 ms. */
  maxStalenessMs?: number;
  /** Timeout of each HTTP request other than the stream. Default 5,000 ms. */
  requestTimeoutMs?: number;
  /** Reconnect backoff of the stream: doubles from min to max, with jitter. Defaults 250 / 10,000 ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  metrics?: ReporterOptions;
  /** Another fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** What get() answers: the same thing `GET /api/prompts/{p}/resolve?key=K` would. */
export type Resolved = Readonly<Schemas['Resolved']>;

/** How current the client's copy of a prompt is. */
export interface Staleness {
  /** Milliseconds since the client last had proof that its copy was current (a stream byte, a (re)connect, a poll). */
  ms: number;
  /** `stream`: every change is pushed as it commits. `polling`: the stream is down, the API is polled. */
  mode: 'connecting' | 'stream' | 'polling';
  /** The most `ms` can reach while the API is reachable in this mode (idle timeout, or poll period + request timeout). */
  bound_ms: number;
  /** Active version and traffic as last seen. */
  version: string | null;
  traffic: TrafficShare[];
}

export interface ClientEvents {
  /** A prompt's served state changed (from the stream or a poll). */
  change: { prompt: string; version: string | null; traffic: TrafficShare[]; source: 'stream' | 'poll' };
  mode: { prompt: string; mode: Staleness['mode'] };
  /** Staleness passed maxStalenessMs; `fresh` follows when it is current again. */
  stale: { prompt: string; ms: number };
  fresh: { prompt: string };
  error: Error;
}

/** What a `version` event of the watch stream carries, without its prompt name. */
type State = Omit<Schemas['WatchState'], 'prompt'>;

export class PromptbackError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PromptbackError';
  }
}

/**
 * A path of the API's document, concrete (`/api/prompts/customer-support`) or as listed (`/api/metrics`), with an
 * optional query: a path the API does not have does not compile.
 */
type Concrete<P extends string> = P extends `${infer A}{${string}}${infer B}` ? `${A}${string}${Concrete<B>}` : P;
type ApiPath = `${Concrete<Extract<keyof paths, string>>}` | `${Concrete<Extract<keyof paths, string>>}?${string}`;

const unref = (t: ReturnType<typeof setTimeout>): void => (t as { unref?: () => void }).unref?.();

/**
 * The promptback SDK. `get()` answers from memory: each watched prompt's split and templates are kept current by the
 * watch stream (`GET /api/prompts/{p}/watch`), so a rollback reaches every client within milliseconds instead of
 * when a cache expires. While the stream is down the client polls the API every `pollIntervalMs` and keeps
 * reconnecting; `staleness(prompt)` says how current the copy is. `report()` batches outcomes to the metrics API.
 */
export class PromptbackClient {
  private readonly subs = new Map<string, Subscription>();
  private readonly listeners = new Map<keyof ClientEvents, Set<(e: never) => void>>();
  private readonly reporter: MetricsReporter;
  readonly options: Required<Omit<ClientOptions, 'token' | 'prompts' | 'metrics' | 'fetch'>> & Pick<ClientOptions, 'token'>;
  readonly fetch: typeof fetch;
  /** @internal */
  readonly openStream: OpenStream;
  private closed = false;

  constructor(o: ClientOptions) {
    this.options = {
      url: o.url.replace(/\/+$/, ''),
      token: o.token,
      pollIntervalMs: o.pollIntervalMs ?? 1000,
      idleTimeoutMs: o.idleTimeoutMs ?? 20_000,
      maxStalenessMs: o.maxStalenessMs ?? 30_000,
      requestTimeoutMs: o.requestTimeoutMs ?? 5000,
      reconnectMinMs: o.reconnectMinMs ?? 250,
      reconnectMaxMs: o.reconnectMaxMs ?? 10_000,
    };
    this.fetch = o.fetch ?? ((...args) => globalThis.fetch(...args));
    this.openStream = (o.fetch ? undefined : nodeStream()) ?? fetchStream(this.fetch);
    this.reporter = new MetricsReporter(
      (events) => this.request('POST', '/api/metrics', { events } satisfies Schemas['IngestBody']),
      o.metrics,
      (e) => this.emit('error', e),
    );
    for (const p of o.prompts ?? []) this.subscribe(p);
  }

  /** The version and template serving request `key` of `prompt`, from memory (waits for the first state once). */
  async get(prompt: string, opts: { key?: string } = {}): Promise<Resolved> {
    const sub = this.subscribe(prompt);
    if (!sub.state) await this.firstState(sub);
    return sub.answer(opts.key);
  }

  /** Starts watching `prompt` (get() does this on first use); resolves once its state is known. */
  async watch(prompt: string): Promise<void> {
    await this.firstState(this.subscribe(prompt));
  }

  /** The first state, from the stream or the poll, within two request timeouts. */
  private async firstState(sub: Subscription): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ms = this.options.requestTimeoutMs * 2;
    try {
      await Promise.race([
        sub.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new PromptbackError(`no state for prompt ${sub.prompt} within ${ms} ms: is ${this.options.url} reachable?`)),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  staleness(prompt: string): Staleness | undefined {
    return this.subs.get(prompt)?.staleness();
  }

  report(e: MetricEvent): void {
    if (!this.closed) this.reporter.report(e);
  }

  metricsStats(): ReporterStats {
    return this.reporter.getStats();
  }

  flush(timeoutMs?: number): Promise<ReporterStats> {
    return this.reporter.flush(timeoutMs);
  }

  /** Stops every stream and poll, and flushes metrics (up to `timeoutMs`). */
  async close(timeoutMs?: number): Promise<ReporterStats> {
    this.closed = true;
    for (const s of this.subs.values()) s.stop();
    this.subs.clear();
    return this.reporter.close(timeoutMs);
  }

  on<K extends keyof ClientEvents>(event: K, fn: (e: ClientEvents[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** @internal */
  emit<K extends keyof ClientEvents>(event: K, e: ClientEvents[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as (e: ClientEvents[K]) => void)(e);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  /** @internal One JSON request with a timeout. */
  async request(method: 'GET' | 'POST', path: ApiPath, body?: unknown): Promise<{ status: number; body: unknown }> {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), this.options.requestTimeoutMs);
    try {
      const res = await this.fetch(`${this.options.url}${path}`, {
        method,
        headers: { ...this.auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: ctl.signal,
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    } finally {
      clearTimeout(t);
    }
  }

  /** @internal */
  auth(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
  }

  private subscribe(prompt: string): Subscription {
    if (this.closed) throw new PromptbackError('the client is closed');
    let s = this.subs.get(prompt);
    if (!s) {
      this.subs.set(prompt, (s = new Subscription(this, prompt)));
      s.start();
    }
    return s;
  }
}

/** One watched prompt: its state, its stream, its fallback poll. */
class Subscription {
  state: State | undefined;
  ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private lastEventId: string | undefined;
  private confirmedAt = 0;
  private mode: Staleness['mode'] = 'connecting';
  private stopped = false;
  private abortStream: (() => void) | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private staleTimer: ReturnType<typeof setInterval>;
  private isStale = false;
  /** Frozen answers per version of the current state: get() allocates nothing. */
  private answers = new Map<string, Resolved>();
  /** Templates never change for a version, so the poll fetches each one once. */
  private templates = new Map<string, string>();

  constructor(
    private readonly c: PromptbackClient,
    readonly prompt: string,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // read by get(); not every subscription has a reader
    this.staleTimer = setInterval(() => this.checkStale(), 1000);
    unref(this.staleTimer);
  }

  start(): void {
    void this.runStream();
    // The first state must not wait for a stream that cannot connect: give it one request timeout, then poll.
    const t = setTimeout(() => {
      if (!this.state && !this.stopped) this.startPolling();
    }, this.c.options.requestTimeoutMs);
    unref(t);
  }

  stop(): void {
    this.stopped = true;
    this.abortStream?.();
    clearTimeout(this.pollTimer);
    clearInterval(this.staleTimer);
    this.rejectReady(new PromptbackError('the client is closed'));
  }

  answer(key: string | undefined): Resolved {
    const s = this.state!;
    const version = key === undefined && s.version !== null && this.answers.has(s.version) ? s.version : pickVersion(s.traffic, key ?? '');
    const a = version === undefined ? undefined : this.answers.get(version);
    if (!a) throw new PromptbackError(`prompt ${this.prompt} has no active version; deploy one first`, 404);
    return a;
  }

  staleness(): Staleness {
    const o = this.c.options;
    return {
      ms: this.confirmedAt === 0 ? Infinity : Date.now() - this.confirmedAt,
      mode: this.mode,
      bound_ms: this.mode === 'stream' ? o.idleTimeoutMs : o.pollIntervalMs + o.requestTimeoutMs,
      version: this.state?.version ?? null,
      traffic: this.state?.traffic ?? [],
    };
  }

  private confirm(): void {
    this.confirmedAt = Date.now();
    if (this.isStale) {
      this.isStale = false;
      this.c.emit('fresh', { prompt: this.prompt });
    }
  }

  private checkStale(): void {
    const ms = this.staleness().ms;
    if (!this.isStale && this.state && ms > this.c.options.maxStalenessMs) {
      this.isStale = true;
      this.c.emit('stale', { prompt: this.prompt, ms });
    }
  }

  private setMode(mode: Staleness['mode']): void {
    if (this.mode === mode) return;
    this.mode = mode;
    this.c.emit('mode', { prompt: this.prompt, mode });
  }

  private apply(s: State, source: 'stream' | 'poll'): void {
    const answers = new Map<string, Resolved>();
    for (const version in s.templates) {
      const template = s.templates[version]!;
      // A version's template does not change: the answer already made for it is kept.
      let a = this.answers.get(version);
      if (a?.template !== template) {
        this.templates.set(version, template);
        a = Object.freeze({ version, template });
      }
      answers.set(version, a);
    }
    const changed = !this.state || this.state.version !== s.version || !sameTraffic(this.state.traffic, s.traffic);
    this.answers = answers;
    this.state = s;
    this.confirm();
    this.resolveReady();
    if (changed) this.c.emit('change', { prompt: this.prompt, version: s.version, traffic: s.traffic, source });
  }

  private async runStream(): Promise<void> {
    const o = this.c.options;
    let backoff = o.reconnectMinMs;
    while (!this.stopped) {
      const err = await this.streamOnce(() => (backoff = o.reconnectMinMs));
      if (this.stopped) break;
      if (err instanceof PromptbackError && err.status === 404 && !this.state) this.rejectReady(err);
      this.c.emit('error', err);
      this.startPolling();
      await new Promise<void>((r) => unref(setTimeout(r, backoff / 2 + (Math.random() * backoff) / 2)));
      backoff = Math.min(backoff * 2, o.reconnectMaxMs);
    }
  }

  /** One connection of the watch stream, until it fails or goes silent; resolves with why it ended. */
  private streamOnce(connected: () => void): Promise<Error> {
    const o = this.c.options;
    return new Promise<Error>((resolve) => {
      let status = 0;
      let errorText = '';
      let lastByteAt = Date.now();
      const parser = new SseParser((e) => this.onEvent(e));
      // One check per subscription every quarter of the idle timeout, not a timer reset per chunk.
      const idle = setInterval(() => {
        if (Date.now() - lastByteAt > o.idleTimeoutMs) handle.abort();
      }, o.idleTimeoutMs / 4);
      unref(idle);
      const headers = { accept: 'text/event-stream', ...this.c.auth(), ...(this.lastEventId ? { 'last-event-id': this.lastEventId } : {}) };
      const handle = this.c.openStream(`${o.url}/api/prompts/${encodeURIComponent(this.prompt)}/watch`, headers, {
        onOpen: (s) => {
          status = s;
          lastByteAt = Date.now();
          if (s !== 200) return;
          // A 200 means the server holds our state (it sends the current one when it differs from our Last-Event-ID).
          if (this.state) this.confirm();
          this.setMode('stream');
          clearTimeout(this.pollTimer);
          connected();
        },
        onData: (text) => {
          lastByteAt = Date.now();
          if (status !== 200) {
            errorText += text;
            return;
          }
          if (this.state) this.confirm();
          parser.push(text);
        },
        onClose: (e) => {
          clearInterval(idle);
          if (status !== 0 && status !== 200)
            resolve(new PromptbackError(`watch ${this.prompt} answered ${status}: ${errorText.slice(0, 200)}`, status));
          else resolve(e ?? new PromptbackError(`watch ${this.prompt}: the server closed the stream`));
        },
      });
      this.abortStream = () => handle.abort();
    });
  }

  private onEvent(e: SseEvent): void {
    if (e.event !== 'version') return;
    try {
      const d = JSON.parse(e.data) as Partial<Schemas['WatchState']>;
      if (e.id) this.lastEventId = e.id;
      this.apply({ version: d.version ?? null, traffic: d.traffic ?? [], templates: d.templates ?? {} }, 'stream');
    } catch (err) {
      this.c.emit('error', new PromptbackError(`watch ${this.prompt}: unreadable event (${String(err)})`));
    }
  }

  /** The fallback while the stream is down: poll the API until the stream is back. */
  private startPolling(): void {
    if (this.stopped || this.mode === 'polling') return;
    this.setMode('polling');
    const tick = async (): Promise<void> => {
      if (this.stopped || this.mode !== 'polling') return;
      try {
        await this.pollOnce();
      } catch (e) {
        this.c.emit('error', e instanceof Error ? e : new Error(String(e)));
      }
      if (this.stopped || this.mode !== 'polling') return;
      this.pollTimer = setTimeout(() => void tick(), this.c.options.pollIntervalMs);
      unref(this.pollTimer);
    };
    void tick();
  }

  /**
   * The split from `GET /api/prompts/{p}`; a template not yet known from `GET …/resolve` with a key that the split
   * sends to that version (found with the same hashing as the server). Answers only when both agree.
   */
  private async pollOnce(): Promise<void> {
    const p = `/api/prompts/${encodeURIComponent(this.prompt)}` as const;
    const r = await this.c.request('GET', p);
    if (r.status !== 200) {
      const err = new PromptbackError(`GET ${p} answered ${r.status}`, r.status);
      if (r.status === 404 && !this.state) this.rejectReady(err);
      throw err;
    }
    const body = r.body as Schemas['PromptDetail'];
    const traffic = body.traffic.filter((s) => s.percent > 0).map((s) => ({ version: s.version, percent: s.percent }));
    const templates: Record<string, string> = {};
    for (const s of traffic) {
      let template = this.templates.get(s.version);
      if (template === undefined) {
        const key = keyFor(traffic, s.version);
        const a = await this.c.request('GET', `${p}/resolve?key=${encodeURIComponent(key)}`);
        const answer = a.body as Schemas['Resolved'];
        if (a.status !== 200 || answer.version !== s.version) return; // the split moved underneath: next poll
        template = answer.template;
      }
      templates[s.version] = template;
    }
    if (this.mode !== 'polling') return; // the stream came back meanwhile and is newer
    this.apply({ version: body.active_version, traffic, templates }, 'poll');
  }
}

const sameTraffic = (a: TrafficShare[], b: TrafficShare[]): boolean =>
  a.length === b.length && a.every((s, i) => s.version === b[i]!.version && s.percent === b[i]!.percent);

/** A request key that `split` sends to `version`. */
function keyFor(split: TrafficShare[], version: string): string {
  for (let i = 0; i < 100_000; i++) if (pickVersion(split, `promptback-sdk-${i}`) === version) return `promptback-sdk-${i}`;
  return 'promptback-sdk-0';
}
