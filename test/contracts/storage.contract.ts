import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { initialView, type RollbackInput, type RollbackView } from '../../src/domain/rollback';
import { DEFAULT_STORAGE_BUDGET } from '../../src/domain/storage';
import { bucketOf } from '../../src/domain/histogram';
import { COMPACT_AT_BYTES } from '../../src/adapters/metrics/packed-bins';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import type { Database } from '../../src/adapters/sql/schema';
import type { MetricEvent, MetricsStore } from '../../src/ports/metrics';
import type { Notifier } from '../../src/ports/notifier';
import type { Registry } from '../../src/ports/registry';
import type { RollbackStore } from '../../src/ports/rollbacks';
import type { StorageMaintenance } from '../../src/ports/storage';

export interface StorageStores {
  metrics: MetricsStore;
  storage: StorageMaintenance;
  rollbacks: RollbackStore;
  registry: Registry;
  /** Writes outbox rows stamped with `setNow`'s instant. */
  notifier: Notifier;
  setNow(d: Date): void;
  /** Direct reads of table sizes: what the store holds, which no API shows. */
  db: Kysely<Database>;
  /** Where the metric tables are, when metrics have a database of their own (else `db`). */
  metricsDb?: Kysely<Database>;
  close(): Promise<void>;
}

const count = async (db: Kysely<Database>, table: keyof Database): Promise<number> =>
  Number(
    (
      await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

/**
 * The storage contract: metric roll-up and drop, outbox and finished-rollback deletion, on every store. Windows
 * read the same whether their data is still at 1-s resolution or already rolled up into 1-min buckets.
 */
export function storageContract(name: string, open: () => Promise<StorageStores>): void {
  describe(`storage contract: ${name}`, () => {
    let s: StorageStores;
    beforeEach(async () => {
      s = await open();
    });
    afterEach(async () => {
      await s.close();
    });
    const metricTables = () => s.metricsDb ?? s.db;

    const T = Date.parse('2025-03-01T12:00:00.000Z') / 1000; // a whole minute, epoch seconds
    const at = (sec: number): Date => new Date((T + sec) * 1000);
    const budget = DEFAULT_STORAGE_BUDGET;
    /** Twelve minutes of traffic, three events a second: errors, latencies and quality scores that vary. */
    const twelveMinutes = (): MetricEvent[] =>
      Array.from({ length: 720 * 3 }, (_, i) => {
        const sec = Math.floor(i / 3);
        return {
          prompt: 'cs',
          version: 'v2',
          ok: (i * 7) % 23 !== 0,
          latency_ms: 50 + ((i * 7919) % 3_000),
          ...(i % 4 === 0 ? {} : { quality: ((i * 13) % 100) / 100 }),
          at: new Date((T + sec) * 1000 + ((i * 331) % 1000)),
        };
      });
    const windows: [number, number][] = [
      [0, 300],
      [120, 600], // straddles the roll-up boundary at 300 below
      [240, 480],
      [0, 720],
      [300, 720],
    ];
    const readAll = async () => ({
      windows: await Promise.all(windows.map(([a, b]) => s.metrics.window('cs', 'v2', at(a), at(b)))),
      last300: await s.metrics.lastWindow('cs', 'v2', 300),
      last600: await s.metrics.lastWindow('cs', 'v2', 600),
      lastSeen: await s.metrics.lastSeen('cs', 'v2'),
    });
    const sameReads = (got: Awaited<ReturnType<typeof readAll>>, want: Awaited<ReturnType<typeof readAll>>) => {
      expect(got.lastSeen).toEqual(want.lastSeen);
      const pairs = [
        ...got.windows.map((w, i) => [w, want.windows[i]!] as const),
        [got.last300!, want.last300!] as const,
        [got.last600!, want.last600!] as const,
      ];
      for (const [g, w] of pairs) {
        expect(g).toMatchObject({
          requests: w.requests,
          errors: w.errors,
          error_rate: w.error_rate,
          quality_samples: w.quality_samples,
          window_s: w.window_s,
        });
        expect(g.quality_mean!).toBeCloseTo(w.quality_mean!, 9);
        // Bins merge by addition, so the quantiles are those of the same histogram: well within its 2 %.
        for (const q of ['p50', 'p95', 'p99'] as const)
          expect(Math.abs(g.latency_ms[q]! - w.latency_ms[q]!) / w.latency_ms[q]!).toBeLessThanOrEqual(0.02);
      }
    };

    describe('metric roll-up', () => {
      it('windows and lastWindow read the same at 1-s, half rolled up (straddling windows) and fully rolled up', async () => {
        await s.metrics.ingest(twelveMinutes());
        const before = await readAll();
        expect(before.windows[3]).toMatchObject({ requests: 2_160 });

        const half = await s.storage.rollUpMetrics(T + 300, budget);
        expect(half).toMatchObject({ more: false });
        expect(half.rows).toBeGreaterThan(0);
        sameReads(await readAll(), before);
        // The first five minutes now live in five 1-min rows, the rest is still per second.
        expect(await count(metricTables(), 'metric_buckets_1m')).toBe(5);
        expect(await count(metricTables(), 'metric_buckets')).toBe(420);

        await s.storage.rollUpMetrics(T + 720, budget);
        sameReads(await readAll(), before);
        expect(await count(metricTables(), 'metric_buckets')).toBe(0);
        expect(await count(metricTables(), 'metric_latency')).toBe(0);
        expect(await count(metricTables(), 'metric_buckets_1m')).toBe(12);
      });

      it('latency stored before migration 0015 (a metric_latency row per bin) is read and rolled up with the packed rows after it', async () => {
        // The first minute as the earlier code stored it: counts in metric_buckets, latency rows of 100 ms.
        await metricTables()
          .insertInto('metric_buckets')
          .values(
            Array.from({ length: 60 }, (_, i) => ({
              prompt: 'cs',
              version: 'v1',
              bucket: T + i,
              requests: 10,
              errors: 1,
              quality_sum: 0,
              quality_count: 0,
            })),
          )
          .execute();
        await metricTables()
          .insertInto('metric_latency')
          .values(Array.from({ length: 60 }, (_, i) => ({ prompt: 'cs', version: 'v1', bucket: T + i, bin: bucketOf(100), count: 10 })))
          .execute();
        // The second minute through today's ingest: 900 ms.
        await s.metrics.ingest(
          Array.from({ length: 600 }, (_, i) => ({
            prompt: 'cs',
            version: 'v1',
            ok: true,
            latency_ms: 900,
            at: new Date((T + 60 + i / 10) * 1000),
          })),
        );
        const read = () => s.metrics.window('cs', 'v1', at(0), at(120));
        const before = await read();
        expect(before).toMatchObject({ requests: 1_200, errors: 60 });
        expect(before.latency_ms.p50).toBeGreaterThan(95);
        expect(before.latency_ms.p50).toBeLessThan(105);
        expect(before.latency_ms.p99).toBeGreaterThan(880);
        expect(before.latency_ms.p99).toBeLessThan(920);
        await s.storage.rollUpMetrics(T + 120, budget);
        expect(await read()).toEqual(before);
        expect(await count(metricTables(), 'metric_buckets')).toBe(0);
        expect(await count(metricTables(), 'metric_latency')).toBe(0);
        expect(await count(metricTables(), 'metric_buckets_1m')).toBe(2);
      });

      it('a second written by many batches keeps a small latency value (merged by bin once it grows) and reads every event', async () => {
        const batch = () =>
          Array.from({ length: 20 }, (_, i) => ({
            prompt: 'cs',
            version: 'v1',
            ok: true,
            latency_ms: 100 + i * 10,
            at: new Date((T + 0.5) * 1000),
          }));
        for (let b = 0; b < 100; b++) await s.metrics.ingest(batch());
        const rows = await metricTables().selectFrom('metric_buckets').select('latency_bins').execute();
        expect(rows).toHaveLength(1);
        // 20 latencies fall in 17 bins: 136 bytes a batch, 13,600 appended in all.
        expect(rows[0]!.latency_bins!.length).toBeLessThan(COMPACT_AT_BYTES + 20 * 8);
        const read = () => s.metrics.window('cs', 'v1', at(0), at(60));
        const before = await read();
        expect(before.requests).toBe(2_000);
        expect(before.latency_ms.p50).toBeGreaterThan(185);
        expect(before.latency_ms.p50).toBeLessThan(205);
        await s.storage.rollUpMetrics(T + 120, budget);
        expect(await read()).toEqual(before);
      });

      it('sub-millisecond latencies (negative histogram bins) read the same after the roll-up', async () => {
        await s.metrics.ingest(
          Array.from({ length: 300 }, (_, i) => ({
            prompt: 'cs',
            version: 'v1',
            ok: true,
            latency_ms: i % 3 === 0 ? 0.004 : i % 3 === 1 ? 0.3 : 0.8,
            at: new Date((T + i / 5) * 1000),
          })),
        );
        const read = () => s.metrics.window('cs', 'v1', at(0), at(60));
        const before = await read();
        expect(before.requests).toBe(300);
        expect(before.latency_ms.p50).toBeGreaterThan(0.29);
        expect(before.latency_ms.p50).toBeLessThan(0.31);
        expect(before.latency_ms.p99).toBeLessThan(0.82);
        await s.storage.rollUpMetrics(T + 120, budget);
        expect(await count(metricTables(), 'metric_buckets')).toBe(0);
        expect(await read()).toEqual(before);
      });

      it('a 1-min bucket partially covered by a window counts whole when its start is in [from, to), else not at all', async () => {
        await s.metrics.ingest([
          { prompt: 'cs', version: 'v2', ok: false, latency_ms: 100, at: at(150) }, // 12:02:30, inside the window
          { prompt: 'cs', version: 'v2', ok: true, latency_ms: 100, at: at(470) }, // 12:07:50, after it
        ]);
        const from = at(135.5); // 12:02:15.5
        const to = at(435); // 12:07:15
        expect(await s.metrics.window('cs', 'v2', from, to)).toMatchObject({ requests: 1, errors: 1 });
        await s.storage.rollUpMetrics(T + 720, budget);
        // Minute 12:02 starts before `from`: not counted. Minute 12:07 starts inside: counted whole.
        expect(await s.metrics.window('cs', 'v2', from, to)).toMatchObject({ requests: 1, errors: 0 });
        // Whole-minute windows that meet add up to the whole, with nothing counted twice.
        const a = await s.metrics.window('cs', 'v2', at(120), at(420));
        const b = await s.metrics.window('cs', 'v2', at(420), at(480));
        expect(a.requests + b.requests).toBe(2);
      });

      it('is idempotent, and a late event for a rolled-up second is counted once and merged by the next pass', async () => {
        await s.metrics.ingest(twelveMinutes());
        await s.storage.rollUpMetrics(T + 720, budget);
        const rolled = await readAll();
        expect(await s.storage.rollUpMetrics(T + 720, budget)).toMatchObject({ rows: 0, more: false });
        sameReads(await readAll(), rolled);

        await s.metrics.ingest([{ prompt: 'cs', version: 'v2', ok: false, latency_ms: 20_000, quality: 0, at: at(65.2) }]);
        const late = await s.metrics.window('cs', 'v2', at(0), at(720));
        expect(late.requests).toBe(rolled.windows[3]!.requests + 1);
        expect(late.errors).toBe(rolled.windows[3]!.errors + 1);
        expect(await count(metricTables(), 'metric_buckets')).toBe(1);

        await s.storage.rollUpMetrics(T + 720, budget);
        await s.storage.rollUpMetrics(T + 720, budget);
        expect(await count(metricTables(), 'metric_buckets')).toBe(0);
        expect(await count(metricTables(), 'metric_buckets_1m')).toBe(12);
        const merged = await s.metrics.window('cs', 'v2', at(0), at(720));
        expect(merged).toMatchObject({ requests: late.requests, errors: late.errors, quality_samples: late.quality_samples });
        expect(merged.latency_ms).toEqual(late.latency_ms);
        expect(await s.metrics.window('cs', 'v2', at(60), at(120))).toMatchObject({
          requests: rolled.windows[0]!.requests / 5 + 1,
        });
      });

      it('concurrent ingest into the seconds being rolled up, and overlapping roll-ups, lose nothing and count nothing twice', async () => {
        await s.metrics.ingest(twelveMinutes());
        const batches = Array.from({ length: 20 }, (_, b) =>
          Array.from({ length: 60 }, (_, i) => ({
            prompt: 'cs',
            version: 'v2',
            ok: i % 6 !== 0,
            latency_ms: 100 + b,
            quality: 0.5,
            at: at((b * 37 + i * 11) % 720),
          })),
        );
        const small = { ...budget, max_batches: 1 };
        // Two roll-up loops at once as well: a retried pass overlapping the attempt it replaces.
        const rollUps = () =>
          (async () => {
            for (let i = 0; i < 15; i++) await s.storage.rollUpMetrics(T + 720, small);
          })();
        await Promise.all([rollUps(), rollUps(), ...batches.map((batch) => s.metrics.ingest(batch))]);
        await s.storage.rollUpMetrics(T + 720, budget);
        expect(await count(metricTables(), 'metric_buckets')).toBe(0);
        const w = await s.metrics.window('cs', 'v2', at(0), at(720));
        expect(w.requests).toBe(2_160 + 1_200);
        expect(w.errors).toBe(twelveMinutes().filter((e) => !e.ok).length + 20 * 10);
        // Every event's latency is in exactly one histogram bin of the roll-up.
        const hists = await metricTables().selectFrom('metric_buckets_1m').select('latency_hist').execute();
        const binned = hists.reduce(
          (n, r) => n + Object.values(JSON.parse(r.latency_hist) as Record<string, number>).reduce((a, b) => a + b, 0),
          0,
        );
        expect(binned).toBe(2_160 + 1_200);
      });

      it('a small budget stops early, says more is left, and later passes finish the same', async () => {
        await s.metrics.ingest(twelveMinutes());
        const before = await readAll();
        const first = await s.storage.rollUpMetrics(T + 720, { ...budget, max_batches: 2 });
        expect(first).toMatchObject({ batches: 2, more: true });
        let passes = 1;
        while ((await s.storage.rollUpMetrics(T + 720, { ...budget, max_batches: 2 })).more) passes++;
        expect(passes).toBeGreaterThanOrEqual(5);
        sameReads(await readAll(), before);
      });

      it('drops 1-min buckets older than the cut and leaves newer data as it was', async () => {
        await s.metrics.ingest(twelveMinutes());
        const before = await readAll();
        await s.storage.rollUpMetrics(T + 600, budget);
        const dropped = await s.storage.dropMetrics(T + 300, budget);
        expect(dropped).toMatchObject({ more: false });
        expect(dropped.rows).toBeGreaterThan(0);
        expect(await s.metrics.window('cs', 'v2', at(0), at(300))).toMatchObject({ requests: 0, error_rate: null });
        const kept = await s.metrics.window('cs', 'v2', at(300), at(720));
        expect(kept).toMatchObject({ requests: before.windows[4]!.requests, errors: before.windows[4]!.errors });
        expect(await s.storage.dropMetrics(T + 300, budget)).toMatchObject({ rows: 0 });
      });
    });

    describe('outbox and finished rollbacks', () => {
      const DAY = 86_400_000;
      const base = Date.parse('2025-01-01T00:00:00.000Z');
      const day = (d: number): string => new Date(base + d * DAY).toISOString();
      const input = (id: string, prompt: string, d: number, reason = 'error rate 30 %'): RollbackInput => ({
        rollback_id: id,
        prompt,
        reason,
        severity: 'high',
        mode: 'immediate',
        requested_by: 'alice',
        requested_at: day(d),
        verification: DEFAULT_VERIFICATION,
      });
      const finished = (v: RollbackView, status: RollbackView['status'], d: number): RollbackView => ({ ...v, status, updated_at: day(d) });

      it('deletes outbox rows older than the cut, except those of an open rollback', async () => {
        await s.rollbacks.claim(initialView(input('rb-open', 'cs', 0)));
        const send = async (key: string, d: number, rollback_id?: string) => {
          s.setNow(new Date(base + d * DAY));
          await s.notifier.notify({
            key,
            kind: 'alert',
            severity: 'low',
            prompt: 'cs',
            ...(rollback_id ? { rollback_id } : {}),
            title: key,
            message: key,
            links: {},
            data: {},
          });
        };
        await send('old-1', 0);
        await send('old-2', 1, 'rb-done');
        await send('old-open', 1, 'rb-open');
        await send('new', 40);
        const r = await s.storage.purgeOutbox(new Date(base + 31 * DAY), { ...budget, rows: 1 });
        expect(r).toMatchObject({ rows: 2, more: false });
        const keys = (await s.db.selectFrom('outbox').select('key').orderBy('key').execute()).map((x) => x.key);
        expect(keys).toEqual(['new', 'old-open']);
        expect(await s.storage.purgeOutbox(new Date(base + 31 * DAY), budget)).toMatchObject({ rows: 0 });
      });

      it('keeps an old outbox row while one of its deliveries is still pending or retrying; deletes finished delivery records with their row', async () => {
        s.setNow(new Date(base));
        for (const key of ['delivered', 'still-retrying']) {
          await s.notifier.notify({ key, kind: 'page', severity: 'high', prompt: 'cs', title: key, message: key, links: {}, data: {} });
        }
        const outbox = await s.db.selectFrom('outbox').select(['id', 'key']).execute();
        const delivery = (key: string, status: string) => {
          const row = outbox.find((o) => o.key === key)!;
          return {
            delivery_key: `${key}/webhook`,
            outbox_id: row.id,
            outbox_key: key,
            channel: 'webhook',
            rollback_id: null,
            prompt: 'cs',
            kind: 'page',
            severity: 'high',
            lifecycle: null,
            title: key,
            external_key: null,
            status,
            next_attempt_at: null,
            lease_owner: null,
            lease_until: null,
            last_http_status: status === 'sent' ? 202 : 500,
            last_reason: null,
            created_at: day(0),
            updated_at: day(0),
            sent_at: null,
          };
        };
        await s.db
          .insertInto('deliveries')
          .values([delivery('delivered', 'sent'), delivery('still-retrying', 'retrying')])
          .execute();
        expect(await s.storage.purgeOutbox(new Date(base + 31 * DAY), budget)).toMatchObject({ rows: 1 });
        expect((await s.db.selectFrom('outbox').select('key').execute()).map((x) => x.key)).toEqual(['still-retrying']);
        expect((await s.db.selectFrom('deliveries').select('outbox_key').execute()).map((x) => x.outbox_key)).toEqual(['still-retrying']);
      });

      it('deletes finished rollbacks older than the cut; keeps open ones, recent ones, one an open rollback refers to, and every audit row', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        await s.registry.addVersion({ prompt: 'cs', version: 'v1', template: 'a' }, 'alice');
        await s.registry.addVersion({ prompt: 'cs', version: 'v2', template: 'b' }, 'alice');
        await s.registry.switchActive({ prompt: 'cs', to: 'v2', action: 'deploy', key: 'dep', actor: 'alice', reason: '' });
        const old = initialView(input('rb-old', 'cs', 0));
        await s.rollbacks.claim(old);
        await s.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb-old', actor: 'alice', reason: 'errors' });
        await s.rollbacks.save(finished(old, 'completed', 1));
        const referenced = initialView(input('rb-ref', 'cs', 2));
        await s.rollbacks.claim(referenced);
        await s.rollbacks.save(finished(referenced, 'rejected', 3));
        const recent = initialView(input('rb-recent', 'cs', 300));
        await s.rollbacks.claim(recent);
        await s.rollbacks.save(finished(recent, 'cleared', 301));
        // Open since long ago, and its reason names rb-ref (the earlier incident it reopens).
        await s.rollbacks.claim(initialView(input('rb-open', 'cs', 5, 'same breach as rb-ref, rejected then')));
        const auditBefore = await s.registry.audit({ prompt: 'cs' });
        expect(auditBefore.some((a) => a.rollback_id === 'rb-old')).toBe(true);

        const r = await s.storage.purgeRollbacks(new Date(base + 200 * DAY), { ...budget, rows: 1 });
        expect(r).toMatchObject({ rows: 1, more: false });
        expect(await s.rollbacks.get('rb-old')).toBeUndefined();
        expect((await s.rollbacks.list({ prompt: 'cs' })).map((v) => v.rollback_id).sort()).toEqual(['rb-open', 'rb-recent', 'rb-ref']);
        expect(await s.registry.audit({ prompt: 'cs' })).toEqual(auditBefore);
        expect(await s.storage.purgeRollbacks(new Date(base + 200 * DAY), budget)).toMatchObject({ rows: 0 });
      });
    });
  });
}
