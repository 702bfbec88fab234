import { describe, expect, it } from 'vitest';
import type { Verdict, VerdictKind, WindowStats } from '../../../src/domain/verdict';
import { emptyWindow } from '../../../src/domain/verdict';
import {
  DEFAULT_VERIFICATION,
  judgeIncidentMetric,
  judgeRecovery,
  verificationOutcome,
  type VerificationPolicy,
} from '../../../src/domain/verification';

const stats = (requests: number, errors: number, window_s = 60): WindowStats => ({
  ...emptyWindow(window_s),
  requests,
  errors,
  error_rate: requests === 0 ? null : errors / requests,
});

describe('judgeRecovery (seed: recovered when error rate < 1 %, at least min_samples requests)', () => {
  it('uses the seed defaults: every 5 s for 60 s, < 1 %, 10 samples', () => {
    expect(DEFAULT_VERIFICATION).toEqual({ interval_s: 5, duration_s: 60, max_error_rate: 0.01, min_samples: 10 });
  });

  it.each<{ name: string; requests: number; errors: number; kind: VerdictKind }>([
    { name: 'no data', requests: 0, errors: 0, kind: 'inconclusive' },
    { name: 'one request short of min_samples, all fine', requests: 9, errors: 0, kind: 'inconclusive' },
    { name: 'too few samples, all failing: still not a verdict', requests: 5, errors: 5, kind: 'inconclusive' },
    { name: 'exactly min_samples, no errors', requests: 10, errors: 0, kind: 'healthy' },
    { name: 'exactly min_samples, one error (10 %)', requests: 10, errors: 1, kind: 'breached' },
    { name: 'error rate exactly 1 % is NOT recovered', requests: 100, errors: 1, kind: 'breached' },
    { name: 'error rate exactly 1 % over 10,000', requests: 10_000, errors: 100, kind: 'breached' },
    { name: 'error rate just under 1 % (0.99 %)', requests: 10_000, errors: 99, kind: 'healthy' },
    { name: 'error rate 0.9 %', requests: 1_000, errors: 9, kind: 'healthy' },
    { name: 'error rate 1.1 %', requests: 1_000, errors: 11, kind: 'breached' },
    { name: 'everything failing', requests: 200, errors: 200, kind: 'breached' },
  ])('$name ($errors/$requests) → $kind', ({ requests, errors, kind }) => {
    const v = judgeRecovery(stats(requests, errors), DEFAULT_VERIFICATION);
    expect(v.kind).toBe(kind);
  });

  it('no data is inconclusive even with min_samples 0: never silently healthy', () => {
    const v = judgeRecovery(emptyWindow(60), { ...DEFAULT_VERIFICATION, min_samples: 0 });
    expect(v.kind).toBe('inconclusive');
    expect(v.observed).toBeNull();
  });

  it('a window claiming requests but no error rate is inconclusive', () => {
    const v = judgeRecovery({ ...stats(50, 0), error_rate: null }, DEFAULT_VERIFICATION);
    expect(v.kind).toBe('inconclusive');
  });

  it.each<{ policy: Partial<VerificationPolicy>; requests: number; errors: number; kind: VerdictKind }>([
    { policy: { max_error_rate: 0.05 }, requests: 100, errors: 4, kind: 'healthy' },
    { policy: { max_error_rate: 0.05 }, requests: 100, errors: 5, kind: 'breached' },
    { policy: { min_samples: 100 }, requests: 99, errors: 0, kind: 'inconclusive' },
    { policy: { min_samples: 100 }, requests: 100, errors: 0, kind: 'healthy' },
  ])('honours the policy $policy: $errors/$requests → $kind', ({ policy, requests, errors, kind }) => {
    expect(judgeRecovery(stats(requests, errors), { ...DEFAULT_VERIFICATION, ...policy }).kind).toBe(kind);
  });

  it('carries the numbers that produced it, so a reader knows why', () => {
    const v = judgeRecovery(stats(200, 6, 45), DEFAULT_VERIFICATION);
    expect(v).toMatchObject({
      kind: 'breached',
      rule: 'verification.error_rate',
      metric: 'error_rate',
      threshold: 0.01,
      observed: 0.03,
      window_s: 45,
      samples: 200,
    });
    expect(v.summary).toContain('3.00 %');
    expect(v.summary).toContain('200');
  });

  it('an inconclusive verdict says how many requests it saw and how many it needed', () => {
    const v = judgeRecovery(stats(3, 0, 15), DEFAULT_VERIFICATION);
    expect(v).toMatchObject({ kind: 'inconclusive', samples: 3, window_s: 15, observed: 0 });
    expect(v.summary).toMatch(/\b3 request/);
    expect(v.summary).toMatch(/\b10 needed/);
  });
});

describe('verificationOutcome', () => {
  const verdict = (kind: VerdictKind): Verdict => ({
    kind,
    rule: 'verification.error_rate',
    metric: 'error_rate',
    threshold: 0.01,
    observed: null,
    window_s: 60,
    samples: 0,
    summary: kind,
  });

  it.each<{ kinds: VerdictKind[]; result: ReturnType<typeof verificationOutcome> }>([
    { kinds: [], result: 'inconclusive' },
    { kinds: ['inconclusive'], result: 'inconclusive' },
    { kinds: ['inconclusive', 'inconclusive', 'inconclusive'], result: 'inconclusive' },
    { kinds: ['error', 'inconclusive'], result: 'inconclusive' },
    { kinds: ['healthy'], result: 'recovered' },
    // The error rate must stay below the maximum across the window: a breached check is not undone by a later healthy one.
    { kinds: ['inconclusive', 'breached', 'healthy'], result: 'not_recovered' },
    { kinds: ['inconclusive', 'healthy', 'healthy'], result: 'recovered' },
    { kinds: ['healthy', 'breached', 'healthy'], result: 'not_recovered' },
    { kinds: ['breached'], result: 'not_recovered' },
    { kinds: ['inconclusive', 'breached', 'inconclusive'], result: 'not_recovered' },
    { kinds: ['breached', 'breached', 'error'], result: 'not_recovered' },
  ])('$kinds → $result', ({ kinds, result }) => {
    expect(verificationOutcome(kinds.map(verdict))).toBe(result);
  });

  // Rollbacks that read through a provider that can fail (patch metrics-unreadable): nothing judged + unreadable checks → error.
  it.each<{ kinds: VerdictKind[]; result: ReturnType<typeof verificationOutcome> }>([
    { kinds: ['error', 'error'], result: 'error' },
    { kinds: ['inconclusive', 'error'], result: 'error' },
    { kinds: ['inconclusive', 'inconclusive'], result: 'inconclusive' },
    { kinds: [], result: 'inconclusive' },
    { kinds: ['error', 'healthy'], result: 'recovered' },
    { kinds: ['error', 'breached', 'healthy'], result: 'not_recovered' },
  ])('reading unreadable checks: $kinds → $result', ({ kinds, result }) => {
    expect(verificationOutcome(kinds.map(verdict), { unreadable: true })).toBe(result);
  });

  it('a run of checks judged end to end: too little traffic, then still failing, then healthy — not recovered', () => {
    const checks = [stats(4, 0), stats(40, 4), stats(400, 3)].map((s) => judgeRecovery(s, DEFAULT_VERIFICATION));
    expect(checks.map((c) => c.kind)).toEqual(['inconclusive', 'breached', 'healthy']);
    expect(verificationOutcome(checks)).toBe('not_recovered');
    expect(verificationOutcome([checks[0]!, checks[2]!])).toBe('recovered');
    expect(verificationOutcome(checks.slice(0, 2))).toBe('not_recovered');
    expect(verificationOutcome(checks.slice(0, 1))).toBe('inconclusive');
  });
});

describe('judgeIncidentMetric (the metric that triggered the incident, back within its alert threshold)', () => {
  const latency = { rule: 'latency_p99_high', metric: 'latency_p99_ratio', threshold: 2, baseline: 400 };
  const quality = { rule: 'quality_drop_high', metric: 'quality_drop', threshold: 0.2, baseline: 0.8 };
  const w = (p99: number, q: number | null, n = 100): WindowStats => ({
    ...stats(n, 0, 300),
    latency_ms: { p50: 100, p95: 200, p99 },
    quality_mean: q,
    quality_samples: q === null ? 0 : n,
  });
  it.each<{ name: string; t: typeof latency; s: WindowStats; alert: number; kind: VerdictKind; same: boolean }>([
    { name: 'p99 back to 1.1× (alert 1.2×)', t: latency, s: w(440, null), alert: 1.2, kind: 'healthy', same: false },
    { name: 'p99 still 1.5×: not recovered', t: latency, s: w(600, null), alert: 1.2, kind: 'breached', same: false },
    { name: 'p99 2.5× on the target too: the same breach', t: latency, s: w(1000, null), alert: 1.2, kind: 'breached', same: true },
    { name: 'quality −5 % (alert −10 %)', t: quality, s: w(300, 0.76), alert: 0.1, kind: 'healthy', same: false },
    { name: 'quality −15 %: not recovered', t: quality, s: w(300, 0.68), alert: 0.1, kind: 'breached', same: false },
    { name: 'no quality scores: inconclusive, never healthy', t: quality, s: w(300, null), alert: 0.1, kind: 'inconclusive', same: false },
    { name: 'too few requests: inconclusive', t: latency, s: w(440, null, 5), alert: 1.2, kind: 'inconclusive', same: false },
  ])('$name → $kind', ({ t, s, alert, kind, same }) => {
    const v = judgeIncidentMetric(s, t, alert, 20);
    expect(v.kind).toBe(kind);
    expect(v.same_breach).toBe(same);
  });
});
