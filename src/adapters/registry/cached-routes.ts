import type { Kysely } from 'kysely';
import type { Route, RouteSource } from '../../ports/routes';
import type { Database } from '../sql/schema';

/**
 * Routes held in memory, read through from the store on a miss. Never stale after a switch is committed:
 * - in this process, the registry calls `invalidate()` after every commit that moves traffic or versions;
 * - in other processes sharing the SQLite file (`npm run worker` beside `npm run api`), `changed()` is
 *   SQLite's `PRAGMA data_version`, which moves on every commit by another connection — checked (~1 µs)
 *   before each answer, and the whole cache is dropped when it moved.
 * With no such probe (Postgres), nothing is cached: every answer reads the store.
 */
export class CachedRoutes implements RouteSource {
  private readonly cache = new Map<string, Route | null>();
  private seen: number | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly changed?: () => number,
  ) {}

  invalidate(): void {
    this.cache.clear();
  }

  async get(prompt: string): Promise<Route | undefined> {
    if (!this.changed) return (await this.load(prompt)) ?? undefined;
    const version = this.changed();
    if (version !== this.seen) {
      this.cache.clear();
      this.seen = version;
    }
    const hit = this.cache.get(prompt);
    if (hit !== undefined) return hit ?? undefined;
    const route = await this.load(prompt);
    // Only keep what was read while nothing changed underneath.
    if (this.changed() === version) this.cache.set(prompt, route);
    return route ?? undefined;
  }

  private async load(prompt: string): Promise<Route | null> {
    const p = await this.db.selectFrom('prompts').select('name').where('name', '=', prompt).executeTakeFirst();
    if (!p) return null;
    const rows = await this.db
      .selectFrom('traffic')
      .innerJoin('versions', (j) => j.onRef('versions.prompt', '=', 'traffic.prompt').onRef('versions.version', '=', 'traffic.version'))
      .select(['traffic.version', 'traffic.percent', 'versions.template'])
      .where('traffic.prompt', '=', prompt)
      .where('traffic.percent', '>', 0)
      .orderBy('traffic.version')
      .execute();
    return {
      split: rows.map((r) => ({ version: r.version, percent: Number(r.percent) })),
      templates: Object.fromEntries(rows.map((r) => [r.version, r.template])),
    };
  }
}
