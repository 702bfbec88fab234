import { SEVERITY_RANK, type AlertThresholds, type Policy, type Rule, type RuleMetric } from './policy';
import type { Verdict, WindowStats } from './verdict';

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

interface Observed {
  value: number | null;
  baseline: number | null;
  /** Why it could not be judged, when value is null. */
  why?: string;
}

function observe(metric: RuleMetric, current: WindowStats, baseline: WindowStats | null, minSamples: number): Observed {
  switch (metric) {
    case 'error_rate':
      return { value: current.error_rate, baseline: baseline?.error_rate ?? null };
    case 'quality_drop': {
      if (!baseline || baseline.quality_samples < minSamples || baseline.quality_mean === null || baseline.quality_mean <= 0) {
        return { value: null, baseline: null, why: 'quality: no baseline with enough quality scores' };
      }
      if (current.quality_samples < minSamples || current.quality_mean === null) {
        return { value: null, baseline: baseline.quality_mean, why: `quality: ${current.quality_samples} score(s), ${minSamples} needed` };
      }
      return { value: (baseline.quality_mean - current.quality_mean) / baseline.quality_mean, baseline: baseline.quality_mean };
    }
    case 'latency_p99_ratio': {
      const b = baseline?.latency_ms.p99 ?? null;
      if (!baseline || baseline.requests < minSamples || b === null || b <= 0) {
        return { value: null, baseline: null, why: 'latency: no baseline with enough requests' };
      }
      const c = current.latency_ms.p99;
      if (c === null) return { value: null, baseline: b, why: 'latency: no latency recorded in the window' };
      return { value: c / b, baseline: b };
    }
  }
}

const describeValue = (metric: RuleMetric, v: number): string =>
  metric === 'error_rate'
    ? `error rate ${pct(v)}`
    : metric === 'quality_drop'
      ? `quality drop ${pct(v)}`
      : `p99 latency ${v.toFixed(2)}× baseline`;

/** Tolerance for comparing ratios computed in floating point: (0.8 − 0.64) / 0.8 is 0.20000000000000004. */
const EPSILON = 1e-12;

/** Whether `v` breaches a threshold: at it counts only when inclusive, judged with a floating-point tolerance. */
export const breaches = (r: { threshold: number; inclusive: boolean }, v: number): boolean =>
  r.inclusive ? v >= r.threshold - EPSILON : v > r.threshold + EPSILON;

const fmt = (metric: RuleMetric, v: number): string => (metric === 'latency_p99_ratio' ? `${v.toFixed(2)}×` : pct(v));

/**
 * Judges a version's window against its baseline (the last known-good version) by the trigger table in
 * `policy`. `ageMinutes` is the version's time since deploy: younger versions alert at stricter thresholds.
 * Too few requests is inconclusive — never a rollback, never silently healthy.
 */
export function assess(current: WindowStats, baseline: WindowStats | null, policy: Policy, ageMinutes: number): Verdict {
  const common = { window_s: current.window_s, samples: current.requests };
  if (current.requests < policy.min_samples || current.error_rate === null) {
    return {
      ...common,
      kind: 'inconclusive',
      rule: 'min_samples',
      metric: 'requests',
      threshold: policy.min_samples,
      observed: current.requests,
      summary: `inconclusive: ${current.requests} request(s) in ${current.window_s} s, at least ${policy.min_samples} needed`,
    };
  }
  const seen = new Map<RuleMetric, Observed>();
  const get = (m: RuleMetric): Observed => {
    let o = seen.get(m);
    if (!o) {
      o = observe(m, current, baseline, policy.min_samples);
      seen.set(m, o);
    }
    return o;
  };
  // Observe every metric up front, so `unjudged` lists all that could not be judged, whichever rule decides.
  for (const m of ['error_rate', 'quality_drop', 'latency_p99_ratio'] as const) get(m);
  const unjudged = (): string[] => [...new Set([...seen.values()].map((o) => o.why).filter((w): w is string => w !== undefined))];

  const rules: Rule[] = [...policy.rules].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
  for (const rule of rules) {
    const o = get(rule.metric);
    if (o.value === null || !breaches(rule, o.value)) continue;
    return {
      ...common,
      kind: 'breached',
      rule: rule.id,
      metric: rule.metric,
      threshold: rule.threshold,
      observed: o.value,
      baseline: o.baseline,
      severity: rule.severity,
      action: rule.action,
      deadline_s: rule.deadline_s,
      default_action: rule.default_action,
      summary: `${rule.severity}: ${describeValue(rule.metric, o.value)} ${rule.inclusive ? '≥' : '>'} ${fmt(rule.metric, rule.threshold)} (${rule.label}) over ${current.requests} requests in ${current.window_s} s`,
      unjudged: unjudged(),
    };
  }

  const young = ageMinutes < policy.alerts.young_minutes;
  const a: AlertThresholds = young ? policy.alerts.young : policy.alerts.mature;
  const alerts: [string, RuleMetric, number, number | null][] = [
    ['alert_error_rate', 'error_rate', a.error_rate, get('error_rate').value],
    ['alert_latency_p99', 'latency_p99_ratio', 1 + a.latency_p99_increase, get('latency_p99_ratio').value],
    ['alert_quality_drop', 'quality_drop', a.quality_drop, get('quality_drop').value],
  ];
  for (const [id, metric, threshold, value] of alerts) {
    if (value === null || !breaches({ threshold, inclusive: false }, value)) continue;
    return {
      ...common,
      kind: 'breached',
      rule: id,
      metric,
      threshold,
      observed: value,
      baseline: get(metric).baseline,
      severity: 'low',
      action: 'alert',
      summary: `alert: ${describeValue(metric, value)} > ${fmt(metric, threshold)}, the ${young ? `new-version (< ${policy.alerts.young_minutes} min)` : 'mature'} alert threshold, over ${current.requests} requests in ${current.window_s} s; watching closely`,
      unjudged: unjudged(),
    };
  }

  return {
    ...common,
    kind: 'healthy',
    rule: 'all',
    metric: 'error_rate',
    threshold: a.error_rate,
    observed: current.error_rate,
    summary: `healthy: error rate ${pct(current.error_rate)} over ${current.requests} requests in ${current.window_s} s`,
    unjudged: unjudged(),
  };
}
