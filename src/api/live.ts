import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { Problem } from './problem';
import type { liveChangeEvent } from './schemas';

/** What the dashboard shows, by part: each item's key (prompt name, rollback id) → a string that changes with it. */
export interface LiveDigest {
  prompts: Record<string, string>;
  rollbacks: Record<string, string>;
  monitors: Record<string, string>;
}

export type LiveTopic = keyof LiveDigest;
const TOPICS: readonly LiveTopic[] = ['prompts', 'rollbacks', 'monitors'];

/** A `change` event: the keys that changed (appeared, moved or disappeared), by part. */
export type LiveChange = z.infer<typeof liveChangeEvent>;

export interface LiveOptions {
  /** Reads the digest; compared with the previous one to name what changed. */
  read: () => Promise<LiveDigest>;
  log: Logger;
  /**
   * How often the digest is read while anyone listens (one read for all listeners). Polling, not only the store's
   * change counter: rollbacks and monitors are written by the worker, which may share this process's connection,
   * and SQLite's data_version does not move for a connection's own commits.
   */
  probeMs?: number;
  heartbeatMs?: number;
  maxConnections?: number;
}

/**
 * `GET /api/events`: server-sent events for the dashboard. An event `ready` at connect (the page reloads what it
 * shows), then `change` with the prompts, rollbacks and monitors that changed, and comment heartbeats. A switch
 * committed in this process (the registry's onRoutesChanged, wired to `changed()`) is announced at once; anything
 * else within `probeMs`. A connection that cannot keep up is closed: the page reconnects and reloads everything.
 */
export class LiveFeed {
  private readonly listeners = new Set<Response>();
  private last: LiveDigest | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private probeAgain = false;
  private failing = false;
  private readonly probeMs: number;
  private readonly heartbeatMs: number;
  private readonly maxConnections: number;

  constructor(private readonly o: LiveOptions) {
    this.probeMs = o.probeMs ?? 1000;
    this.heartbeatMs = o.heartbeatMs ?? 15_000;
    this.maxConnections = o.maxConnections ?? 1000;
  }

  /** Something in this process committed a change (a switch): look now rather than at the next probe. */
  changed(): void {
    if (this.listeners.size > 0) void this.probe();
  }

  async serve(req: Request, res: Response): Promise<void> {
    if (this.listeners.size >= this.maxConnections)
      throw new Problem(503, 'Too many listeners', `this server already holds ${this.maxConnections} event streams; try again later`);
    // The digest changes are measured against is read before `ready`: whatever the page reads after it is covered.
    if (!this.last) await this.probe();
    if (req.socket.destroyed) return;
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\nevent: ready\ndata: {}\n\n');
    this.listeners.add(res);
    res.on('close', () => {
      this.listeners.delete(res);
      if (this.listeners.size === 0) this.stopTimers();
    });
    this.startTimers();
  }

  get size(): number {
    return this.listeners.size;
  }

  close(): void {
    for (const res of this.listeners) res.destroy();
    this.listeners.clear();
    this.stopTimers();
  }

  /** One read at a time; a change signalled during a read runs one more afterwards. Resolves when reads settle. */
  private probe(): Promise<void> {
    if (this.probing) {
      this.probeAgain = true;
      return this.probing;
    }
    this.probing = (async () => {
      do {
        this.probeAgain = false;
        await this.probeOnce();
      } while (this.probeAgain && this.listeners.size > 0);
    })().finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probeOnce(): Promise<void> {
    let next: LiveDigest;
    try {
      next = await this.o.read();
    } catch (e) {
      // Once per outage, not once a second.
      if (!this.failing) this.o.log.warn({ err: e }, 'events: could not read the dashboard digest; listeners keep their last state');
      this.failing = true;
      return;
    }
    this.failing = false;
    const before = this.last;
    this.last = next;
    if (!before) return; // the baseline: each page loads what it shows at `ready`, after this read
    const change = diff(before, next);
    if (Object.keys(change).length === 0) return;
    this.broadcast(`event: change\ndata: ${JSON.stringify(change)}\n\n`);
  }

  private broadcast(frame: string): void {
    for (const res of this.listeners) {
      // A page that does not read would miss changes: close it, and its reconnect reloads everything.
      if (res.writableNeedDrain) res.destroy();
      else res.write(frame);
    }
  }

  private startTimers(): void {
    if (!this.probeTimer) {
      this.probeTimer = setInterval(() => void this.probe(), this.probeMs);
      this.probeTimer.unref();
    }
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => this.broadcast(': heartbeat\n\n'), this.heartbeatMs);
      this.heartbeatTimer.unref();
    }
  }

  private stopTimers(): void {
    clearInterval(this.probeTimer);
    clearInterval(this.heartbeatTimer);
    this.probeTimer = this.heartbeatTimer = undefined;
    this.last = undefined;
  }
}

function diff(a: LiveDigest, b: LiveDigest): LiveChange {
  const out: LiveChange = {};
  for (const topic of TOPICS) {
    const keys = new Set([...Object.keys(a[topic]), ...Object.keys(b[topic])]);
    const changed = [...keys].filter((k) => a[topic][k] !== b[topic][k]);
    if (changed.length > 0) out[topic] = changed;
  }
  return out;
}
