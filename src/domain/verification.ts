import type { Verdict, WindowStats } from './verdict';

/** The seed's verification: check every 5 s for 60 s; recovered when the error rate is below 1 %. */
export interface VerificationPolicy {
  interval_s: number;
  duration_s: number;
  /** Recovered when error_rate < this (a fraction: 0.01 = 1 %). */
  max_error_rate: number;
  /** Fewer requests than this in the window is inconclusive, never "recovered". */
  min_samples: number;
}

export const DEFAULT_VERIFICATION: Readonly<VerificationPolicy> = Object.freeze({
  interval_s: 5,
  duration_s: 60,
  max_error_rate: 0.01,
  min_samples: 10,
});

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

/** Judges one verification check of the version traffic was switched to. */
export function judgeRecovery(stats: WindowStats, policy: VerificationPolicy): Verdict {
  const base = {
    rule: 'verification.error_rate',
    metric: 'error_rate',
    threshold: policy.max_error_rate,
    observed: stats.error_rate,
    window_s: stats.window_s,
    samples: stats.requests,
  };
  if (stats.requests < policy.min_samples || stats.error_rate === null) {
    return {
      ...base,
      kind: 'inconclusive',
      summary: `inconclusive: ${stats.requests} request(s) in ${stats.window_s} s, at least ${policy.min_samples} needed`,
    };
  }
  if (stats.error_rate < policy.max_error_rate) {
    return {
      ...base,
      kind: 'healthy',
      summary: `recovered: error rate ${pct(stats.error_rate)} < ${pct(policy.max_error_rate)} over ${stats.requests} requests`,
    };
  }
  return {
    ...base,
    kind: 'breached',
    summary: `not recovered: error rate ${pct(stats.error_rate)} ≥ ${pct(policy.max_error_rate)} over ${stats.requests} requests`,
  };
}

/**
 * A check whose metrics could not be read (the provider did not answer): `error`, never healthy or breached, with
 * the provider's reason. It counts for nothing: verification and staged moves judge only what they could read.
 */
export function unreadableCheck(base: { rule: string; metric: string; threshold: number; window_s: number }, why: string): Verdict {
  return { ...base, kind: 'error', observed: null, samples: 0, summary: `error: metrics could not be read, nothing judged (${why})` };
}

/** `error`: nothing could be judged and checks could not read metrics (the provider did not answer). */
export type VerificationResult = 'recovered' | 'not_recovered' | 'inconclusive' | 'error';

/**
 * The error-rate outcome of a whole verification run (docs/api.md: recovered when the error rate *stays* below the
 * maximum across the window): recovered only when every check with enough samples was healthy and at least one
 * had enough; not recovered if any check with enough samples breached; otherwise (no data) inconclusive — or, when
 * `unreadable` is asked for, `error` if some checks could not read metrics and none of the others could judge.
 */
export function verificationOutcome(verdicts: readonly Verdict[], opts: { unreadable?: boolean } = {}): VerificationResult {
  const judged = verdicts.filter((v) => v.kind !== 'inconclusive' && v.kind !== 'error');
  if (judged.some((v) => v.kind === 'breached')) return 'not_recovered';
  if (judged.length > 0) return 'recovered';
  // Nothing judged and the provider failed at least once (e.g. down since mid-window): say so, not "too little data".
  if (opts.unreadable && verdicts.some((v) => v.kind === 'error')) return 'error';
  return 'inconclusive';
}

/** The incident's own trigger, as the verification needs it to judge the target on the same metric. */
export interface IncidentTrigger {
  rule: string;
  metric: string;
  /** The incident rule's threshold (e.g. error rate 0.05, p99 ratio 2, quality drop 0.2). */
  threshold: number;
  /** The baseline value the incident was measured against (p99 ms, quality mean); null when none. */
  baseline: number | null;
}

/**
 * The incident's own metric on the target version, judged over the policy window against the incident's
 * baseline: healthy when back within the alert threshold (`alert`: p99 +20 % → 1.2, quality drop 0.1),
 * breached otherwise; `same_breach` when it breaches the incident's own rule too (the known-good version
 * fails the same way: not a prompt regression).
 */
export function judgeIncidentMetric(
  stats: WindowStats,
  trigger: IncidentTrigger,
  alert: number,
  minSamples: number,
): Verdict & { same_breach: boolean } {
  const base = { rule: `verification.${trigger.rule}`, metric: trigger.metric, threshold: alert, window_s: stats.window_s };
  const value =
    trigger.metric === 'latency_p99_ratio'
      ? trigger.baseline && stats.latency_ms.p99 !== null
        ? stats.latency_ms.p99 / trigger.baseline
        : null
      : trigger.metric === 'quality_drop'
        ? trigger.baseline && stats.quality_mean !== null
          ? (trigger.baseline - stats.quality_mean) / trigger.baseline
          : null
        : stats.error_rate;
  const samples = trigger.metric === 'quality_drop' ? stats.quality_samples : stats.requests;
  const what =
    trigger.metric === 'latency_p99_ratio' ? 'p99 latency ratio' : trigger.metric === 'quality_drop' ? 'quality drop' : 'error rate';
  const show = (x: number): string => (trigger.metric === 'latency_p99_ratio' ? `${x.toFixed(2)}×` : pct(x));
  if (value === null || samples < minSamples) {
    return {
      ...base,
      kind: 'inconclusive',
      observed: value,
      samples,
      same_breach: false,
      summary: `inconclusive: ${what} of the target could not be judged (${samples} sample(s), at least ${minSamples} needed)`,
    };
  }
  if (value <= alert) {
    return {
      ...base,
      kind: 'healthy',
      observed: value,
      samples,
      same_breach: false,
      summary: `recovered: ${what} ${show(value)} ≤ ${show(alert)} over ${samples} samples`,
    };
  }
  const same = value > trigger.threshold;
  return {
    ...base,
    kind: 'breached',
    observed: value,
    samples,
    same_breach: same,
    summary: `not recovered: ${what} ${show(value)} > ${show(alert)}${same ? ` (and over the incident's ${show(trigger.threshold)})` : ''} over ${samples} samples`,
  };
}
