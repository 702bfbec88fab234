import type SQLite from 'better-sqlite3';

/**
 * A latency histogram packed into one value (SQLite blob, Postgres bytea): (bin int32, count uint32) pairs, little-endian (bins as
 * domain/histogram numbers them). Each (prompt, version, second) row of metric_buckets carries its histogram in this form, and
 * each batch's upsert appends its own pairs (`appendBins`): a bin may appear more than once, and readers add them up.
 * One row a second per version, where a row per (second, bin) made every batch insert into the primary-key index at a
 * thousand places (one per prompt), and SQLite wrote each of those pages to the WAL again with every commit. Appending
 * costs the database a copy; on SQLite a merge in the upsert (a JavaScript function per row) cost a third more a batch. A row is read as
 * a few hundred bytes until the roll-up folds it into its minute.
 */
const PAIR = 8;

/** The upsert's new value of `latency_bins`: the stored pairs, then the batch's (either may be null). */
export const appendBins = (dialect: 'sqlite' | 'postgres'): string =>
  dialect === 'postgres'
    ? `coalesce(metric_buckets.latency_bins, ''::bytea) || coalesce(excluded.latency_bins, ''::bytea)`
    : `CAST(coalesce(metric_buckets.latency_bins, X'') || coalesce(excluded.latency_bins, X'') AS BLOB)`;

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
 * Registers, on one SQLite connection, the table-valued `hist_bins(packed)`: one row per pair, which the roll-up to
 * 1-min rows groups and adds. Every connection openDb opens has it; on Postgres it is a SQL function (migration 0015).
 */
export function registerBinFunctions(db: SQLite.Database): void {
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
