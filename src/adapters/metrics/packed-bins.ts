import type SQLite from 'better-sqlite3';

/**
 * A latency histogram packed into one value (SQLite blob, Postgres bytea): (bin int32, count uint32) pairs, little-endian (bins as
 * domain/histogram numbers them). Each (prompt, version, second) row of metric_buckets carries its histogram in this form, and
 * each batch's upsert appends its own pairs (`appendBins`): a bin may appear more than once, and readers add them up.
 * One row a second per version, where a row per (second, bin) made every batch insert into the primary-key index at a
 * thousand places (one per prompt), and SQLite wrote each of those pages to the WAL again with every commit. Appending
 * costs the database a copy; on SQLite a merge in the upsert (a JavaScript function per row) cost a third more a batch.
 * A value that grew past COMPACT_AT_BYTES is merged by bin as it is appended to, so a row stays a few hundred bytes.
 */
const PAIR = 8;

/** A stored value at least this long is compacted (its bins merged) as the next batch appends to it. */
export const COMPACT_AT_BYTES = 1024;

/**
 * The upsert's new value of `latency_bins`: the stored pairs, then the batch's (either may be null). A busy prompt's
 * second is appended to by every batch; once its value reaches COMPACT_AT_BYTES, the append is merged by bin
 * (`hist_compact`: at most ~50 distinct bins a second in practice, 400 bytes), so a row stays small for readers and
 * below Postgres' TOAST threshold, and the merge runs once per ~80 appended pairs, not per batch.
 */
export const appendBins = (dialect: 'sqlite' | 'postgres'): string => {
  const append =
    dialect === 'postgres'
      ? `coalesce(metric_buckets.latency_bins, ''::bytea) || coalesce(excluded.latency_bins, ''::bytea)`
      : `CAST(coalesce(metric_buckets.latency_bins, X'') || coalesce(excluded.latency_bins, X'') AS BLOB)`;
  return `CASE WHEN length(metric_buckets.latency_bins) >= ${COMPACT_AT_BYTES} THEN hist_compact(${append}) ELSE ${append} END`;
};

/** The pairs of packed values added up by bin. */
export function sumBins(values: Iterable<unknown>): Map<number, number> {
  const bins = new Map<number, number>();
  for (const packed of values) forEachBin(packed, (bin, count) => bins.set(bin, (bins.get(bin) ?? 0) + count));
  return bins;
}

/** A packed value's pairs merged by bin, ascending (null for none). */
export function compactPacked(packed: unknown): Buffer | null {
  return packBins(new Map([...sumBins([packed])].sort((a, b) => a[0] - b[0]))) ?? null;
}

/** A packed value's whole pairs, in bytes (0 when it is not a packed histogram). */
const pairBytes = (v: unknown): number => (v instanceof Uint8Array ? v.length - (v.length % PAIR) : 0);

/** The histogram's bins, packed (undefined for an empty one). */
export function packBins(bins: ReadonlyMap<number, number>): Buffer | undefined {
  return packPairs([...bins].flat());
}

/** Flat [bin, count, bin, count, …] pairs, packed (undefined for none). */
export function packPairs(pairs: readonly number[]): Buffer | undefined {
  if (pairs.length < 2) return undefined;
  const out = Buffer.allocUnsafe((pairs.length >> 1) * PAIR);
  for (let i = 0, o = 0; i + 1 < pairs.length; i += 2, o += PAIR) {
    out.writeInt32LE(pairs[i]!, o);
    out.writeUInt32LE(pairs[i + 1]!, o + 4);
  }
  return out;
}

/** Calls `each` for every (bin, count) pair of a packed histogram; a value that is not one (null, text) holds none. */
export function forEachBin(packed: unknown, each: (bin: number, count: number) => void): void {
  const n = pairBytes(packed);
  if (n === 0) return;
  const p = packed as Uint8Array;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  for (let i = 0; i < n; i += PAIR) each(v.getInt32(i, true), v.getUint32(i + 4, true));
}

/**
 * Registers, on one SQLite connection, the table-valued `hist_bins(packed)` (one row per pair, which the roll-up to
 * 1-min rows groups and adds) and `hist_compact(packed)`. Every connection openDb opens has them; on Postgres they
 * are SQL functions (migrations 0015 and 0016).
 */
export function registerBinFunctions(db: SQLite.Database): void {
  db.function('hist_compact', { deterministic: true }, (packed: unknown) => compactPacked(packed));
  db.table('hist_bins', {
    columns: ['bin', 'count'],
    parameters: ['packed'],
    *rows(packed: unknown) {
      const rows: [number, number][] = [];
      forEachBin(packed, (bin, count) => rows.push([bin, count]));
      yield* rows;
    },
  });
}
