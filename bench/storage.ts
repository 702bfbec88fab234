/**
 * bench/storage — how big the metrics store gets at 10,000 events/s, with and without the storage schedule.
 *
 *   npm run bench:storage        (a few minutes on 2 cores; SAMPLE_MINUTES=… PAIRS=… RATE=… to change 2 / 200 / 10000;
 *                                 DATABASE_URL=postgres://… to use that server instead of a throwaway local one)
 *
 * A simulated day is not written in full (864 M events): SAMPLE_MINUTES whole minutes at the full rate, spread over
 * the day (`at` timestamps hours apart), go through the real ingest path (one batch per second, as the API does).
 * Their 1-s tables are measured, then the storage pass runs as the schedule would once two hours have passed
 * (compressed time: its clock is set, nothing sleeps) and the 1-min tables it wrote are measured. Sizes per
 * second of traffic (1-s resolution) and per minute of traffic (1-min resolution) are extrapolated linearly:
 *
 *   baseline (today's behaviour: no roll-up, no retention) after D days = D · 86,400 · bytes/s   (grows forever)
 *   with the schedule, after 1 day = 7,200 · bytes/s + (1,440 − 120) · bytes/min
 *   with the schedule, steady state (30 days)  = 7,200 · bytes/s + 43,200 · bytes/min             (the target: bounded)
 *
 * Sizes: SQLite, pages in use per table (dbstat) — the file does not shrink after deletes, freed pages are reused
 * by the next inserts, so a file in steady state is about this size; Postgres, pg_total_relation_size (heap, indexes,
 * TOAST) of each table. Traffic: PAIRS prompt/versions share RATE events/s equally; latencies log-normal around a
 * per-version median (80 ms … 2.5 s, σ = 0.6), 1 % errors, a quality score on 60 % of events.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createStorageActivities } from '../src/activities/storage';
import { SqlMetricsStore } from '../src/adapters/metrics/sql';
import { openDb, type Db } from '../src/adapters/sql/db';
import { SqlStorage } from '../src/adapters/storage/sql';
import { DEFAULT_STORAGE } from '../src/domain/storage';
import type { MetricEvent } from '../src/ports/metrics';
import { findPostgres, startPostgres, type PgInstance } from '../test/support/postgres';

const SAMPLE_MINUTES = Number(process.env.SAMPLE_MINUTES ?? 2);
const PAIRS = Number(process.env.PAIRS ?? 200);
const RATE = Number(process.env.RATE ?? 10_000);
const DAY0 = Date.parse('2026-01-05T00:00:00Z');
const FINE = ['metric_buckets', 'metric_latency'];
const COARSE = ['metric_buckets_1m'];

/** Deterministic pseudo-random numbers (mulberry32), so every run writes the same traffic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pairs = Array.from({ length: PAIRS }, (_, i) => ({
  prompt: `prompt-${String(Math.floor(i / 5)).padStart(3, '0')}`,
  version: `v1.${i % 5}.0`,
  median: 80 * Math.pow(2.5_000 / 80, ((i * 37) % PAIRS) / PAIRS),
}));

/** One second of traffic at RATE events/s. */
function second(t: number, random: () => number): MetricEvent[] {
  const perPair = Math.floor(RATE / PAIRS);
  const out: MetricEvent[] = [];
  for (const p of pairs) {
    for (let i = 0; i < perPair; i++) {
      // Box–Muller: a log-normal latency around the version's median.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const q = random();
      out.push({
        prompt: p.prompt,
        version: p.version,
        ok: random() >= 0.01,
        latency_ms: p.median * Math.exp(0.6 * z),
        ...(q < 0.6 ? { quality: 0.5 + q * 0.8 } : {}),
        at: new Date(t + Math.floor(random() * 1000)),
      });
    }
  }
  return out;
}

async function tableBytes(db: Db, tables: string[]): Promise<number> {
  if (db.dialect === 'postgres') {
    let total = 0;
    for (const t of tables) {
      const r = await sql<{ n: string }>`SELECT pg_total_relation_size(${t}::regclass) AS n`.execute(db.kysely);
      total += Number(r.rows[0]!.n);
    }
    return total;
  }
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db.kysely);
  // A table's pages and those of its indexes (the primary key's autoindex, the time index).
  const r = await sql<{ n: number | null }>`
    SELECT sum(s.pgsize) AS n FROM dbstat s JOIN sqlite_schema m ON m.name = s.name
    WHERE m.tbl_name IN (${sql.join(tables)})`.execute(db.kysely);
  return Number(r.rows[0]?.n ?? 0);
}

async function rows(db: Db, tables: string[]): Promise<number> {
  let n = 0;
  for (const t of tables)
    n += Number((await sql<{ n: string | number }>`SELECT count(*) AS n FROM ${sql.table(t)}`.execute(db.kysely)).rows[0]!.n);
  return n;
}

const fmt = (b: number): string =>
  b >= 1e12
    ? `${(b / 1e12).toFixed(2)} TB`
    : b >= 1e9
      ? `${(b / 1e9).toFixed(2)} GB`
      : b >= 1e6
        ? `${(b / 1e6).toFixed(1)} MB`
        : `${(b / 1e3).toFixed(1)} kB`;

async function run(name: string, url: string, fileOf?: string): Promise<void> {
  const db = await openDb(url);
  const metrics = new SqlMetricsStore(db.kysely);
  const storage = new SqlStorage(db.kysely, db.dialect);
  const random = rng(42);
  const started = Date.now();
  let ingestMs = 0;
  // Sample minutes hours apart across the day, as traffic at different times of day would be.
  const minutes = Array.from({ length: SAMPLE_MINUTES }, (_, k) => DAY0 + Math.floor(((k + 0.5) * 24) / SAMPLE_MINUTES) * 3_600_000);
  for (const m of minutes) {
    for (let s = 0; s < 60; s++) {
      const batch = second(m + s * 1000, random);
      const t = Date.now();
      await metrics.ingest(batch);
      ingestMs += Date.now() - t;
    }
  }
  const seconds = SAMPLE_MINUTES * 60;
  const fineBytes = await tableBytes(db, FINE);
  const fineRows = await rows(db, FINE);
  const before = await metrics.window(pairs[0]!.prompt, pairs[0]!.version, new Date(minutes[0]!), new Date(minutes[0]! + 60_000));

  // The schedule's pass, two hours after the last sample minute: everything sampled is due for roll-up.
  const clock = { now: () => new Date(minutes.at(-1)! + 60_000 + DEFAULT_STORAGE.metrics_1s_keep_s * 1000) };
  const t = Date.now();
  const summary = await createStorageActivities({ storage, clock }).storagePass(DEFAULT_STORAGE, {
    max_batches: 1_000_000,
    until: Infinity,
  });
  const rollupMs = Date.now() - t;
  const after = await metrics.window(pairs[0]!.prompt, pairs[0]!.version, new Date(minutes[0]!), new Date(minutes[0]! + 60_000));
  if (after.requests !== before.requests || after.latency_ms.p99 !== before.latency_ms.p99)
    throw new Error(`roll-up changed a window: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
  const coarseBytes = await tableBytes(db, COARSE);
  const coarseRows = await rows(db, COARSE);
  const leftFine = await rows(db, FINE);

  const perSecond = fineBytes / seconds;
  const perMinute = coarseBytes / SAMPLE_MINUTES;
  const baselineDay = perSecond * 86_400;
  const baseline30 = 30 * baselineDay;
  const keptFine = perSecond * DEFAULT_STORAGE.metrics_1s_keep_s;
  const day = keptFine + perMinute * (1_440 - DEFAULT_STORAGE.metrics_1s_keep_s / 60);
  const steady = keptFine + perMinute * (DEFAULT_STORAGE.metrics_1m_keep_s / 60);
  console.log(
    `\n== ${name}: ${RATE.toLocaleString('en')} events/s over ${PAIRS} prompt/versions, ${SAMPLE_MINUTES} sampled minutes (${(RATE * seconds).toLocaleString('en')} events)`,
  );
  console.log(
    `  1-s tables: ${fineRows.toLocaleString('en')} rows, ${fmt(fineBytes)} → ${fmt(perSecond)} per second of traffic (${(fineRows / seconds).toFixed(0)} rows/s)`,
  );
  console.log(
    `  1-min tables after the pass: ${coarseRows.toLocaleString('en')} rows, ${fmt(coarseBytes)} → ${fmt(perMinute)} per minute of traffic; 1-s rows left: ${leftFine}`,
  );
  console.log(
    `  ingest ${((RATE * seconds) / (ingestMs / 1000)).toFixed(0)} events/s; storage pass ${(rollupMs / 1000).toFixed(1)} s for ${SAMPLE_MINUTES} min of traffic (${summary.metrics_rolled_up.rows.toLocaleString('en')} rows moved, ${summary.metrics_rolled_up.batches} batches) = ${((rollupMs / 1000 / seconds) * 100).toFixed(1)} % of real time`,
  );
  console.log(
    `  after 1 day : with the schedule ${fmt(day).padStart(9)}   baseline ${fmt(baselineDay).padStart(9)}   ratio ${(baselineDay / day).toFixed(1)}×`,
  );
  console.log(
    `  after 30 days: with the schedule ${fmt(steady).padStart(9)}   baseline ${fmt(baseline30).padStart(9)}   ratio ${(baseline30 / steady).toFixed(1)}×   (target: bounded — steady state, flat after day 30; baseline grows ${fmt(baselineDay)}/day)`,
  );
  if (fileOf) console.log(`  SQLite file now: ${fmt(fs.statSync(fileOf).size)} (freed pages kept for reuse)`);
  console.log(`  took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await db.close();
}

async function main(): Promise<void> {
  console.log(
    `bench/storage on ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bench-storage-'));
  let pg: PgInstance | undefined;
  try {
    const file = path.join(dir, 'store.sqlite');
    await run('SQLite', file, file);
    let url = process.env.DATABASE_URL;
    if (!url && findPostgres()) {
      pg = await startPostgres();
      url = await pg.newDatabase();
    }
    if (url) await run('PostgreSQL', url);
    else console.log('\n== PostgreSQL: skipped (no server binaries; `npm run setup` installs them, or set DATABASE_URL)');
  } finally {
    pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(
      `load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
