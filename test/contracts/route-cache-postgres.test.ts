/**
 * The serving cache on Postgres, across processes and hosts: two pools on one database stand for two API replicas.
 * Answers come from memory while nothing changes, and a switch committed through one replica is seen by the other
 * on the very next request — no request sent after the commit was acknowledged gets the old version.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedRoutes } from '../../src/adapters/registry/cached-routes';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { openDb, type Db } from '../../src/adapters/sql/db';
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

  beforeAll(async () => {
    instance = await startPostgres();
    const url = await instance.newDatabase();
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
});
