import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors';
import type { TrafficShare } from '../domain/traffic';
import type { Registry } from '../ports/registry';
import type { RouteSource } from '../ports/routes';
import { Problem } from './problem';

/** What a `version` event carries: everything a client needs to answer `resolve` for any key by itself. */
export interface WatchState {
  prompt: string;
  /** The prompt's active version (null while nothing is deployed). */
  version: string | null;
  /** The split, in the order `resolve` hashes keys over. */
  traffic: TrafficShare[];
  /** The template of every version in `traffic`. */
  templates: Record<string, string>;
}

export interface WatchOptions {
  routes: RouteSource;
  registry: Pick<Registry, 'getPrompt'>;
  /** The store's change counter (cached-routes' probe): moves when another process or host committed. */
  dataVersion?: () => number | Promise<number>;
  log: Logger;
  /** How often the store is probed while anyone watches (one probe for all watchers); see PROBE_MS. */
  probeMs?: number;
  heartbeatMs?: number;
  /** A connection whose socket has not drained for this long is closed (the client reconnects with its Last-Event-ID). */
  slowConsumerMs?: number;
  /** Bytes a connection may hold unsent before it counts as slow. */
  maxBufferedBytes?: number;
  maxConnections?: number;
  now?: () => number;
  /** After each event's fan-out: how long since the change was signalled, and how long the writes took. */
  onPublish?: (e: Fanout) => void;
}

export interface Fanout {
  prompt: string;
  watchers: number;
  /** From the change signal (onRoutesChanged, or the probe that saw the store move) to the last write. */
  sinceSignalMs: number;
  /** The writes alone. */
  writeMs: number;
}

interface Published {
  id: string;
  /** Wall-clock ms of the id: ids grow per prompt, and a client's Last-Event-ID is never answered with a smaller one. */
  ms: number;
  fingerprint: string;
  /** Encoded once, written to every connection. */
  frame: Buffer;
}

interface Watcher {
  res: Response;
  /** The connection's socket, written directly (see serve). */
  socket: Socket;
  /** Its heartbeat slot (see beats). */
  slot: number;
  /** The newest event not yet written because the socket was full: snapshots replace each other, so one is enough. */
  pending?: Buffer;
  slowTimer?: NodeJS.Timeout;
}

interface Topic {
  watchers: Set<Watcher>;
  current?: Published;
}

/**
 * The store probe's period, which bounds how late a switch committed by another process is noticed. SQLite's
 * data_version is two fcntl calls on the same host, so every 10 ms costs nothing; Postgres' is a round trip from
 * every API replica, so 50 ms.
 */
export const PROBE_MS = { sqlite: 10, postgres: 50 } as const;

/** `<ms>-<fingerprint>`: monotonic per prompt by its first part, and naming the state it describes by its second. */
const EVENT_ID = /^(\d{1,16})-([0-9a-f]{16})$/;

const fingerprintOf = (s: WatchState): string =>
  createHash('sha256')
    .update(JSON.stringify([s.version, s.traffic, s.templates]))
    .digest('hex')
    .slice(0, 16);

/**
 * `GET /api/prompts/{prompt}/watch`: server-sent events, so that a switch reaches every connected client at once
 * instead of when its cache expires. Plain Node streams (no library): the protocol is a few lines, and what matters
 * here — one probe shared by all watchers, one serialized frame shared by all connections, backpressure — is ours.
 *
 * A change is noticed two ways: in this process, the registry's onRoutesChanged (wired to `changed()`); committed by
 * another process or host (the worker, a replica), the store's dataVersion, probed every `probeMs` while anyone
 * watches. Either way each watched prompt is read again and an event goes out only when what it serves differs.
 */
export class PromptWatch {
  private readonly topics = new Map<string, Topic>();
  private connections = 0;
  private seenVersion: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /**
   * Watchers by heartbeat slot: each tick (a HEARTBEAT_SLOTS-th of the period) beats one slot, so every watcher hears
   * from us once per period but 20,000 watchers never cost one 20,000-write burst of the event loop.
   */
  private readonly beats: Set<Watcher>[] = Array.from({ length: HEARTBEAT_SLOTS }, () => new Set());
  private nextSlot = 0;
  private tick = 0;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** performance.now() of the first change signal the next refresh answers. */
  private signalAt: number | undefined;
  /** Counts change signals, so that a connection whose first read overlapped one reads again. */
  private changes = 0;
  private probing = false;
  private readonly probeMs: number;
  private readonly heartbeatMs: number;
  private readonly slowConsumerMs: number;
  private readonly maxBufferedBytes: number;
  private readonly maxConnections: number;
  private readonly now: () => number;

  constructor(private readonly o: WatchOptions) {
    this.probeMs = o.probeMs ?? PROBE_MS.postgres;
    this.heartbeatMs = o.heartbeatMs ?? 15_000;
    this.slowConsumerMs = o.slowConsumerMs ?? 10_000;
    this.maxBufferedBytes = o.maxBufferedBytes ?? 1 << 20;
    this.maxConnections = o.maxConnections ?? 20_000;
    this.now = o.now ?? Date.now;
  }

  /** Something in this process committed a change to what resolve answers. */
  changed(): void {
    this.changes++;
    if (this.topics.size === 0) return;
    this.signalAt ??= performance.now();
    this.refresh();
  }

  /** The current state of one prompt, as the `version` event carries it. Throws UnknownPrompt. */
  async read(prompt: string): Promise<WatchState> {
    const [record, route] = await Promise.all([this.o.registry.getPrompt(prompt), this.o.routes.get(prompt)]);
    if (!record || !route) throw new DomainError('UnknownPrompt', `no prompt named ${prompt}`, { prompt });
    const templates: Record<string, string> = {};
    for (const s of route.split) templates[s.version] = route.answers[s.version]?.template ?? '';
    return {
      prompt,
      version: record.active_version,
      traffic: route.split.map((s) => ({ version: s.version, percent: s.percent })),
      templates,
    };
  }

  /** Serves one watch connection until the client goes away (or is too slow). */
  async serve(prompt: string, req: Request, res: Response): Promise<void> {
    if (this.connections >= this.maxConnections)
      throw new Problem(
        503,
        'Too many watchers',
        `this server already holds ${this.maxConnections} watch connections; poll /resolve or try another replica`,
      );
    const changesBefore = this.changes;
    const state = await this.read(prompt); // 404 before the stream starts
    if (req.socket.destroyed) return; // gone while we read: nothing to register
    const topic = this.topic(prompt);
    const published = this.publish(topic, state);
    const fromQuery = req.query.last_event_id; // EventSource cannot set headers on its first connect
    const last = EVENT_ID.exec(req.header('last-event-id') ?? (typeof fromQuery === 'string' ? fromQuery : ''));

    const socket = req.socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    // Without chunked framing the body is the raw event stream (it ends with the connection anyway), so events go
    // straight to the socket: res.write would cork it until the next tick, and a switch's 1,000 writes would all
    // leave only after the last one was queued instead of each as soon as it is written.
    res.removeHeader('Transfer-Encoding');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders(); // queued on the socket ahead of every event
    const w: Watcher = { res, socket, slot: this.nextSlot++ % HEARTBEAT_SLOTS };
    topic.watchers.add(w);
    this.beats[w.slot]!.add(w);
    this.connections++;
    this.startTimers();
    res.on('close', () => {
      clearTimeout(w.slowTimer);
      topic.watchers.delete(w);
      this.beats[w.slot]!.delete(w);
      this.connections--;
      if (topic.watchers.size === 0 && this.topics.get(prompt) === topic) this.topics.delete(prompt);
      if (this.topics.size === 0) this.stopTimers();
    });
    // Resuming from the state the client already holds: nothing to send until something changes.
    let head: Buffer;
    if (!last || last[2] !== published.fingerprint) {
      const lastMs = last ? Number(last[1]) : 0;
      head = lastMs >= published.ms ? frameOf({ ...published, ms: lastMs + 1 }, state) : published.frame;
    } else {
      head = Buffer.from(`: current ${published.id}\n\n`);
    }
    this.send(w, Buffer.concat([RETRY, head]));
    if (this.changes !== changesBefore) this.refresh();
  }

  /** Open watch connections (for /metrics and tests). */
  get size(): number {
    return this.connections;
  }

  close(): void {
    for (const t of this.topics.values()) for (const w of t.watchers) w.res.destroy();
    this.topics.clear();
    for (const b of this.beats) b.clear();
    this.stopTimers();
  }

  private topic(prompt: string): Topic {
    let t = this.topics.get(prompt);
    if (!t) this.topics.set(prompt, (t = { watchers: new Set() }));
    return t;
  }

  /** The topic's current event for `state`: the same one while nothing changed, a new id otherwise. */
  private publish(topic: Topic, state: WatchState): Published {
    const fingerprint = fingerprintOf(state);
    if (topic.current?.fingerprint === fingerprint) return topic.current;
    const ms = Math.max(this.now(), (topic.current?.ms ?? 0) + 1);
    return (topic.current = { ms, fingerprint, id: `${ms}-${fingerprint}`, frame: frameOf({ ms, fingerprint }, state) });
  }

  /** Re-reads every watched prompt; coalesces: a change during a refresh runs one more afterwards. */
  private refresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const signalAt = this.signalAt ?? performance.now();
        this.signalAt = undefined;
        await Promise.all([...this.topics.keys()].map((prompt) => this.refreshOne(prompt, signalAt)));
      } while (this.refreshAgain);
    })().finally(() => (this.refreshing = undefined));
  }

  private async refreshOne(prompt: string, signalAt: number): Promise<void> {
    let state: WatchState;
    try {
      state = await this.read(prompt);
    } catch (e) {
      this.o.log.warn({ err: e, prompt }, 'watch: could not read the prompt; watchers keep their last state');
      return;
    }
    const topic = this.topics.get(prompt);
    if (!topic) return;
    const before = topic.current;
    const p = this.publish(topic, state);
    if (p === before) return;
    const start = performance.now();
    for (const w of topic.watchers) this.send(w, p.frame);
    const end = performance.now();
    this.o.onPublish?.({ prompt, watchers: topic.watchers.size, sinceSignalMs: end - signalAt, writeMs: end - start });
  }

  /** Writes, or keeps only the newest frame while the socket is full; a socket full for too long is closed. */
  private send(w: Watcher, frame: Buffer): void {
    const s = w.socket;
    if (s.destroyed) return;
    if (s.writableNeedDrain || s.writableLength > this.maxBufferedBytes) {
      if (frame !== HEARTBEAT) w.pending = frame; // heartbeats are not worth queueing
      if (!w.slowTimer) {
        w.slowTimer = setTimeout(() => {
          this.o.log.info('watch: closing a connection that did not read for %d ms', this.slowConsumerMs);
          w.res.destroy();
        }, this.slowConsumerMs);
        s.once('drain', () => {
          clearTimeout(w.slowTimer);
          w.slowTimer = undefined;
          const next = w.pending;
          w.pending = undefined;
          if (next) this.send(w, next);
        });
      }
      return;
    }
    s.write(frame);
  }

  private startTimers(): void {
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => {
        for (const w of this.beats[this.tick++ % HEARTBEAT_SLOTS]!) this.send(w, HEARTBEAT);
      }, this.heartbeatMs / HEARTBEAT_SLOTS);
      this.heartbeatTimer.unref();
    }
    if (!this.probeTimer && this.o.dataVersion) {
      const probe = this.o.dataVersion;
      this.probeTimer = setInterval(() => {
        if (this.probing) return; // a slow Postgres probe is not stacked
        this.probing = true;
        Promise.resolve()
          .then(probe)
          .then(
            (v) => {
              if (v === this.seenVersion) return;
              // The first probe of a watch period also re-reads: a commit may have landed before it.
              this.seenVersion = v;
              this.changed();
            },
            (e: unknown) => this.o.log.warn({ err: e }, 'watch: store probe failed'),
          )
          .finally(() => (this.probing = false));
      }, this.probeMs);
      this.probeTimer.unref();
    }
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.probeTimer);
    this.heartbeatTimer = this.probeTimer = undefined;
    this.seenVersion = undefined;
  }
}

const RETRY = Buffer.from('retry: 1000\n\n');
const HEARTBEAT = Buffer.from(': heartbeat\n\n');
const HEARTBEAT_SLOTS = 16;

function frameOf(p: { ms: number; fingerprint: string }, state: WatchState): Buffer {
  return Buffer.from(`id: ${p.ms}-${p.fingerprint}\nevent: version\ndata: ${JSON.stringify(state)}\n\n`);
}
