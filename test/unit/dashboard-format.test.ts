import { describe, expect, it } from 'vitest';

/** The dashboard's number formatting (a browser module, served as written; vitest loads it as ESM). */
interface Format {
  percent(x: number | null): string;
  millis(ms: number | null): string;
  duration(s: number | null): string;
  metricValue(metric: string, v: number | null): string;
  verdictNumbers(v: { metric: string; threshold: number; observed: number | null; samples?: number; window_s: number }): string;
  countdown(deadline: string, now: number): string | null;
  traffic(split: { version: string; percent: number }[]): string;
}
const MODULE: string = '../../src/api/dashboard/format.js';
const load = async (): Promise<Format> => (await import(MODULE)) as Format;

describe('numbers on the dashboard are rounded for people', () => {
  it.each([
    [0.03333333333333333, '3.3 %'],
    [0.02, '2.0 %'],
    [0, '0 %'],
    [0.004, '0.4 %'],
    [0.0004, '0.04 %'],
    [0.153, '15 %'],
    [1, '100 %'],
    [null, '—'],
  ])('percent(%s) → %s', async (x, shown) => {
    expect((await load()).percent(x)).toBe(shown);
  });

  it.each([
    [180.4, '180 ms'],
    [999.4, '999 ms'],
    [1234, '1.2 s'],
    [15_500, '15.5 s'],
    [null, '—'],
  ])('millis(%s) → %s', async (ms, shown) => {
    expect((await load()).millis(ms)).toBe(shown);
  });

  it.each([
    [45, '45 s'],
    [300, '5 min'],
    [245, '4 min 5 s'],
    [3900, '1 h 5 min'],
    [7200, '2 h'],
  ])('duration(%s) → %s', async (s, shown) => {
    expect((await load()).duration(s)).toBe(shown);
  });

  it('a verdict reads as its metric, the threshold and the sample', async () => {
    const f = await load();
    expect(f.verdictNumbers({ metric: 'error_rate', threshold: 0.02, observed: 0.0333, samples: 1200, window_s: 300 })).toBe(
      'error rate 3.3 % (threshold 2.0 %, 1200 requests in 5 min)',
    );
    expect(f.metricValue('latency_p99_ratio', 2.345)).toBe('2.35×');
    expect(f.metricValue('quality_drop', 0.215)).toBe('22 %');
  });

  it('a deadline counts down in minutes and seconds, and is null once passed', async () => {
    const f = await load();
    const deadline = '2026-01-01T00:05:00.000Z';
    expect(f.countdown(deadline, Date.parse('2026-01-01T00:00:00.400Z'))).toBe('4:59 left');
    expect(f.countdown(deadline, Date.parse('2026-01-01T00:04:59.000Z'))).toBe('0:01 left');
    expect(f.countdown('2026-01-01T02:00:00.000Z', Date.parse('2026-01-01T00:00:00.000Z'))).toBe('2:00:00 left');
    expect(f.countdown(deadline, Date.parse('2026-01-01T00:05:01.000Z'))).toBeNull();
  });

  it('a split lists each version with its share', async () => {
    const f = await load();
    expect(
      f.traffic([
        { version: 'v1.9.0', percent: 75 },
        { version: 'v2.0.0', percent: 25 },
      ]),
    ).toBe('v1.9.0 75 % · v2.0.0 25 %');
    expect(f.traffic([])).toBe('not deployed');
  });
});
