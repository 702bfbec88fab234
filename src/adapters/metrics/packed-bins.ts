import type SQLite from 'better-sqlite3';

/**
 * A latency histogram packed into one SQLite value: (bin int32, count uint32) pairs, little-endian, bins ascending
 * (bins as domain/histogram numbers them). On SQLite each (prompt, version, second) row carries its histogram in this
 * form, merged by `hist_add` in the batch's upsert: one row a second per version, where a row per (second, bin) made
 * every batch insert into the primary-key index at a thousand places (one per prompt) and write each of those pages
 * to the WAL again with every commit.
 */
const PAIR = 8;

/** The histogram's bins, packed (undefined for an empty one). */
export function packBins(bins: ReadonlyMap<number, number>): Buffer | undefined {
  if (bins.size === 0) return undefined;
  const keys = [...bins.keys()].sort((a, b) => a - b);
  const out = Buffer.allocUnsafe(keys.length * PAIR);
  keys.forEach((bin, i) => {
    out.writeInt32LE(bin, i * PAIR);
    out.writeUInt32LE(bins.get(bin)!, i * PAIR + 4);
  });
  return out;
}

/** Calls `each` for every (bin, count) of a packed histogram; a value that is not one (null, text) holds none. */
export function forEachBin(packed: unknown, each: (bin: number, count: number) => void): void {
  const n = pairBytes(packed);
  if (n === 0) return;
  const v = view(packed as Uint8Array);
  for (let i = 0; i < n; i += PAIR) each(v.getInt32(i, true), v.getUint32(i + 4, true));
}

/** A packed value's whole pairs (0 when it is not a packed histogram). */
const pairBytes = (v: unknown): number => (v instanceof Uint8Array ? v.length - (v.length % PAIR) : 0);
const view = (v: Uint8Array) => new DataView(v.buffer, v.byteOffset, v.byteLength);

/** Two packed histograms added bin by bin (a merge of two ascending lists); null when both are empty. */
export function addPacked(a: unknown, b: unknown): Buffer | null {
  const xn = pairBytes(a);
  const yn = pairBytes(b);
  if (xn === 0) return yn === 0 ? null : Buffer.from((b as Uint8Array).subarray(0, yn));
  if (yn === 0) return Buffer.from((a as Uint8Array).subarray(0, xn));
  const x = view(a as Uint8Array);
  const y = view(b as Uint8Array);
  const out = Buffer.allocUnsafe(xn + yn);
  const o = view(out);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < xn || j < yn) {
    const bx = i < xn ? x.getInt32(i, true) : Infinity;
    const by = j < yn ? y.getInt32(j, true) : Infinity;
    let count = 0;
    if (bx <= by) {
      count += x.getUint32(i + 4, true);
      i += PAIR;
    }
    if (by <= bx) {
      count += y.getUint32(j + 4, true);
      j += PAIR;
    }
    o.setInt32(k, bx <= by ? bx : by, true);
    o.setUint32(k + 4, count, true);
    k += PAIR;
  }
  return out.subarray(0, k);
}

/**
 * Registers, on one SQLite connection, `hist_add(a, b)` (the merge an upsert applies) and the table-valued
 * `hist_bins(packed)` (one row per bin: what the roll-up to 1-min rows groups). Every connection openDb opens has them.
 */
export function registerBinFunctions(db: SQLite.Database): void {
  db.function('hist_add', { deterministic: true }, (a: unknown, b: unknown) => addPacked(a, b));
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
