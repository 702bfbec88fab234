import { describe, expect, it } from 'vitest';
import { metricEvent, plainMetricEvent } from '../../src/api/schemas';
import { decodeMetricBatchBytes } from '../../src/api/metric-batch';
import { problemOf } from '../../src/api/problem';
import type { MetricEvent } from '../../src/ports/metrics';

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

describe('decodeMetricBatchBytes: the common batch decoded without zod gives the answers zod gives', () => {
  const now = new Date('2026-11-26T10:00:00.000Z');
  const bytes = (body: unknown) => new TextEncoder().encode(JSON.stringify(body));
  const outcome = (body: unknown): { events: MetricEvent[] } | { status: number; fields: string[] } => {
    try {
      return { events: decodeMetricBatchBytes(bytes(body), now) };
    } catch (e) {
      // As the API answers it (problem+json).
      const p = problemOf(e);
      if (!p) throw e;
      const errors = (p.extra as { errors?: { field: string }[] }).errors ?? [];
      return { status: p.status, fields: errors.map((x) => x.field) };
    }
  };

  it('every event shape beside a valid one: stored as zod parses it, or refused naming that event', () => {
    const base = { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 120 };
    for (const raw of cases()) {
      // As it arrives: what JSON can carry of it.
      const sent = JSON.parse(JSON.stringify({ events: [base, raw] }) ?? '{}') as { events: unknown[] };
      const z = sent.events.map((e) => metricEvent.safeParse(e));
      const got = outcome(sent);
      if (z.every((r) => r.success)) {
        const want = z.map((r) => {
          const { at, ...rest } = r.data;
          return { ...rest, at: at ? new Date(at) : now };
        });
        expect(got, JSON.stringify(raw)).toEqual({ events: want });
      } else {
        expect(got, JSON.stringify(raw)).toMatchObject({ status: 400 });
        expect(
          (got as { fields: string[] }).fields.every((f) => f.startsWith('events[1]')),
          JSON.stringify(raw),
        ).toBe(true);
      }
    }
  });

  it('bodies that are not exactly { events: [1 to 10,000 events] } are refused as before, naming what is wrong', () => {
    const e = { prompt: 'cs', version: 'v1', ok: true, latency_ms: 1 };
    expect(outcome({ events: [e], extra: 1 })).toMatchObject({ status: 400 });
    expect(outcome({ events: [] })).toMatchObject({ status: 400, fields: ['events'] });
    expect(outcome({ events: Array.from({ length: 10_001 }, () => e) })).toMatchObject({ status: 400, fields: ['events'] });
    expect(outcome([e])).toMatchObject({ status: 400 });
    expect(outcome({ events: e })).toMatchObject({ status: 400, fields: ['events'] });
    expect(outcome(JSON.parse('{"__proto__": 1, "events": [{"prompt":"cs","version":"v1","ok":true,"latency_ms":1}]}'))).toMatchObject({
      status: 400,
    });
    // A NUL in a name: the body guard's answer, not the name's pattern.
    expect(outcome({ events: [e, { ...e, prompt: 'c\u0000s' }] })).toMatchObject({ status: 400, fields: ['events[1].prompt'] });
    expect(outcome({ events: Array.from({ length: 10_000 }, () => e) })).toMatchObject({ events: { length: 10_000 } });
  });
});
