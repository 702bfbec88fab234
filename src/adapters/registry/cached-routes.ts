import type { Kysely } from 'kysely';
import type { Resolved, Route, RouteSource } from '../../ports/routes';
import type { Database } from '../sql/schema';

/** Unknown prompts are remembered too (a 404 is served from memory), but a flood of made-up names cannot grow the map without bound. */
const MAX_ENTRIES = 10_000;

/**
 * Routes held in memory, read through from the store on a miss. Never stale once a switch is committed:
 * - in this process, the registry calls `invalidate()` after every commit that changes a split, a version or a
 *   prompt (wiring.ts connects the two);
 * - for other processes (`npm run worker` beside `npm run api`, API replicas on other hosts), `dataVersion` moves
 *   whenever another connection commits a change: SQLite's `PRAGMA data_version`, or on Postgres a counter that
 *   triggers bump in the same transaction as the change; when it moved, everything is dropped.
 *
 * The probe costs two fcntl calls (the WAL read lock), a third of the hot path's own CPU when made per request, so
 * one probe serves every `get()` issued in the same event-loop turn: callers wait for a `setImmediate` that probes
 * once, after the poll phase in which their requests were read. Every waiting caller therefore asked *before* the
 * probe ran, and a commit made before a request arrived — let alone acknowledged to its sender — is always seen.
 * On Postgres the probe is one indexed read (LISTEN/NOTIFY would be cheaper but arrives after the commit is
 * acknowledged, which would let a request sent after the switch see the old version). With no probe at all, nothing
 * is cached: every answer reads the store.
 */
export class CachedRoutes implements RouteSource {
  private readonly cache = new Map<string, Route | null>();
  /** Reads in flight, shared by every miss of the same generation: after a switch, a burst of misses costs one read. */
  private readonly loading = new Map<string, Promise<Route | null>>();
  /** Bumped by every invalidation: a load that overlapped one is answered but neither kept nor joined. */
  private generation = 0;
  private seen: number | undefined;
  private probe: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dataVersion?: () => number | Promise<number>,
  ) {}

  invalidate(): void {
    this.cache.clear();
    this.loading.clear();
    this.generation++;
  }

  async get(prompt: string): Promise<Route | undefined> {
    if (!this.dataVersion) return (await this.load(prompt)) ?? undefined;
    await this.sync();
    const hit = this.cache.get(prompt);
    if (hit !== undefined) return hit ?? undefined;
    let pending = this.loading.get(prompt);
    if (!pending) {
      const read: Promise<Route | null> = this.readThrough(prompt).finally(() => {
        if (this.loading.get(prompt) === read) this.loading.delete(prompt);
      });
      this.loading.set(prompt, (pending = read));
    }
    return (await pending) ?? undefined;
  }

  private async readThrough(prompt: string): Promise<Route | null> {
    const generation = this.generation;
    const route = await this.load(prompt);
    // Keep only what was read while nothing changed underneath, in this process (generation) or another (probe).
    if (generation === this.generation && !(await this.movedSinceSeen())) {
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(prompt, route);
    }
    return route;
  }

  /** Resolves after one probe shared by every caller of this event-loop turn. */
  private sync(): Promise<void> {
    this.probe ??= new Promise((resolve, reject) =>
      setImmediate(() => {
        this.probe = undefined;
        this.movedSinceSeen().then(() => resolve(), reject);
      }),
    );
    return this.probe;
  }

  /** Probes the store; when another connection committed since the last probe, drops everything. */
  private async movedSinceSeen(): Promise<boolean> {
    const probed = this.dataVersion!();
    const version = typeof probed === 'number' ? probed : await probed;
    if (version === this.seen) return false;
    this.seen = version;
    this.invalidate();
    return true;
  }

  /** The prompt's split (in getTraffic's fixed order, so keys land where the registry's own reads put them) and templates, in one read. */
  private async load(prompt: string): Promise<Route | null> {
    const rows = await this.db
      .selectFrom('prompts')
      .leftJoin('traffic', (j) => j.onRef('traffic.prompt', '=', 'prompts.name').on('traffic.percent', '>', 0))
      .leftJoin('versions', (j) => j.onRef('versions.prompt', '=', 'traffic.prompt').onRef('versions.version', '=', 'traffic.version'))
      .select(['traffic.version', 'traffic.percent', 'versions.template'])
      .where('prompts.name', '=', prompt)
      .orderBy('traffic.version')
      .execute();
    if (rows.length === 0) return null;
    const split: { version: string; percent: number }[] = [];
    const answers: Record<string, Resolved> = {};
    for (const r of rows) {
      if (r.version === null) continue; // the prompt exists, nothing is deployed
      split.push({ version: r.version, percent: Number(r.percent) });
      answers[r.version] = Object.freeze({ version: r.version, template: r.template ?? '' });
    }
    return Object.freeze({ split: Object.freeze(split), answers: Object.freeze(answers) });
  }
}
