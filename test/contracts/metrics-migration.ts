import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { expect, it } from 'vitest';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { openDb } from '../../src/adapters/sql/db';
import { migrationsFor, type Dialect } from '../../src/adapters/sql/migrations';

interface OldSchema {
  metric_buckets: {
    prompt: string;
    version: string;
    bucket: number;
    requests: number;
    errors: number;
    latency_hist: string;
    quality_sum: number;
    quality_count: number;
  };
}

/**
 * A store written before the latency histogram had rows of its own (JSON text per bucket, up to migration 0007)
 * reads the same after upgrading: counts, quality and the latency quantiles of the old rows survive.
 */
export function metricsMigrationContract(dialect: Dialect, newUrl: () => Promise<string>): void {
  it('metrics stored before migration 0009 read the same after it', async () => {
    const url = await newUrl();
    const old = new Kysely<OldSchema>({
      dialect:
        dialect === 'postgres'
          ? new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) })
          : new SqliteDialect({ database: new SQLite(url) }),
    });
    const provider = { getMigrations: () => Promise.resolve(migrationsFor(dialect)) };
    const { error } = await new Migrator({ db: old, provider }).migrateTo('0007_rollback_input');
    expect(error).toBeUndefined();
    const t = Date.parse('2025-03-01T12:00:00.000Z') / 1000;
    // Old format: bin index → count, as domain/histogram's bucketOf numbered them (100 ms → bin 118, 1 s → bin 177).
    await old
      .insertInto('metric_buckets')
      .values([
        {
          prompt: 'cs',
          version: 'v1',
          bucket: t + 1,
          requests: 3,
          errors: 1,
          latency_hist: '{"118":2,"177":1}',
          quality_sum: 1.5,
          quality_count: 2,
        },
        { prompt: 'cs', version: 'v1', bucket: t + 2, requests: 1, errors: 0, latency_hist: '{"177":1}', quality_sum: 0, quality_count: 0 },
      ])
      .execute();
    await old.destroy();

    const db = await openDb(url);
    try {
      const w = await new SqlMetricsStore(db.kysely).window('cs', 'v1', new Date(t * 1000), new Date((t + 10) * 1000));
      expect(w).toMatchObject({ requests: 4, errors: 1, quality_mean: 0.75, quality_samples: 2 });
      expect(Math.abs(w.latency_ms.p50! - 100) / 100).toBeLessThanOrEqual(0.02);
      expect(Math.abs(w.latency_ms.p99! - 1_000) / 1_000).toBeLessThanOrEqual(0.02);
    } finally {
      await db.close();
    }
  });
}
