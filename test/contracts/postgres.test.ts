import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { SqlRollbackStore } from '../../src/adapters/rollbacks/sql';
import { openDb } from '../../src/adapters/sql/db';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { advancingClock } from '../support/clock';
import { metricsMigrationContract } from './metrics-migration';
import { storageContract } from './storage.contract';
import { SqlStorage } from '../../src/adapters/storage/sql';
import { OutboxNotifier } from '../../src/adapters/notifier/outbox';
import { createLogger } from '../../src/main/logger';
import { registryContract } from './registry.contract';

// In CI the server must be there (`npm run setup` installs Debian's postgresql): a missing one fails the run,
// it is never skipped. On a laptop without it the suite is skipped.
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const installed = findPostgres() !== undefined;

describe.runIf(inCI && !installed)('PostgreSQL in CI', () => {
  it('the PostgreSQL server binaries are installed, so the store contract runs on Postgres', () => {
    throw new Error(
      'CI is set but initdb/pg_ctl were not found: run `npm run setup` (installs Debian postgresql); Postgres is never skipped in CI',
    );
  });
});

describe.runIf(installed)('the same store contract on PostgreSQL', () => {
  let instance: PgInstance;
  beforeAll(async () => {
    instance = await startPostgres();
  }, 60_000);
  afterAll(() => instance?.stop());

  registryContract('postgres', async () => {
    const db = await openDb(await instance.newDatabase());
    expect(db.dialect).toBe('postgres');
    const clock = advancingClock();
    return {
      registry: new SqlRegistry(db.kysely, clock),
      rollbacks: new SqlRollbackStore(db.kysely),
      metrics: new SqlMetricsStore(db.kysely),
      close: () => db.close(),
    };
  });

  metricsMigrationContract('postgres', () => instance.newDatabase());

  storageContract('postgres', async () => {
    const db = await openDb(await instance.newDatabase());
    let now = new Date('2025-01-01T00:00:00.000Z');
    const clock = { now: () => now };
    return {
      metrics: new SqlMetricsStore(db.kysely),
      storage: new SqlStorage(db.kysely, db.dialect),
      rollbacks: new SqlRollbackStore(db.kysely),
      registry: new SqlRegistry(db.kysely, advancingClock()),
      notifier: new OutboxNotifier(db.kysely, createLogger('silent'), clock),
      setNow: (d: Date) => {
        now = d;
      },
      db: db.kysely,
      close: () => db.close(),
    };
  });

  it('metrics tables keep room in each page, so that the updates of a second’s counts stay on their page (HOT)', async () => {
    const db = await openDb(await instance.newDatabase());
    try {
      const r = await sql<{ relname: string; reloptions: string[] | null }>`
        SELECT relname, reloptions FROM pg_class WHERE relname IN ('metric_buckets', 'metric_latency') ORDER BY relname`.execute(db.kysely);
      expect(r.rows).toEqual([
        { relname: 'metric_buckets', reloptions: ['fillfactor=50'] },
        { relname: 'metric_latency', reloptions: ['fillfactor=50'] },
      ]);
    } finally {
      await db.close();
    }
  });
});
