import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { SqlRollbackStore } from '../../src/adapters/rollbacks/sql';
import { SqlMonitorStore } from '../../src/adapters/monitors/sql';
import { metricsUrlFor, openDb } from '../../src/adapters/sql/db';
import { ThreadedMetricsStore } from '../../src/adapters/metrics/ingest-thread';
import { migrationsFor } from '../../src/adapters/sql/migrations';
import type { Clock } from '../../src/ports/clock';
import { advancingClock } from '../support/clock';
import { metricsMigrationContract } from './metrics-migration';
import { storageContract } from './storage.contract';
import { SqlStorage } from '../../src/adapters/storage/sql';
import { OutboxNotifier } from '../../src/adapters/notifier/outbox';
import { createLogger } from '../../src/main/logger';
import { metricsContract, registryContract, type ContractStores } from './registry.contract';
import { SqlitePreparedWrites } from '../../src/adapters/metrics/sqlite-writes';
import { ROLLUP_S } from '../../src/domain/storage';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-contract-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh directory per store, so no test sees another's rows. */
const freshFile = (): string => path.join(fs.mkdtempSync(path.join(root, `db-${n++}-`)), 'promptback.sqlite');

async function openStores(file: string, clock: Clock = advancingClock()): Promise<ContractStores> {
  const db = await openDb(file);
  expect(db.dialect).toBe('sqlite');
  return {
    registry: new SqlRegistry(db.kysely, clock),
    rollbacks: new SqlRollbackStore(db.kysely),
    monitors: new SqlMonitorStore(db.kysely),
    metrics: new SqlMetricsStore(db.kysely),
    close: () => db.close(),
  };
}

registryContract('sqlite', () => openStores(freshFile()));

// The ingest thread's way of writing: statements prepared once, on a connection of its own.
metricsContract('sqlite, prepared writes', async () => {
  const db = await openDb(freshFile());
  return { metrics: new SqlMetricsStore(db.kysely, ROLLUP_S, new SqlitePreparedWrites(db.sqlite!)), close: () => db.close() };
});

storageContract('sqlite', async () => {
  const db = await openDb(freshFile());
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

// Production's SQLite shape: metrics in a file of their own, written on the ingest thread; outbox and rollbacks in the registry's.
storageContract('sqlite, metrics in their own file', async () => {
  const file = freshFile();
  const db = await openDb(file);
  const metricsFile = metricsUrlFor(file);
  const metricsDb = await openDb(metricsFile);
  let now = new Date('2025-01-01T00:00:00.000Z');
  const clock = { now: () => now };
  const metrics = new ThreadedMetricsStore(new SqlMetricsStore(metricsDb.kysely), metricsFile);
  return {
    metrics,
    storage: new SqlStorage(db.kysely, db.dialect, undefined, metricsDb),
    rollbacks: new SqlRollbackStore(db.kysely),
    registry: new SqlRegistry(db.kysely, advancingClock()),
    notifier: new OutboxNotifier(db.kysely, createLogger('silent'), clock),
    setNow: (d: Date) => {
      now = d;
    },
    db: db.kysely,
    metricsDb: metricsDb.kysely,
    close: async () => {
      await metrics.close();
      await metricsDb.close();
      await db.close();
    },
  };
});

describe('sqlite file', () => {
  it('prepared writes: a batch whose write fails stores nothing, and the stored rows are untouched', async () => {
    const db = await openDb(freshFile());
    try {
      const metrics = new SqlMetricsStore(db.kysely, ROLLUP_S, new SqlitePreparedWrites(db.sqlite!));
      const T = Date.parse('2025-03-01T12:00:00.250Z');
      const ev = (prompt: string, i: number) => ({
        prompt,
        version: 'v1',
        ok: i % 4 !== 0,
        latency_ms: 100 + i,
        at: new Date(T + i * 1_000),
      });
      await metrics.ingest(Array.from({ length: 120 }, (_, i) => ev('cs', i)));
      const before = await metrics.window('cs', 'v1', new Date(T), new Date(T + 120_000));
      expect(before).toMatchObject({ requests: 120, errors: 30 });
      // Rows are written in key order: the refused prompt's comes after every one of 'cs', which must be taken back too.
      db.sqlite!.exec(`CREATE TRIGGER refuse AFTER INSERT ON metric_buckets WHEN NEW.prompt = 'zz-refused'
        BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      const batch = [...Array.from({ length: 120 }, (_, i) => ev('cs', i)), ev('zz-refused', 3)];
      await expect(metrics.ingest(batch)).rejects.toThrow('refused');
      expect(await metrics.window('cs', 'v1', new Date(T), new Date(T + 120_000))).toEqual(before);
      expect((await metrics.window('zz-refused', 'v1', new Date(T), new Date(T + 120_000))).requests).toBe(0);
      expect(db.sqlite!.inTransaction).toBe(false);
    } finally {
      await db.close();
    }
  });

  metricsMigrationContract('sqlite', () => Promise.resolve(freshFile()));

  it('keeps its data across close and reopen; migrations are idempotent on reopen', async () => {
    const file = freshFile();
    const first = await openStores(file);
    await first.registry.upsertPrompt({ name: 'customer-support', owner: 'team-cs' }, 'alice');
    await first.registry.addVersion({ prompt: 'customer-support', version: 'v1.9.0', template: 'old' }, 'alice');
    await first.registry.addVersion({ prompt: 'customer-support', version: 'v2.0.0', template: 'new' }, 'alice');
    await first.registry.switchActive({
      prompt: 'customer-support',
      to: 'v2.0.0',
      action: 'deploy',
      key: 'dep-1',
      actor: 'alice',
      reason: '',
    });
    const at = '2025-01-01T00:10:00.000Z';
    await first.rollbacks.claim({
      rollback_id: 'rb-1',
      workflow_id: 'rollback/customer-support/rb-1',
      prompt: 'customer-support',
      from_version: 'v2.0.0',
      to_version: 'v1.9.0',
      reason: 'errors',
      severity: 'critical',
      mode: 'immediate',
      status: 'rolling_back',
      requested_by: 'alice',
      requested_at: at,
      timeline: [],
      updated_at: at,
    });
    const t0 = Date.parse('2025-01-01T00:00:00.000Z');
    await first.metrics.ingest([
      { prompt: 'customer-support', version: 'v2.0.0', ok: false, latency_ms: 800, at: new Date(t0 + 1_000) },
      { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 800, quality: 0.5, at: new Date(t0 + 2_000) },
    ]);
    const auditBefore = await first.registry.audit({ prompt: 'customer-support' });
    await first.close();
    expect(fs.statSync(file).size).toBeGreaterThan(0);

    // Reopening runs the migrator again: it must find nothing to do, not fail on existing tables.
    for (let i = 0; i < 2; i++) {
      const again = await openStores(file);
      try {
        expect(await again.registry.getPrompt('customer-support')).toMatchObject({ owner: 'team-cs', active_version: 'v2.0.0' });
        expect((await again.registry.listVersions('customer-support')).map((v) => v.version)).toEqual(['v1.9.0', 'v2.0.0']);
        expect(await again.registry.getTraffic('customer-support')).toEqual([{ version: 'v2.0.0', percent: 100 }]);
        expect(await again.registry.audit({ prompt: 'customer-support' })).toEqual(auditBefore);
        expect(await again.rollbacks.openFor('customer-support')).toBe('rb-1');
        expect(await again.rollbacks.claim({ ...(await again.rollbacks.get('rb-1'))!, rollback_id: 'rb-2' })).toEqual({
          ok: false,
          open_rollback_id: 'rb-1',
        });
        const w = await again.metrics.window('customer-support', 'v2.0.0', new Date(t0), new Date(t0 + 60_000));
        expect(w).toMatchObject({ requests: 2, errors: 1, error_rate: 0.5, quality_mean: 0.5 });
        // A retried switch after the restart is still recognised as done.
        expect(
          (
            await again.registry.switchActive({
              prompt: 'customer-support',
              to: 'v2.0.0',
              action: 'deploy',
              key: 'dep-1',
              actor: 'alice',
              reason: '',
            })
          ).switched,
        ).toBe(false);
      } finally {
        await again.close();
      }
    }

    // Each migration was applied exactly once.
    const db = await openDb(file);
    try {
      const applied = await db.kysely
        .selectFrom('kysely_migration' as never)
        .select('name' as never)
        .execute();
      expect(applied.map((r) => (r as { name: string }).name).sort()).toEqual(Object.keys(migrationsFor('sqlite')).sort());
    } finally {
      await db.close();
    }
  });

  it('a roll-up width other than a minute (METRICS_ROLLUP_S=300): store and maintenance agree, whole-width windows read the same', async () => {
    const db = await openDb(freshFile());
    try {
      const metrics = new SqlMetricsStore(db.kysely, 300);
      const storage = new SqlStorage(db.kysely, db.dialect, 300);
      const T = Date.parse('2025-03-01T12:00:00.000Z');
      await metrics.ingest(
        Array.from({ length: 1_200 }, (_, i) => ({
          prompt: 'cs',
          version: 'v2',
          ok: i % 9 !== 0,
          latency_ms: 100 + ((i * 31) % 900),
          at: new Date(T + i * 1_000),
        })),
      );
      const read = () =>
        Promise.all([
          metrics.window('cs', 'v2', new Date(T), new Date(T + 600_000)),
          metrics.window('cs', 'v2', new Date(T + 300_000), new Date(T + 1_200_000)),
          metrics.lastWindow('cs', 'v2', 300),
        ]);
      const before = await read();
      // 11 min 30 s due: only whole 5-min buckets move (two of them); the rest stays per second.
      expect((await storage.rollUpMetrics(T / 1000 + 690, { max_batches: 100, rows: 100 })).batches).toBe(2);
      expect(await read()).toEqual(before);
      await storage.rollUpMetrics(T / 1000 + 1_200, { max_batches: 100, rows: 100 });
      expect(await read()).toEqual(before);
      expect(await metrics.lastSeen('cs', 'v2')).toEqual(new Date(T + 1_200_000));
    } finally {
      await db.close();
    }
  });

  it('the store is a real file: a second connection sees what the first wrote', async () => {
    const file = freshFile();
    const a = await openStores(file);
    const b = await openStores(file);
    try {
      await a.registry.upsertPrompt({ name: 'shared' }, 'alice');
      expect((await b.registry.getPrompt('shared'))?.name).toBe('shared');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
