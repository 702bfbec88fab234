import { describe, expect, it } from 'vitest';
import { metricEvent, plainMetricEvent } from '../../src/api/schemas';

/** Events of every shape ingest sees: valid, and wrong in each field in each way. */
function cases(): unknown[] {
  const base = { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 120 };
  const values: Record<string, unknown[]> = {
    prompt: ['customer-support', 'a', '.', '..', '', 'x'.repeat(128), 'x'.repeat(129), 'has space', 'ümlaut', 7, null, undefined, ['a']],
    version: ['v1', 'v2.0.0-rc.1', '..', '', 'x'.repeat(64), 'x'.repeat(65), 'v/1', 1, null, undefined],
    ok: [true, false, 'true', 0, 1, null, undefined],
    latency_ms: [0, 120, 3_600_000, 3_600_001, -1, 1.5, '120', null, undefined, Number.NaN, Infinity],
    quality: [undefined, 0, 0.5, 1, 1.01, -0.1, '0.5', null, Number.NaN],
    at: [undefined, '2026-11-26T10:00:00Z', '2026-11-26T10:00:00.123+01:00', 'yesterday', 17, null],
  };
  const out: unknown[] = [base, null, 'event', 42, [], [base], { ...base, extra: 1 }, Object.create({ inherited: 1 })];
  for (const [k, vs] of Object.entries(values)) for (const v of vs) out.push({ ...base, [k]: v });
  for (const k of Object.keys(base)) {
    const { [k]: _gone, ...rest } = base as Record<string, unknown>;
    out.push(rest);
  }
  return out;
}

describe('plainMetricEvent (ingest without zod for the common shape)', () => {
  it('never accepts what metricEvent refuses, and accepts exactly what metricEvent parses when there is no `at`', () => {
    let accepted = 0;
    for (const raw of cases()) {
      const fast = plainMetricEvent(raw);
      const z = metricEvent.safeParse(raw);
      if (fast) {
        accepted += 1;
        expect(z.success, JSON.stringify(raw)).toBe(true);
        expect(fast).toEqual(z.data);
      } else if (z.success) {
        // Left to zod: only events with a timestamp.
        expect(z.data.at, JSON.stringify(raw)).toBeDefined();
      }
    }
    expect(accepted).toBeGreaterThan(10);
  });
});
