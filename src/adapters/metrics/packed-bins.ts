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
  if (!(packed instanceof Uint8Array)) return;
  const b = Buffer.isBuffer(packed) ? packed : Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  for (let i = 0; i + PAIR <= b.length; i += PAIR) each(b.readInt32LE(i), b.readUInt32LE(i + 4));
}

/** Two packed histograms added bin by bin (a merge of two ascending lists). */
export function addPacked(a: unknown, b: unknown): Buffer | null {
  const x = a instanceof Uint8Array ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : undefined;
  const y = b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : undefined;
  if (!x || x.length === 0) return y ? Buffer.from(y) : null;
  if (!y || y.length === 0) return Buffer.from(x);
  const out = Buffer.allocUnsafe(x.length + y.length);
  let i = 0;
  let j = 0;
  let o = 0;
  const put = (bin: number, count: number) => {
    out.writeInt32LE(bin, o);
    out.writeUInt32LE(count, o + 4);
    o += PAIR;
  };
  while (i + PAIR <= x.length && j + PAIR <= y.length) {
    const bx = x.readInt32LE(i);
    const by = y.readInt32LE(j);
    if (bx === by) {
      put(bx, x.readUInt32LE(i + 4) + y.readUInt32LE(j + 4));
      i += PAIR;
      j += PAIR;
    } else if (bx < by) {
      put(bx, x.readUInt32LE(i + 4));
      i += PAIR;
    } else {
      put(by, y.readUInt32LE(j + 4));
      j += PAIR;
    }
  }
  for (; i + PAIR <= x.length; i += PAIR) put(x.readInt32LE(i), x.readUInt32LE(i + 4));
  for (; j + PAIR <= y.length; j += PAIR) put(y.readInt32LE(j), y.readUInt32LE(j + 4));
  return out.subarray(0, o);
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
