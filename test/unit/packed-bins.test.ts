import SQLite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { addPacked, forEachBin, packBins, registerBinFunctions } from '../../src/adapters/metrics/packed-bins';

const unpack = (packed: unknown): [number, number][] => {
  const out: [number, number][] = [];
  forEachBin(packed, (bin, count) => out.push([bin, count]));
  return out;
};

/** A deterministic stream of numbers in [0, 1). */
const random = (seed: number) => () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;

describe('packed latency bins', () => {
  it('a packed histogram reads back as its bins, ascending; an empty one packs to nothing', () => {
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
      [-117, 1],
      [12, 3],
      [300, 40_000],
    ]);
    expect(packBins(new Map())).toBeUndefined();
  });

  it('adding two is adding their bins, whatever their overlap', () => {
    const next = random(7);
    for (let round = 0; round < 200; round++) {
      const a = new Map<number, number>();
      const b = new Map<number, number>();
      for (let i = 0; i < next() * 40; i++) a.set(Math.floor(next() * 60) - 10, 1 + Math.floor(next() * 9));
      for (let i = 0; i < next() * 40; i++) b.set(Math.floor(next() * 60) - 10, 1 + Math.floor(next() * 9));
      const sum = new Map(a);
      for (const [k, v] of b) sum.set(k, (sum.get(k) ?? 0) + v);
      const expected = [...sum.entries()].sort((x, y) => x[0] - y[0]);
      expect(unpack(addPacked(packBins(a) ?? null, packBins(b) ?? null))).toEqual(expected);
    }
  });

  it('null (a row with no latency yet) adds as empty; a value that is not a packed histogram holds no bins', () => {
    const a = packBins(new Map([[5, 2]]))!;
    expect(unpack(addPacked(null, a))).toEqual([[5, 2]]);
    expect(unpack(addPacked(a, null))).toEqual([[5, 2]]);
    expect(addPacked(null, null)).toBeNull();
    expect(unpack('{"5":2}')).toEqual([]);
  });

  it('in SQL: an upsert merges with hist_add, and hist_bins lists the bins as rows', () => {
    const db = new SQLite(':memory:');
    registerBinFunctions(db);
    db.exec('create table b (k text primary key, h blob)');
    const up = db.prepare('insert into b (k, h) values (?, ?) on conflict (k) do update set h = hist_add(h, excluded.h)');
    up.run(
      'x',
      packBins(
        new Map([
          [1, 1],
          [3, 2],
        ]),
      ),
    );
    up.run(
      'x',
      packBins(
        new Map([
          [2, 5],
          [3, 1],
        ]),
      ),
    );
    up.run('x', null);
    const rows = db
      .prepare("select cast(bin as integer) as bin, cast(count as integer) as count from b, hist_bins(b.h) where k = 'x'")
      .all();
    expect(rows).toEqual([
      { bin: 1, count: 1 },
      { bin: 2, count: 5 },
      { bin: 3, count: 3 },
    ]);
    db.close();
  });
});
