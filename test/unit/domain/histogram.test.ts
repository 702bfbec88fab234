import { describe, expect, it } from 'vitest';
import { bucketOf, merge, quantile, record, type Histogram } from '../../../src/domain/histogram';

/** mulberry32: a tiny seeded PRNG, so the "random" latencies are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal latencies (Box–Muller), median `medianMs`: the long right tail real LLM latencies have. */
function logNormalLatencies(n: number, seed: number, medianMs = 400, sigma = 0.9): number[] {
  const rand = mulberry32(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u1 = 1 - rand(); // (0, 1]: log(u1) is finite
    const u2 = rand();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    out.push(medianMs * Math.exp(sigma * z));
  }
  return out;
}

/** The exact q-quantile by the nearest-rank definition: the ceil(q·n)-th smallest value. */
function exactQuantile(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

const histogramOf = (values: readonly number[]): Histogram => {
  const h: Histogram = {};
  for (const v of values) record(h, v);
  return h;
};

const relErr = (approx: number, exact: number): number => Math.abs(approx - exact) / exact;

describe('latency histogram', () => {
  const values = logNormalLatencies(10_000, 42);
  const sorted = [...values].sort((a, b) => a - b);
  const h = histogramOf(values);

  it('the sample is genuinely spread out (so the accuracy test below means something)', () => {
    expect(sorted[0]!).toBeLessThan(50);
    expect(sorted[sorted.length - 1]!).toBeGreaterThan(5_000);
  });

  it.each([0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1])(
    'q=%s is within 2 % of the exact quantile over 10,000 log-normal latencies',
    (q) => {
      const exact = exactQuantile(sorted, q);
      const approx = quantile(h, q);
      expect(approx).not.toBeNull();
      expect(relErr(approx!, exact)).toBeLessThanOrEqual(0.02);
    },
  );

  it('stays within 2 % across seeds and shapes', () => {
    for (const [seed, median, sigma] of [
      [1, 50, 0.3],
      [7, 1_200, 1.5],
      [2024, 90, 2],
    ] as const) {
      const vs = logNormalLatencies(10_000, seed, median, sigma).sort((a, b) => a - b);
      const hh = histogramOf(vs);
      for (const q of [0.5, 0.95, 0.99]) {
        expect(relErr(quantile(hh, q)!, exactQuantile(vs, q)), `seed ${seed} q ${q}`).toBeLessThanOrEqual(0.02);
      }
    }
  });

  // Read values are rounded to 0.01 ms, which adds to the bucket error below ~12 ms; LLM latencies live far above.
  it('a single value from 20 ms to 10 min reads back within 2 %', () => {
    let worst = 0;
    for (let i = 0; i <= 2_000; i++) {
      const x = 20 * Math.pow(30_000, i / 2_000); // 20 ms … 600,000 ms, log-spaced
      const got = quantile(histogramOf([x]), 0.5)!;
      worst = Math.max(worst, relErr(got, x));
    }
    expect(worst).toBeLessThanOrEqual(0.02);
  });

  it('quantiles never decrease as q grows', () => {
    const qs = [0, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1];
    const read = qs.map((q) => quantile(h, q)!);
    expect(read).toEqual([...read].sort((a, b) => a - b));
    expect(read[0]!).toBeLessThan(read[read.length - 1]!);
  });

  it('empty → null for every quantile', () => {
    for (const q of [0, 0.5, 0.99, 1]) expect(quantile({}, q)).toBeNull();
    // Buckets that exist but hold nothing are still empty.
    expect(quantile({ '150': 0, '160': 0 }, 0.5)).toBeNull();
  });

  it('zero latency is recorded and reads back as 0, not as an error or a tiny positive number', () => {
    const zeros = histogramOf([0, 0, 0]);
    expect(Object.values(zeros).reduce((a, b) => a + b, 0)).toBe(3);
    expect(quantile(zeros, 0.5)).toBe(0);
    expect(quantile(zeros, 1)).toBe(0);

    const mixed = histogramOf([...Array<number>(50).fill(0), ...Array<number>(50).fill(100)]);
    expect(quantile(mixed, 0.5)).toBe(0);
    expect(relErr(quantile(mixed, 0.51)!, 100)).toBeLessThanOrEqual(0.02);
    expect(relErr(quantile(mixed, 0.99)!, 100)).toBeLessThanOrEqual(0.02);
  });

  it('record(h, x, n) counts x n times', () => {
    const a: Histogram = {};
    record(a, 250, 3);
    expect(a).toEqual(histogramOf([250, 250, 250]));
    expect(a[String(bucketOf(250))]).toBe(3);
  });

  describe('merge', () => {
    const left = logNormalLatencies(3_000, 11);
    const right = logNormalLatencies(7_000, 12, 900, 0.5);

    it('is additive: merging two histograms equals the histogram of all the values', () => {
      const merged = merge(histogramOf(left), histogramOf(right));
      expect(merged).toEqual(histogramOf([...left, ...right]));
      expect(Object.values(merged).reduce((a, b) => a + b, 0)).toBe(10_000);
    });

    it('order does not matter, and the merged quantiles are those of the combined sample', () => {
      const ab = merge(histogramOf(left), histogramOf(right));
      const ba = merge(histogramOf(right), histogramOf(left));
      expect(ab).toEqual(ba);
      const all = [...left, ...right].sort((a, b) => a - b);
      for (const q of [0.5, 0.99]) expect(relErr(quantile(ab, q)!, exactQuantile(all, q))).toBeLessThanOrEqual(0.02);
    });

    it('adds into the first histogram, returns it, and leaves the second untouched', () => {
      const into = histogramOf([100]);
      const from = histogramOf([100, 5_000]);
      const fromBefore = { ...from };
      const out = merge(into, from);
      expect(out).toBe(into);
      expect(into[String(bucketOf(100))]).toBe(2);
      expect(into[String(bucketOf(5_000))]).toBe(1);
      expect(from).toEqual(fromBefore);
    });

    it('merging an empty histogram changes nothing', () => {
      const h1 = histogramOf([10, 20, 30]);
      const before = { ...h1 };
      expect(merge(h1, {})).toEqual(before);
      expect(merge({}, h1)).toEqual(before);
    });
  });
});
