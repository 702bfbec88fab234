import { PostgresAdapter, sql, type Kysely } from 'kysely';
import * as hist from '../../domain/histogram';
import { ROLLUP_S } from '../../domain/storage';
import type { WindowStats } from '../../domain/verdict';
import type { MetricEvent, MetricsStore } from '../../ports/metrics';
import { pgArray } from '../sql/db';
import type { Database } from '../sql/schema';
import { packPairs, sumBins } from './packed-bins';
import { BUCKET_COLUMNS, mergeBucket, type BucketRow, type SqlitePreparedWrites } from './sqlite-writes';

/** Width of one aggregation bucket. A window read touches window/BUCKET_S rows per version, never raw events. */
export const BUCKET_S = 1;

/** Rows per INSERT: under SQLite's 32,766 bound parameters (Postgres allows 65,535). */
const PARAMS_PER_STATEMENT = 30_000;
const chunks = <T>(rows: T[], columns: number): T[][] => {
  const size = Math.floor(PARAMS_PER_STATEMENT / columns);
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
};

/** A batch's rows for one prompt beyond which they are looked up by key rather than scanned. */
const INDEX_PROMPT_ROWS = 8;

/** What each branch of the window's one statement reads; its rows carry the number as `part`. */
const PART = { fine: 0, coarse: 1, fineBin: 2, coarseHist: 3, packed: 4 } as const;
interface WindowPart {
  part: number;
  requests: number | string | null;
  errors: number | string | null;
  quality_sum: number | string | null;
  quality_count: number | string | null;
  bin: number | null;
  hist: string | null;
  bins: Uint8Array | null;
}

/** One order for every writer, so that concurrent batches lock the same rows in the same order (no deadlock). */
const byKey = (a: { prompt: string; version: string; bucket: number }, b: typeof a): number =>
  a.prompt < b.prompt ? -1 : a.prompt > b.prompt ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : a.bucket - b.bucket;

/**
 * Metrics aggregated on arrival into (prompt, version, 1-s bucket) rows of counts and sums, with the latency
 * histogram as (bucket, log-scale bin) rows. A batch is aggregated in memory, then merged into the stored rows
 * with one INSERT … ON CONFLICT DO UPDATE per table: atomic under concurrent writers on both dialects.
 */
export class SqlMetricsStore implements MetricsStore {
  /**
   * Postgres takes a batch's rows as one array per column (`unnest`): one short statement, the same text every time,
   * instead of a VALUES list of thousands of parameters that the server parses and plans anew for each batch.
   */
  private readonly arrays: boolean;

  constructor(
    private readonly db: Kysely<Database>,
    /** Width of the rolled-up buckets (metric_buckets_1m), as the storage maintenance writes them. */
    private readonly rollup_s: number = ROLLUP_S,
    /** SQLite: write through statements prepared once (the ingest thread, whose connection is its own). */
    private readonly prepared?: SqlitePreparedWrites,
  ) {
    this.arrays = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  async ingest(events: readonly MetricEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    // prompt → its rows (one per version and second: nearly always one): one map read per event, no key string built.
    // A prompt with many rows (a batch spread over many seconds or versions) gets an index of its own, so that finding a
    // row never scans them all. A batch's events nearly all carry the same moment (the time it arrived): its second is
    // computed once.
    type Row = BucketRow & { pairs: number[] };
    interface PromptRows {
      rows: Row[];
      index?: Map<string, Row>;
    }
    const byPrompt = new Map<string, PromptRows>();
    const keyOf = (version: string, bucket: number) => `${version}\u0000${bucket}`;
    const all: Row[] = [];
    let lastAt: Date | undefined;
    let bucket = 0;
    for (const e of events) {
      if (e.at !== lastAt) {
        lastAt = e.at;
        bucket = Math.floor(e.at.getTime() / 1000 / BUCKET_S) * BUCKET_S;
      }
      let pr = byPrompt.get(e.prompt);
      if (!pr) byPrompt.set(e.prompt, (pr = { rows: [] }));
      let g: Row | undefined;
      if (pr.index) g = pr.index.get(keyOf(e.version, bucket));
      else
        for (const r of pr.rows)
          if (r.bucket === bucket && r.version === e.version) {
            g = r;
            break;
          }
      if (!g) {
        g = { prompt: e.prompt, version: e.version, bucket, requests: 0, errors: 0, quality_sum: 0, quality_count: 0, pairs: [] };
        pr.rows.push(g);
        all.push(g);
        if (pr.index) pr.index.set(keyOf(g.version, bucket), g);
        else if (pr.rows.length > INDEX_PROMPT_ROWS) pr.index = new Map(pr.rows.map((r) => [keyOf(r.version, r.bucket), r]));
      }
      g.requests += 1;
      if (!e.ok) g.errors += 1;
      if (e.quality !== undefined) {
        g.quality_sum += e.quality;
        g.quality_count += 1;
      }
      const bin = hist.bucketOf(e.latency_ms);
      const pairs = g.pairs;
      let i = 0;
      while (i < pairs.length && pairs[i] !== bin) i += 2;
      if (i < pairs.length) pairs[i + 1]! += 1;
      else pairs.push(bin, 1);
    }
    const bucketRows: BucketRow[] = all.sort(byKey);
    for (const r of all) r.latency_bins = packPairs(r.pairs) ?? null;
    if (this.prepared) {
      this.prepared.write(bucketRows);
      return events.length;
    }
    if (this.arrays) {
      // Each column as one array literal (pgArray): pg's own serialisation of 8,000 values cost more than the aggregation.
      const col = <K extends keyof BucketRow>(k: K): string => pgArray(bucketRows.map((r) => r[k] ?? null));
      await sql`
        INSERT INTO metric_buckets (${sql.raw(BUCKET_COLUMNS)})
        SELECT * FROM unnest(${col('prompt')}::text[], ${col('version')}::text[], ${col('bucket')}::bigint[],
          ${col('requests')}::integer[], ${col('errors')}::integer[], ${col('quality_sum')}::double precision[],
          ${col('quality_count')}::integer[], ${col('latency_bins')}::bytea[])
        ${sql.raw(mergeBucket('postgres'))}`.execute(this.db);
      return events.length;
    }
    await this.db.transaction().execute(async (tx) => {
      for (const rows of chunks(bucketRows, 8)) {
        const values = rows.map(
          (r) =>
            sql`(${r.prompt}, ${r.version}, ${r.bucket}, ${r.requests}, ${r.errors}, ${r.quality_sum}, ${r.quality_count}, ${r.latency_bins ?? null})`,
        );
        await sql`INSERT INTO metric_buckets (${sql.raw(BUCKET_COLUMNS)}) VALUES ${sql.join(values)} ${sql.raw(mergeBucket('sqlite'))}`.execute(
          tx,
        );
      }
    });
    return events.length;
  }

  async lastSeen(prompt: string, version: string): Promise<Date | undefined> {
    // The end of the latest bucket at either resolution (a late 1-s row can sit inside a rolled-up minute): both in one
    // statement, one round trip.
    const latest = (table: 'metric_buckets' | 'metric_buckets_1m') =>
      sql<number | string | null>`(SELECT max(bucket) FROM ${sql.table(table)} WHERE prompt = ${prompt} AND version = ${version})`;
    const { rows } = await sql<{ fine: number | string | null; coarse: number | string | null }>`
      SELECT ${latest('metric_buckets')} AS fine, ${latest('metric_buckets_1m')} AS coarse`.execute(this.db);
    const { fine, coarse } = rows[0] ?? { fine: null, coarse: null };
    const ends = [fine === null ? undefined : Number(fine) + BUCKET_S, coarse === null ? undefined : Number(coarse) + this.rollup_s].filter(
      (x): x is number => x !== undefined,
    );
    return ends.length === 0 ? undefined : new Date(Math.max(...ends) * 1000);
  }

  async lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined> {
    const last = await this.lastSeen(prompt, version);
    return last && this.window(prompt, version, new Date(last.getTime() - window_s * 1000), last);
  }

  async window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats> {
    // 1-s buckets: every second the window touches counts whole, so traffic just after `from` (a verification since
    // the switch) and in the current second (a window ending now) is never lost to an edge.
    // Rolled-up buckets (1 min by default, older than a couple of hours): one counts whole when its start is in
    // [from, to), else not at all; windows on whole minutes read exactly what they read at 1-s, and windows that
    // meet add up. Whole-number bounds, as the bigint column needs on Postgres.
    const lo = Math.floor(from.getTime() / 1000 / BUCKET_S) * BUCKET_S;
    const hi = Math.ceil(to.getTime() / 1000 / BUCKET_S) * BUCKET_S;
    const loMinute = Math.ceil(from.getTime() / 1000);
    const hiMinute = Math.ceil(to.getTime() / 1000);
    // One statement: one round trip (and one pool connection) a window, and one snapshot of all three tables, so a
    // roll-up that commits meanwhile cannot move a minute from under the read (counted twice, or not at all). Each
    // branch tags its rows with `part`; the typed nulls let Postgres line the branches' columns up.
    const blob = this.arrays ? sql.raw('bytea') : sql.raw('blob');
    const inRange = (a: number, b: number) => sql`prompt = ${prompt} AND version = ${version} AND bucket >= ${a} AND bucket < ${b}`;
    const totalsOf = (part: number, table: 'metric_buckets' | 'metric_buckets_1m', a: number, b: number) =>
      sql`SELECT ${sql.lit(part)} AS part, sum(requests) AS requests, sum(errors) AS errors, sum(quality_sum) AS quality_sum,
        sum(quality_count) AS quality_count, CAST(NULL AS integer) AS bin, CAST(NULL AS text) AS hist, CAST(NULL AS ${blob}) AS bins
        FROM ${sql.table(table)} WHERE ${inRange(a, b)}`;
    const { rows } = await sql<WindowPart>`
      ${totalsOf(PART.fine, 'metric_buckets', lo, hi)}
      UNION ALL ${totalsOf(PART.coarse, 'metric_buckets_1m', loMinute, hiMinute)}
      UNION ALL SELECT ${sql.lit(PART.fineBin)}, sum(count), NULL, NULL, NULL, bin, NULL, NULL
        FROM metric_latency WHERE ${inRange(lo, hi)} GROUP BY bin
      UNION ALL SELECT ${sql.lit(PART.coarseHist)}, NULL, NULL, NULL, NULL, NULL, latency_hist, NULL
        FROM metric_buckets_1m WHERE ${inRange(loMinute, hiMinute)}
      UNION ALL SELECT ${sql.lit(PART.packed)}, NULL, NULL, NULL, NULL, NULL, NULL, latency_bins
        FROM metric_buckets WHERE ${inRange(lo, hi)} AND latency_bins IS NOT NULL`.execute(this.db);
    const totals = rows.filter((r) => r.part === PART.fine || r.part === PART.coarse);
    // Postgres returns sums of integers as strings (bigint, numeric), SQLite as numbers; an empty range sums to null.
    const sum = (k: 'requests' | 'errors' | 'quality_sum' | 'quality_count') => totals.reduce((n, r) => n + Number(r[k] ?? 0), 0);
    const requests = sum('requests');
    const errors = sum('errors');
    const qSum = sum('quality_sum');
    const qCount = sum('quality_count');
    const h: hist.Histogram = {};
    const packed: Uint8Array[] = [];
    for (const r of rows) {
      // Rows written before migration 0015: a row per latency bin, summed by the branch (its count in `requests`).
      if (r.part === PART.fineBin) h[String(r.bin)] = (h[String(r.bin)] ?? 0) + Number(r.requests);
      else if (r.part === PART.packed && r.bins) packed.push(r.bins);
    }
    // A busy prompt's 300 packed rows hold some 15,000 pairs: added up by number first, turned into keys once.
    for (const [bin, count] of sumBins(packed)) h[String(bin)] = (h[String(bin)] ?? 0) + count;
    for (const r of rows) if (r.part === PART.coarseHist && r.hist) hist.merge(h, JSON.parse(r.hist) as hist.Histogram);
    return {
      requests,
      errors,
      error_rate: requests === 0 ? null : errors / requests,
      latency_ms: { p50: hist.quantile(h, 0.5), p95: hist.quantile(h, 0.95), p99: hist.quantile(h, 0.99) },
      quality_mean: qCount === 0 ? null : qSum / qCount,
      quality_samples: qCount,
      window_s: Math.round((to.getTime() - from.getTime()) / 1000),
    };
  }
}
