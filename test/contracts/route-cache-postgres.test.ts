/**
 * The serving cache on Postgres, across processes and hosts: two pools on one database stand for two API replicas.
 * Answers come from memory while nothing changes, and a switch committed through one replica is seen by the other
 * on the very next request — no request sent after the commit was acknowledged gets the old version.
 */
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedRoutes } from '../../src/adapters/registry/cached-routes';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { openDb, type Db } from '../../src/adapters/sql/db';
import { migrationsFor } from '../../src/adapters/sql/migrations';
import type { Database } from '../../src/adapters/sql/schema';
import { pickVersion } from '../../src/domain/traffic';
import { systemClock } from '../../src/ports/clock';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';

const available = findPostgres() !== undefined || process.env.CI === 'true';

describe.runIf(available)('route cache on Postgres (replicas on any host)', () => {
  let instance: PgInstance;
  let writer: Db;
  let reader: Db;
  let registry: SqlRegistry;
  let routes: CachedRoutes;
  let url: string;

  beforeAll(async () => {
    instance = await startPostgres();
    url = await instance.newDatabase();
    writer = await openDb(url);
    reader = await openDb(url);
    registry = new SqlRegistry(writer.kysely, systemClock);
    routes = new CachedRoutes(reader.kysely, reader.dataVersion);
    await registry.upsertPrompt({ name: 'cs' }, 'test');
    for (const v of ['v1', 'v2']) await registry.addVersion({ prompt: 'cs', version: v, template: `template ${v}` }, 'test');
    await registry.switchActive({ prompt: 'cs', to: 'v1', action: 'deploy', key: 'd-1', actor: 'test', reason: 'first' });
  }, 60_000);
  afterAll(async () => {
    await writer?.close();
    await reader?.close();
    instance?.stop();
  });

  const served = async (key = 'k'): Promise<string | undefined> => {
    const r = await routes.get('cs');
    return r && pickVersion(r.split, key);
  };

  it('answers from memory while nothing changed (the store’s tables are not read)', async () => {
    expect(await served()).toBe('v1');
    // Take the routing tables away: a cache that reads through on every request fails now.
    await sql`ALTER TABLE traffic RENAME TO traffic_away`.execute(writer.kysely);
    try {
      for (let i = 0; i < 50; i++) expect(await served(`k${i}`)).toBe('v1');
    } finally {
      await sql`ALTER TABLE traffic_away RENAME TO traffic`.execute(writer.kysely);
    }
  });

  it('a switch committed by another replica is served on the next request, every time (40 switches under load)', async () => {
    let stop = false;
    // Readers keep the cache warm and busy the whole time, as serving traffic would.
    const load = Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; !stop; i++) await served(`load-${w}-${i}`);
      }),
    );
    try {
      for (let i = 0; i < 40; i++) {
        const to = i % 2 === 0 ? 'v2' : 'v1';
        await registry.switchActive({ prompt: 'cs', to, action: 'deploy', key: `sw-${i}`, actor: 'test', reason: `switch ${i}` });
        // Acknowledged: every request from now on must get `to`.
        const answers = await Promise.all(Array.from({ length: 8 }, (_, j) => served(`after-${i}-${j}`)));
        expect(answers).toEqual(Array(8).fill(to));
      }
    } finally {
      stop = true;
      await load;
    }
  });

  it('a staged split written by another replica is served as written', async () => {
    await registry.setTraffic({
      prompt: 'cs',
      split: [
        { version: 'v1', percent: 50 },
        { version: 'v2', percent: 50 },
      ],
      key: 'split-1',
      actor: 'test',
      reason: 'half',
      action: 'traffic',
    });
    const r = await routes.get('cs');
    expect(r?.split).toEqual([
      { version: 'v1', percent: 50 },
      { version: 'v2', percent: 50 },
    ]);
  });

  it('a change to one prompt never waits for another prompt’s change in flight', async () => {
    // A prompt whose changes move another counter than cs's (as most prompts' do).
    const { rows } = await sql<{ name: string }>`
      SELECT name FROM (SELECT 'other-' || i AS name FROM generate_series(1, 100) i) n
      WHERE promptback_route_counter(name) <> promptback_route_counter('cs') LIMIT 1`.execute(writer.kysely);
    const other = rows[0]!.name;
    await registry.upsertPrompt({ name: other }, 'test');
    const held = new pg.Client({ connectionString: url });
    await held.connect();
    let switching: Promise<unknown> | undefined;
    try {
      await held.query('BEGIN');
      await held.query(`UPDATE prompts SET description = 'held' WHERE name = $1`, [other]);
      // cs is rolled back and deployed again while the other prompt's change is uncommitted: neither waits for it.
      const to = (await served()) === 'v1' ? 'v2' : 'v1';
      switching = (async () => {
        await registry.switchActive({
          prompt: 'cs',
          to,
          action: 'rollback',
          key: 'beside-held-1',
          actor: 'test',
          reason: 'beside a held change',
        });
        await registry.addVersion({ prompt: 'cs', version: 'v3', template: 'template v3' }, 'test');
        await registry.switchActive({
          prompt: 'cs',
          to: 'v3',
          action: 'deploy',
          key: 'beside-held-2',
          actor: 'test',
          reason: 'beside a held change',
        });
        return 'done';
      })();
      const outcome = await Promise.race([switching, new Promise((r) => setTimeout(() => r('waited 3 s'), 3000))]);
      expect(outcome).toBe('done');
      expect(await served()).toBe('v3');
    } finally {
      await held.query('ROLLBACK');
      await held.end();
      await switching;
    }
  });

  it('a switch that changes nothing moves no counter: replicas keep their routes', async () => {
    const current = (await served()) ?? 'v1';
    const to = current === 'v1' ? 'v2' : 'v1';
    const first = await registry.switchActive({ prompt: 'cs', to, action: 'rollback', key: 'noop-1', actor: 'test', reason: 'once' });
    expect(first.switched).toBe(true);
    const before = await reader.dataVersion();
    // The same key again (a retried activity), on either path; an unknown prompt; an unknown version.
    const again = await registry.switchActive({ prompt: 'cs', to, action: 'rollback', key: 'noop-1', actor: 'test', reason: 'retried' });
    expect(again.switched).toBe(false);
    await registry.switchActive({ prompt: 'cs', to, action: 'deploy', key: 'noop-1', actor: 'test', reason: 'retried' });
    await expect(
      registry.switchActive({ prompt: 'no-such-prompt', to: 'v1', action: 'rollback', key: 'noop-2', actor: 'test', reason: 'unknown' }),
    ).rejects.toThrow();
    await expect(
      registry.switchActive({ prompt: 'cs', to: 'v99', action: 'rollback', key: 'noop-3', actor: 'test', reason: 'unknown' }),
    ).rejects.toThrow();
    expect(await reader.dataVersion()).toBe(before);
    expect(await served()).toBe(to);
  });

  it('upgrading a store with data: a replica still probing as before sees every prompt’s changes, and the version never goes back', async () => {
    const url2 = await instance.newDatabase();
    const old = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url2, max: 2 }) }) });
    const legacyProbe = async () => Number((await sql<{ v: string }>`SELECT v FROM route_version WHERE id = 1`.execute(old)).rows[0]?.v);
    try {
      const provider = { getMigrations: () => Promise.resolve(migrationsFor('postgres')) };
      const { error } = await new Migrator({ db: old, provider }).migrateTo('0016_metric_latency_compact');
      expect(error).toBeUndefined();
      const before = new SqlRegistry(old, systemClock);
      for (const name of ['up-1', 'up-2', 'up-3']) {
        await before.upsertPrompt({ name }, 'test');
        for (const v of ['v1', 'v2']) await before.addVersion({ prompt: name, version: v, template: `template ${v}` }, 'test');
        await before.switchActive({ prompt: name, to: 'v1', action: 'deploy', key: `${name}-d1`, actor: 'test', reason: 'first' });
      }
      const beforeUpgrade = await legacyProbe();
      expect(beforeUpgrade).toBeGreaterThan(0);

      const upgraded = await openDb(url2);
      try {
        expect(await legacyProbe()).toBe(beforeUpgrade);
        const after = new SqlRegistry(upgraded.kysely, systemClock);
        // Each prompt's switch moves the version an old replica reads, whichever counter the prompt's name hashes to.
        const { rows } = await sql<{ name: string; counter: number }>`
          SELECT name, promptback_route_counter(name) AS counter FROM prompts ORDER BY name`.execute(upgraded.kysely);
        expect(new Set(rows.map((r) => r.counter)).size).toBeGreaterThan(1);
        let last = beforeUpgrade;
        for (const { name } of rows) {
          await after.switchActive({ prompt: name, to: 'v2', action: 'rollback', key: `${name}-r1`, actor: 'test', reason: 'upgrade' });
          const now = await legacyProbe();
          expect(now).toBeGreaterThan(last);
          expect(await upgraded.dataVersion()).toBe(now);
          last = now;
        }
      } finally {
        await upgraded.close();
      }
    } finally {
      await old.destroy();
    }
  });
});
