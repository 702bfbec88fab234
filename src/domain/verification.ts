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

export type VerificationResult = 'recovered' | 'not_recovered' | 'inconclusive';

/**
 * The outcome of a whole verification run: recovered as soon as one check is healthy; otherwise not recovered
 * if any check had enough data and was breached; otherwise (no check had enough data) inconclusive.
 */
export function verificationOutcome(verdicts: readonly Verdict[]): VerificationResult {
  if (verdicts.some((v) => v.kind === 'healthy')) return 'recovered';
  if (verdicts.some((v) => v.kind === 'breached')) return 'not_recovered';
  return 'inconclusive';
}
