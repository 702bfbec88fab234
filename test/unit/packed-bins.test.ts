import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  appendBins,
  compactPacked,
  COMPACT_AT_BYTES,
  forEachBin,
  packBins,
  registerBinFunctions,
} from '../../src/adapters/metrics/packed-bins';

const unpack = (packed: unknown): [number, number][] => {
  const out: [number, number][] = [];
  forEachBin(packed, (bin, count) => out.push([bin, count]));
  return out;
};

/** An in-memory SQLite with the bin functions and a metric_buckets row per key, upserted as ingest does. */
const bucketsDb = () => {
  const db = new SQLite(':memory:');
  registerBinFunctions(db);
  db.exec('create table metric_buckets (k text primary key, latency_bins blob)');
  const up = db.prepare(
    `insert into metric_buckets (k, latency_bins) values (?, ?) on conflict (k) do update set latency_bins = ${appendBins('sqlite')}`,
  );
  return { db, up };
};

describe('packed latency bins', () => {
  it('a packed histogram reads back as its bins; an empty one packs to nothing', () => {
    expect(
      unpack(
        packBins(
          new Map([
            [12, 3],
            [-117, 1],
            [300, 40_000],
          ]),
        ),
      ),
    ).toEqual([
      [12, 3],
      [-117, 1],
      [300, 40_000],
    ]);
    expect(packBins(new Map())).toBeUndefined();
  });

  it('a value that is not a packed histogram holds no bins; a torn last pair is not read', () => {
    expect(unpack(null)).toEqual([]);
    expect(unpack('{"5":2}')).toEqual([]);
    const packed = packBins(
      new Map([
        [5, 2],
        [6, 1],
      ]),
    )!;
    expect(unpack(packed.subarray(0, packed.length - 3))).toEqual([[5, 2]]);
  });

  it('in SQL: each upsert appends its pairs as bytes (negative bins, zero bytes kept), hist_bins lists them, and they add up', () => {
    const { db, up } = bucketsDb();
    up.run('x', null);
    up.run(
      'x',
      packBins(
        new Map([
          [-117, 1],
          [3, 256],
        ]),
      ),
    );
    up.run('x', null);
    up.run(
      'x',
      packBins(
        new Map([
          [3, 1],
          [2, 5],
        ]),
      ),
    );
    up.run('y', packBins(new Map([[9, 9]])));
    expect(db.prepare("select typeof(latency_bins) as t, length(latency_bins) as n from metric_buckets where k = 'x'").get()).toEqual({
      t: 'blob',
      n: 32,
    });
    const rows = db
      .prepare(
        "select cast(bin as integer) as bin, cast(sum(count) as integer) as count from metric_buckets, hist_bins(latency_bins) where k = 'x' group by 1 order by 1",
      )
      .all();
    expect(rows).toEqual([
      { bin: -117, count: 1 },
      { bin: 2, count: 5 },
      { bin: 3, count: 257 },
    ]);
    db.close();
  });

  it('compacting merges repeated bins, ascending, and keeps every count', () => {
    const appended = Buffer.concat([
      packBins(
        new Map([
          [7, 1],
          [-3, 2],
        ]),
      )!,
      packBins(
        new Map([
          [7, 4],
          [1, 1],
        ]),
      )!,
      packBins(new Map([[-3, 1]]))!,
    ]);
    expect(unpack(compactPacked(appended))).toEqual([
      [-3, 3],
      [1, 1],
      [7, 5],
    ]);
    expect(compactPacked(null)).toBeNull();
  });

  it('in SQL: a value past the threshold is compacted as it is appended to, so it stays bounded', () => {
    const { db, up } = bucketsDb();
    const lengths: number[] = [];
    for (let b = 0; b < 500; b++) {
      up.run(
        'x',
        packBins(
          new Map([
            [b % 40, 1],
            [(b + 7) % 40, 2],
          ]),
        ),
      );
      lengths.push((db.prepare("select length(latency_bins) as n from metric_buckets where k = 'x'").get() as { n: number }).n);
    }
    expect(Math.max(...lengths)).toBeLessThan(COMPACT_AT_BYTES + 16);
    const total = db.prepare("select cast(sum(count) as integer) as n from metric_buckets, hist_bins(latency_bins) where k = 'x'").get();
    expect(total).toEqual({ n: 1_500 });
    db.close();
  });
});
