import { describe, expect, it } from 'vitest';
import { assess } from '../../../src/domain/assess';
import { DEFAULT_POLICY, resolvePolicy, type PolicyOverrides, type Rule } from '../../../src/domain/policy';
import type { WindowStats } from '../../../src/domain/verdict';

const win = (requests: number, errors: number, p99 = 200, quality: number | null = 0.8): WindowStats => ({
  requests,
  errors,
  error_rate: requests === 0 ? null : errors / requests,
  latency_ms: { p50: null, p95: null, p99 },
  quality_mean: quality,
  quality_samples: quality === null ? 0 : requests,
  window_s: 300,
});
const BASELINE = win(10_000, 5);
const MATURE = 90;

describe('DEFAULT_POLICY is the seed trigger table', () => {
  it.each<Omit<Rule, 'label'>>([
    {
      id: 'error_rate_critical',
      metric: 'error_rate',
      threshold: 0.05,
      inclusive: false,
      severity: 'critical',
      action: 'rollback',
      deadline_s: 120,
      default_action: 'rollback',
    },
    {
      id: 'error_rate_high',
      metric: 'error_rate',
      threshold: 0.02,
      inclusive: true,
      severity: 'high',
      action: 'page',
      deadline_s: 300,
      default_action: 'rollback',
    },
    {
      id: 'quality_drop_high',
      metric: 'quality_drop',
      threshold: 0.2,
      inclusive: false,
      severity: 'high',
      action: 'recommend',
      deadline_s: 1800,
      default_action: 'wait',
    },
    {
      id: 'latency_p99_high',
      metric: 'latency_p99_ratio',
      threshold: 2,
      inclusive: true,
      severity: 'high',
      action: 'page',
      deadline_s: 600,
      default_action: 'rollback',
    },
    {
      id: 'quality_drop_medium',
      metric: 'quality_drop',
      threshold: 0.1,
      inclusive: true,
      severity: 'medium',
      action: 'observe',
      deadline_s: 3600,
      default_action: 'rollback',
    },
  ])('$id: $metric $threshold (inclusive: $inclusive) → $severity, $action within $deadline_s s', (row) => {
    expect(DEFAULT_POLICY.rules.find((r) => r.id === row.id)).toMatchObject(row);
  });

  it('has exactly the five table rows, most severe first', () => {
    expect(DEFAULT_POLICY.rules.map((r) => r.id)).toEqual([
      'error_rate_critical',
      'error_rate_high',
      'quality_drop_high',
      'latency_p99_high',
      'quality_drop_medium',
    ]);
  });

  it('judges a 5-minute window, needs 20 samples, and has the seed age-based alert thresholds', () => {
    expect(DEFAULT_POLICY).toMatchObject({
      window_s: 300,
      min_samples: 20,
      alerts: {
        young_minutes: 60,
        young: { error_rate: 0.005, latency_p99_increase: 0.1, quality_drop: 0.05 },
        mature: { error_rate: 0.02, latency_p99_increase: 0.2, quality_drop: 0.1 },
      },
    });
  });
});

describe('resolvePolicy', () => {
  it('with no overrides equals the defaults, as a fresh copy', () => {
    const p = resolvePolicy();
    expect(p).toEqual(DEFAULT_POLICY);
    expect(p).not.toBe(DEFAULT_POLICY);
    expect(p.rules).not.toBe(DEFAULT_POLICY.rules);
    expect(p.rules[0]).not.toBe(DEFAULT_POLICY.rules[0]);
    expect(p.alerts.young).not.toBe(DEFAULT_POLICY.alerts.young);
  });

  it.each<{ name: string; overrides: PolicyOverrides; errors: number; rule: string; threshold: number }>([
    { name: 'defaults: 1.5 % on a mature version is healthy', overrides: {}, errors: 150, rule: 'all', threshold: 0.02 },
    {
      name: 'error_rate_high at 1 %: 1.5 % is high',
      overrides: { rules: { error_rate_high: { threshold: 0.01 } } },
      errors: 150,
      rule: 'error_rate_high',
      threshold: 0.01,
    },
    {
      name: 'error_rate_high at 1 %: exactly 1 % is high (still inclusive)',
      overrides: { rules: { error_rate_high: { threshold: 0.01 } } },
      errors: 100,
      rule: 'error_rate_high',
      threshold: 0.01,
    },
    {
      name: 'error_rate_high at 1 %: 0.99 % is healthy',
      overrides: { rules: { error_rate_high: { threshold: 0.01 } } },
      errors: 99,
      rule: 'all',
      threshold: 0.02,
    },
    {
      name: 'error_rate_critical at 10 %: 8 % is only high',
      overrides: { rules: { error_rate_critical: { threshold: 0.1 } } },
      errors: 800,
      rule: 'error_rate_high',
      threshold: 0.02,
    },
    {
      name: 'mature alert at 1 %: 1.5 % alerts',
      overrides: { alerts: { mature: { error_rate: 0.01 } } },
      errors: 150,
      rule: 'alert_error_rate',
      threshold: 0.01,
    },
  ])('$name', ({ overrides, errors, rule, threshold }) => {
    const v = assess(win(10_000, errors), BASELINE, resolvePolicy(overrides), MATURE);
    expect(v.rule).toBe(rule);
    expect(v.threshold).toBe(threshold);
    expect(v.observed).toBe(errors / 10_000);
  });

  it('overriding one field of a rule keeps the rest of that rule and every other rule', () => {
    const p = resolvePolicy({ rules: { error_rate_high: { threshold: 0.01 } } });
    expect(p.rules.find((r) => r.id === 'error_rate_high')).toEqual({
      ...DEFAULT_POLICY.rules.find((r) => r.id === 'error_rate_high'),
      threshold: 0.01,
    });
    expect(p.rules.filter((r) => r.id !== 'error_rate_high')).toEqual(DEFAULT_POLICY.rules.filter((r) => r.id !== 'error_rate_high'));
  });

  it('overriding one alert threshold keeps the others of that tier and the other tier', () => {
    const p = resolvePolicy({ alerts: { young: { quality_drop: 0.03 } } });
    expect(p.alerts).toEqual({ ...DEFAULT_POLICY.alerts, young: { ...DEFAULT_POLICY.alerts.young, quality_drop: 0.03 } });
  });

  it.each<{ min_samples: number; requests: number; kind: string }>([
    { min_samples: 100, requests: 99, kind: 'inconclusive' },
    { min_samples: 100, requests: 100, kind: 'breached' },
    { min_samples: 5, requests: 4, kind: 'inconclusive' },
    { min_samples: 5, requests: 5, kind: 'breached' },
  ])('min_samples $min_samples: $requests requests, all failing → $kind', ({ min_samples, requests, kind }) => {
    const v = assess(win(requests, requests), BASELINE, resolvePolicy({ min_samples }), MATURE);
    expect(v.kind).toBe(kind);
    if (kind === 'inconclusive') expect(v).toMatchObject({ rule: 'min_samples', threshold: min_samples, observed: requests });
    else expect(v.rule).toBe('error_rate_critical');
  });

  it('min_samples also gates quality: 10 quality scores are judged with min_samples 10, not with the default 20', () => {
    const current: WindowStats = { ...win(10_000, 0, 200, 0.6), quality_samples: 10 };
    expect(assess(current, BASELINE, resolvePolicy({ min_samples: 10 }), MATURE).rule).toBe('quality_drop_high');
    expect(assess(current, BASELINE, DEFAULT_POLICY, MATURE).rule).toBe('all');
  });

  it('overrides every scalar it is given', () => {
    const p = resolvePolicy({ window_s: 60, min_samples: 7, reject_cooldown_s: 1, alert_cooldown_s: 2, alerts: { young_minutes: 15 } });
    expect(p).toMatchObject({ window_s: 60, min_samples: 7, reject_cooldown_s: 1, alert_cooldown_s: 2, alerts: { young_minutes: 15 } });
  });

  it('layers overrides over the given base, not over the defaults', () => {
    const base = resolvePolicy({ min_samples: 50, rules: { error_rate_high: { threshold: 0.03 } } });
    const p = resolvePolicy({ rules: { error_rate_critical: { threshold: 0.1 } } }, base);
    expect(p.min_samples).toBe(50);
    expect(p.rules.map((r) => r.threshold)).toEqual([0.1, 0.03, 0.2, 2, 0.1]);
  });

  it('does not mutate DEFAULT_POLICY, neither by resolving nor by later changes to the result', () => {
    const before = structuredClone(DEFAULT_POLICY);
    const p = resolvePolicy({
      window_s: 1,
      min_samples: 1,
      rules: { error_rate_high: { threshold: 0.01, deadline_s: 1 }, quality_drop_medium: { inclusive: false } },
      alerts: { young_minutes: 1, young: { error_rate: 0.5 }, mature: { latency_p99_increase: 9 } },
      reject_cooldown_s: 1,
      alert_cooldown_s: 1,
    });
    p.rules[0]!.threshold = 0.99;
    p.rules.pop();
    p.alerts.young.error_rate = 0.99;
    p.alerts.mature.quality_drop = 0.99;
    expect(DEFAULT_POLICY).toEqual(before);
    expect(resolvePolicy()).toEqual(before);
  });

  it('ignores unknown rule ids and unknown top-level keys', () => {
    const overrides = {
      rules: { no_such_rule: { threshold: 0 }, error_rate: { threshold: 0 } },
      nonsense: 1,
      thresholds: { error_rate: 0 },
    } as PolicyOverrides;
    const p = resolvePolicy(overrides);
    expect(p).toEqual(DEFAULT_POLICY);
    expect(p).not.toHaveProperty('nonsense');
    expect(p.rules).toHaveLength(5);
    expect(assess(win(10_000, 100), BASELINE, p, MATURE).kind).toBe('healthy');
  });
});
