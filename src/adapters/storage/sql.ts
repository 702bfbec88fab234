import { sql, type Kysely, type Transaction } from 'kysely';
import { ROLLUP_S, type StorageBudget, type StorageStepResult } from '../../domain/storage';
import { TERMINAL_STATUSES } from '../../domain/rollback';
import type { StorageMaintenance } from '../../ports/storage';
import type { Dialect } from '../sql/migrations';
import type { Database } from '../sql/schema';

/** Rolled-up metrics dropped per transaction: an hour of them. (1-s metrics move one roll-up bucket per transaction.) */
const DROP_BATCH_S = 3600;
const SQLITE_PAIRS_PER_TX = 20;

/** The metrics' database and its dialect (the roll-up statements differ). */
export interface MetricsDatabase {
  kysely: Kysely<Database>;
  dialect: Dialect;
}

type Pair = { prompt: string; version: string };

/**
 * Storage maintenance over the SQL store. Every step works in batches (one transaction each, oldest data first)
 * and stops when its budget is spent, saying whether more is left; running it again continues where it stopped.
 *
 * Roll-up and concurrent ingest: ingest merges a batch with INSERT … ON CONFLICT DO UPDATE. On SQLite a roll-up
 * batch holds the write lock for its whole transaction, so it moves a consistent set of rows. On Postgres each
 * roll-up statement deletes rows and adds exactly what it deleted (DELETE … RETURNING inside the INSERT), so a
 * concurrent ingest either updated a row before it was deleted (moved with it) or waits and inserts a fresh 1-s row
 * afterwards (moved by the next pass); an event is never lost nor counted twice. Both lock buckets before latency
 * bins, each in key order, so the two never deadlock.
 *
 * Metrics may live in a database of their own (SQLite: a separate file, so a switch never waits for the write lock
 * behind a metrics batch): roll-up and metric retention act there, outbox and rollback retention on the registry's.
 */
export class SqlStorage implements StorageMaintenance {
  private readonly metrics: MetricsDatabase;

  constructor(
    /** The registry's database: outbox, deliveries, rollbacks. */
    private readonly db: Kysely<Database>,
    dialect: Dialect,
    /** Width of a rolled-up bucket: the metrics store must read with the same. */
    private readonly rollup_s: number = ROLLUP_S,
    /** Where the metrics live when they have a database of their own (a separate SQLite file); else the registry's. */
    metrics?: MetricsDatabase,
  ) {
    this.metrics = metrics ?? { kysely: db, dialect };
  }

  async rollUpMetrics(before: number, budget: StorageBudget): Promise<StorageStepResult> {
    // Only whole roll-up buckets move, so a rolled-up bucket never covers seconds still stored at 1-s but late ones.
    const cut = Math.floor(before / this.rollup_s) * this.rollup_s;
    return this.byTimeBatches('metric_buckets', cut, this.rollup_s, budget, (lo, hi) =>
      this.metrics.dialect === 'postgres'
        ? this.metrics.kysely.transaction().execute((tx) => this.rollUpRangePostgres(tx, lo, hi))
        : this.rollUpRangeSqlite(lo, hi),
    );
  }

  async dropMetrics(before: number, budget: StorageBudget): Promise<StorageStepResult> {
    return this.byTimeBatches('metric_buckets_1m', before, DROP_BATCH_S, budget, async (lo, hi) => {
      const r = await this.metrics.kysely
        .deleteFrom('metric_buckets_1m')
        .where('bucket', '>=', lo)
        .where('bucket', '<', hi)
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }

  async purgeOutbox(before: Date, budget: StorageBudget): Promise<StorageStepResult> {
    return this.byRowBatches(budget, async (tx) => {
      const rows = await tx
        .selectFrom('outbox')
        .select('id')
        .where('created_at', '<', before.toISOString())
        .where((eb) =>
          eb.or([
            eb('rollback_id', 'is', null),
            eb.not(eb('rollback_id', 'in', eb.selectFrom('rollbacks').select('rollback_id').where('open', '=', 1))),
          ]),
        )
        // A notification still being delivered stays until its deliveries end (sent, failed or skipped).
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('deliveries')
                .select('deliveries.id')
                .whereRef('deliveries.outbox_id', '=', 'outbox.id')
                .where('deliveries.status', 'in', ['pending', 'retrying']),
            ),
          ),
        )
        .orderBy('id')
        .limit(budget.rows)
        .execute();
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return 0;
      // Its delivery records go with it: they describe a notification that is no longer kept.
      await tx.deleteFrom('deliveries').where('outbox_id', 'in', ids).execute();
      const r = await tx.deleteFrom('outbox').where('id', 'in', ids).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }

  async purgeRollbacks(before: Date, budget: StorageBudget): Promise<StorageStepResult> {
    return this.byRowBatches(budget, async (tx) => {
      // Open rollbacks are few (one per prompt at most): one that names a finished one keeps it.
      const open = await tx.selectFrom('rollbacks').select(['view', 'input']).where('open', '=', 1).execute();
      const refersTo = (id: string) => open.some((o) => o.view.includes(id) || (o.input ?? '').includes(id));
      const candidates = await tx
        .selectFrom('rollbacks')
        .select('rollback_id')
        .where('open', '=', 0)
        .where('status', 'in', [...TERMINAL_STATUSES])
        .where('updated_at', '<', before.toISOString())
        .orderBy('updated_at')
        .orderBy('rollback_id')
        .execute();
      const due = candidates
        .map((c) => c.rollback_id)
        .filter((id) => !refersTo(id))
        .slice(0, budget.rows);
      if (due.length === 0) return 0;
      // Audit rows are separate and stay for the audit period: nothing cascades from here.
      const r = await tx.deleteFrom('rollbacks').where('rollback_id', 'in', due).where('open', '=', 0).executeTakeFirst();
      return Number(r.numDeletedRows);
    });
  }

  /** Postgres: moves the 1-s rows of [lo, hi) into 1-min rows, adding to those already there; one statement per (prompt, version). */
  private async rollUpRangePostgres(tx: Transaction<Database>, lo: number, hi: number): Promise<number> {
    const w = this.rollup_s;
    let moved = 0;
    // Lock in ingest's order (prompt, version, bucket) before deleting, so the two never wait on each other in a cycle.
    // Ingest sorts by code unit: byte order, COLLATE "C" (a locale's order puts 'B' after 'a', '-' nearly nowhere).
    const locked = await sql<
      Pair & { bucket: string }
    >`SELECT prompt, version, bucket FROM metric_buckets WHERE bucket >= ${lo} AND bucket < ${hi}
        ORDER BY prompt COLLATE "C", version COLLATE "C", bucket FOR UPDATE`.execute(tx);
    // The locked seconds of each (prompt, version), the pairs in lock order.
    const pairs = new Map<string, Pair & { own: number[] }>();
    for (const row of locked.rows) {
      const k = `${row.prompt}\u0000${row.version}`;
      const pair = pairs.get(k) ?? { prompt: row.prompt, version: row.version, own: [] };
      pair.own.push(Number(row.bucket));
      pairs.set(k, pair);
    }
    for (const p of pairs.values()) {
      // Both deletes run on one snapshot and add exactly the rows they deleted. The 1-s rows deleted are the ones
      // locked above and no others: a row an ingest committed since (a new second) is left for the next pass. Deleting
      // it too would take its lock out of order, behind an ingest that holds it and waits for a row locked here: a
      // deadlock, and one of the two would fail.
      const r = await sql<{ n: string }>`
          WITH mb AS (
            DELETE FROM metric_buckets WHERE prompt = ${p.prompt} AND version = ${p.version} AND bucket = ANY(${p.own}::bigint[])
            RETURNING bucket - bucket % ${w} AS m, requests, errors, quality_sum, quality_count, latency_bins
          ), ml AS (
            DELETE FROM metric_latency WHERE prompt = ${p.prompt} AND version = ${p.version} AND bucket >= ${lo} AND bucket < ${hi}
            RETURNING bucket - bucket % ${w} AS m, bin, count
          ), bins AS (
            SELECT m, bin, sum(count) AS c FROM (
              SELECT m, bin, count FROM ml
              UNION ALL SELECT mb.m, b.bin, b.count FROM mb, hist_bins(mb.latency_bins) b WHERE mb.latency_bins IS NOT NULL
            ) u GROUP BY m, bin
          ), hists AS (
            SELECT m, jsonb_object_agg(bin::text, c)::text AS h FROM bins GROUP BY m
          ), totals AS (
            SELECT m, sum(requests) AS requests, sum(errors) AS errors, sum(quality_sum) AS quality_sum, sum(quality_count) AS quality_count
            FROM mb GROUP BY m
          ), added AS (
            INSERT INTO metric_buckets_1m (prompt, version, bucket, requests, errors, quality_sum, quality_count, latency_hist)
            SELECT ${p.prompt}, ${p.version}, coalesce(t.m, h.m), coalesce(t.requests, 0), coalesce(t.errors, 0),
              coalesce(t.quality_sum, 0), coalesce(t.quality_count, 0), coalesce(h.h, '{}')
            FROM totals t FULL JOIN hists h ON h.m = t.m
            ORDER BY 3
            ON CONFLICT (prompt, version, bucket) DO UPDATE SET
              requests = metric_buckets_1m.requests + excluded.requests,
              errors = metric_buckets_1m.errors + excluded.errors,
              quality_sum = metric_buckets_1m.quality_sum + excluded.quality_sum,
              quality_count = metric_buckets_1m.quality_count + excluded.quality_count,
              latency_hist = (
                SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)::text FROM (
                  SELECT key, sum(value::bigint) AS total FROM (
                    SELECT * FROM jsonb_each_text(metric_buckets_1m.latency_hist::jsonb)
                    UNION ALL SELECT * FROM jsonb_each_text(excluded.latency_hist::jsonb)
                  ) u GROUP BY key
                ) s
              )
          )
          SELECT (SELECT count(*) FROM mb) + (SELECT count(*) FROM ml) AS n`.execute(tx);
      moved += Number(r.rows[0]?.n ?? 0);
    }
    return moved;
  }

  /**
   * SQLite: a transaction holds the one write lock, so read-add-delete is one consistent step. A few (prompt, version)
   * pairs per transaction, so ingest waits milliseconds for the lock, not the whole minute's move.
   */
  private async rollUpRangeSqlite(lo: number, hi: number): Promise<number> {
    const w = this.rollup_s;
    let moved = 0;
    const pairs = await this.metrics.kysely
      .selectFrom('metric_buckets')
      .select(['prompt', 'version'])
      .distinct()
      .where('bucket', '>=', lo)
      .where('bucket', '<', hi)
      .execute();
    for (let i = 0; i < pairs.length; i += SQLITE_PAIRS_PER_TX) {
      moved += await this.metrics.kysely.transaction().execute(async (tx) => {
        let n = 0;
        for (const p of pairs.slice(i, i + SQLITE_PAIRS_PER_TX)) {
          await sql`
              INSERT INTO metric_buckets_1m (prompt, version, bucket, requests, errors, quality_sum, quality_count, latency_hist)
              SELECT ${p.prompt}, ${p.version}, t.m, t.requests, t.errors, t.quality_sum, t.quality_count, coalesce(h.h, '{}')
              FROM (
                SELECT bucket - bucket % ${w} AS m, sum(requests) AS requests, sum(errors) AS errors, sum(quality_sum) AS quality_sum,
                  sum(quality_count) AS quality_count
                FROM metric_buckets WHERE prompt = ${p.prompt} AND version = ${p.version} AND bucket >= ${lo} AND bucket < ${hi} GROUP BY 1
              ) t LEFT JOIN (
                SELECT m, json_group_object(CAST(bin AS TEXT), c) AS h FROM (
                  SELECT bucket - bucket % ${w} AS m, bin, sum(count) AS c FROM (
                    SELECT bucket, bin, count FROM metric_latency
                    WHERE prompt = ${p.prompt} AND version = ${p.version} AND bucket >= ${lo} AND bucket < ${hi}
                    UNION ALL
                    SELECT mb.bucket, CAST(b.bin AS INTEGER), CAST(b.count AS INTEGER) FROM metric_buckets mb, hist_bins(mb.latency_bins) b
                    WHERE mb.prompt = ${p.prompt} AND mb.version = ${p.version} AND mb.bucket >= ${lo} AND mb.bucket < ${hi}
                      AND mb.latency_bins IS NOT NULL
                  ) GROUP BY 1, 2
                ) GROUP BY m
              ) h ON h.m = t.m
              WHERE true
              ON CONFLICT (prompt, version, bucket) DO UPDATE SET
                requests = metric_buckets_1m.requests + excluded.requests,
                errors = metric_buckets_1m.errors + excluded.errors,
                quality_sum = metric_buckets_1m.quality_sum + excluded.quality_sum,
                quality_count = metric_buckets_1m.quality_count + excluded.quality_count,
                latency_hist = (
                  SELECT coalesce(json_group_object(key, total), '{}') FROM (
                    SELECT key, sum(value) AS total FROM (
                      SELECT key, value FROM json_each(metric_buckets_1m.latency_hist)
                      UNION ALL SELECT key, value FROM json_each(excluded.latency_hist)
                    ) GROUP BY key
                  )
                )`.execute(tx);
          const l = await tx
            .deleteFrom('metric_latency')
            .where('prompt', '=', p.prompt)
            .where('version', '=', p.version)
            .where('bucket', '>=', lo)
            .where('bucket', '<', hi)
            .executeTakeFirst();
          const b = await tx
            .deleteFrom('metric_buckets')
            .where('prompt', '=', p.prompt)
            .where('version', '=', p.version)
            .where('bucket', '>=', lo)
            .where('bucket', '<', hi)
            .executeTakeFirst();
          n += Number(l.numDeletedRows) + Number(b.numDeletedRows);
        }
        return n;
      });
    }
    return moved;
  }

  /** Batches of `span_s` from the oldest bucket of `table` before `before`, one transaction each. */
  private async byTimeBatches(
    table: 'metric_buckets' | 'metric_buckets_1m',
    before: number,
    span_s: number,
    budget: StorageBudget,
    step: (lo: number, hi: number) => Promise<number>,
  ): Promise<StorageStepResult> {
    const result: StorageStepResult = { rows: 0, batches: 0, more: false };
    for (;;) {
      const oldest = await this.metrics.kysely
        .selectFrom(table)
        .select((eb) => eb.fn.min('bucket').as('b'))
        .where('bucket', '<', before)
        .executeTakeFirst();
      if (oldest?.b === null || oldest?.b === undefined) return result;
      if (result.batches >= budget.max_batches || (budget.until !== undefined && Date.now() > budget.until))
        return { ...result, more: true };
      const lo = Math.floor(Number(oldest.b) / span_s) * span_s;
      const hi = Math.min(lo + span_s, before);
      result.rows += await step(lo, hi);
      result.batches += 1;
    }
  }

  private async byRowBatches(budget: StorageBudget, step: (tx: Transaction<Database>) => Promise<number>): Promise<StorageStepResult> {
    const result: StorageStepResult = { rows: 0, batches: 0, more: false };
    for (;;) {
      if (result.batches >= budget.max_batches || (budget.until !== undefined && Date.now() > budget.until))
        return { ...result, more: true };
      const n = await this.db.transaction().execute(step);
      if (n === 0) return result;
      result.rows += n;
      result.batches += 1;
    }
  }
}
