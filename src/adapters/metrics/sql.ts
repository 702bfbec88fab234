import type { Kysely } from 'kysely';
import * as hist from '../../domain/histogram';
import type { WindowStats } from '../../domain/verdict';
import type { MetricEvent, MetricsStore } from '../../ports/metrics';
import { json, parseJson } from '../sql/db';
import type { Database } from '../sql/schema';

/** Width of one aggregation bucket. A window read touches window/BUCKET_S rows per version, never raw events. */
export const BUCKET_S = 1;

interface Agg {
  prompt: string;
  version: string;
  bucket: number;
  requests: number;
  errors: number;
  hist: hist.Histogram;
  quality_sum: number;
  quality_count: number;
}

/** Metrics aggregated on arrival into (prompt, version, 1-s bucket) rows with a log-scale latency histogram. */
export class SqlMetricsStore implements MetricsStore {
  constructor(private readonly db: Kysely<Database>) {}

  async ingest(events: readonly MetricEvent[]): Promise<number> {
    const groups = new Map<string, Agg>();
    for (const e of events) {
      const bucket = Math.floor(e.at.getTime() / 1000 / BUCKET_S) * BUCKET_S;
      const k = `${e.prompt}\u0000${e.version}\u0000${bucket}`;
      let g = groups.get(k);
      if (!g) {
        g = { prompt: e.prompt, version: e.version, bucket, requests: 0, errors: 0, hist: {}, quality_sum: 0, quality_count: 0 };
        groups.set(k, g);
      }
      g.requests += 1;
      if (!e.ok) g.errors += 1;
      hist.record(g.hist, e.latency_ms);
      if (e.quality !== undefined) {
        g.quality_sum += e.quality;
        g.quality_count += 1;
      }
    }
    await this.db.transaction().execute(async (tx) => {
      for (const g of groups.values()) {
        const cur = await tx
          .selectFrom('metric_buckets')
          .selectAll()
          .where('prompt', '=', g.prompt)
          .where('version', '=', g.version)
          .where('bucket', '=', g.bucket)
          .executeTakeFirst();
        if (!cur) {
          await tx
            .insertInto('metric_buckets')
            .values({
              prompt: g.prompt,
              version: g.version,
              bucket: g.bucket,
              requests: g.requests,
              errors: g.errors,
              latency_hist: json(g.hist),
              quality_sum: g.quality_sum,
              quality_count: g.quality_count,
            })
            .execute();
        } else {
          await tx
            .updateTable('metric_buckets')
            .set({
              requests: Number(cur.requests) + g.requests,
              errors: Number(cur.errors) + g.errors,
              latency_hist: json(hist.merge(parseJson<hist.Histogram>(cur.latency_hist, {}), g.hist)),
              quality_sum: Number(cur.quality_sum) + g.quality_sum,
              quality_count: Number(cur.quality_count) + g.quality_count,
            })
            .where('prompt', '=', g.prompt)
            .where('version', '=', g.version)
            .where('bucket', '=', g.bucket)
            .execute();
        }
      }
    });
    return events.length;
  }

  async lastSeen(prompt: string, version: string): Promise<Date | undefined> {
    const r = await this.db
      .selectFrom('metric_buckets')
      .select((eb) => eb.fn.max('bucket').as('last'))
      .where('prompt', '=', prompt)
      .where('version', '=', version)
      .executeTakeFirst();
    const last = r?.last;
    return last === null || last === undefined ? undefined : new Date((Number(last) + BUCKET_S) * 1000);
  }

  async lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined> {
    const last = await this.lastSeen(prompt, version);
    return last && this.window(prompt, version, new Date(last.getTime() - window_s * 1000), last);
  }

  async window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats> {
    // Resolution is one bucket: a bucket counts when it starts in [from, to), so windows that meet never share
    // one, and a window ending now holds the current second. Whole numbers, as the bigint column needs.
    const lo = Math.ceil(from.getTime() / 1000 / BUCKET_S) * BUCKET_S;
    const hi = Math.ceil(to.getTime() / 1000 / BUCKET_S) * BUCKET_S;
    const rows = await this.db
      .selectFrom('metric_buckets')
      .selectAll()
      .where('prompt', '=', prompt)
      .where('version', '=', version)
      .where('bucket', '>=', lo)
      .where('bucket', '<', hi)
      .execute();
    let requests = 0;
    let errors = 0;
    let qSum = 0;
    let qCount = 0;
    const h: hist.Histogram = {};
    for (const r of rows) {
      requests += Number(r.requests);
      errors += Number(r.errors);
      qSum += Number(r.quality_sum);
      qCount += Number(r.quality_count);
      hist.merge(h, parseJson<hist.Histogram>(r.latency_hist, {}));
    }
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
