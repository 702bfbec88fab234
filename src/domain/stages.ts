/** Staged traffic moves: gradual rollback (reverse canary) and canary rollout, as the seed describes them. */

export interface GradualPlan {
  /** Share of traffic left on the bad version at each stage, and how long each stage lasts. */
  stages: { percent_on_bad: number; duration_s: number }[];
  /** Metrics are checked this often during a stage. */
  check_interval_s: number;
  /** Above this error rate (over the last check interval, both versions together) the rollback pauses and escalates. */
  max_error_rate: number;
  /** Fewer requests in a check is inconclusive: no pause, no progress judgement. */
  min_samples: number;
}

/** The seed: 75 / 50 / 25 / 0 % left on the bad version, 10 min per stage, checked every minute; > 2 % → pause. */
export const DEFAULT_GRADUAL: Readonly<GradualPlan> = Object.freeze({
  stages: [
    { percent_on_bad: 75, duration_s: 600 },
    { percent_on_bad: 50, duration_s: 600 },
    { percent_on_bad: 25, duration_s: 600 },
    { percent_on_bad: 0, duration_s: 0 },
  ],
  check_interval_s: 60,
  max_error_rate: 0.02,
  min_samples: 10,
});

export interface CanaryPlan {
  /** Share of traffic on the new version at each stage; the last is 100. */
  stages: number[];
  /** Bake time per stage before it is judged. */
  bake_s: number;
  /** Requests the canary needs in a stage before it can be promoted. */
  min_samples: number;
  /** One-sided significance level of the error-rate regression test (the seed's A/B criterion, p < 0.05). */
  alpha: number;
  /** Extra bakes allowed while samples are short; then the rollout aborts as inconclusive. */
  max_extra_bakes: number;
  /** Optional gate: the version must have been in staging this long (seed: 24 h). 0 = no gate. */
  min_staging_s: number;
}

export const DEFAULT_CANARY: Readonly<CanaryPlan> = Object.freeze({
  stages: [1, 5, 25, 100],
  bake_s: 600,
  min_samples: 100,
  alpha: 0.05,
  max_extra_bakes: 2,
  min_staging_s: 0,
});

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf approximation, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * One-sided two-proportion z-test: is the canary's error rate (e1/n1) higher than the baseline's (e2/n2)?
 * Returns z and the p-value; with no errors on either side there is no evidence of regression (p = 1).
 */
export function twoProportionTest(e1: number, n1: number, e2: number, n2: number): { z: number; p_value: number } {
  if (n1 === 0 || n2 === 0) return { z: 0, p_value: 1 };
  const pooled = (e1 + e2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { z: 0, p_value: 1 };
  const z = (e1 / n1 - e2 / n2) / se;
  return { z, p_value: 1 - normalCdf(z) };
}

export interface CanaryJudgement {
  /** `error`: the stage's metrics could not be read; nothing judged, the rollout holds where it is. */
  outcome: 'promote' | 'wait' | 'abort' | 'error';
  reason: string;
  canary: { requests: number; errors: number; error_rate: number | null };
  baseline: { requests: number; errors: number; error_rate: number | null };
  p_value: number | null;
}

/**
 * A canary stage's verdict: abort on a significant error-rate regression (p < alpha) or a trigger-table breach
 * (passed in as `breach`, a sentence); wait while the canary has fewer than `min_samples` requests; else promote.
 */
export function judgeCanary(
  canary: { requests: number; errors: number },
  baseline: { requests: number; errors: number },
  plan: Pick<CanaryPlan, 'min_samples' | 'alpha'>,
  breach?: string,
): CanaryJudgement {
  const rate = (x: { requests: number; errors: number }) => (x.requests === 0 ? null : x.errors / x.requests);
  const base = { canary: { ...canary, error_rate: rate(canary) }, baseline: { ...baseline, error_rate: rate(baseline) } };
  const { p_value } = twoProportionTest(canary.errors, canary.requests, baseline.errors, baseline.requests);
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)} %`);
  if (breach) return { ...base, p_value, outcome: 'abort', reason: `trigger table: ${breach}` };
  if (canary.requests >= plan.min_samples && p_value < plan.alpha) {
    return {
      ...base,
      p_value,
      outcome: 'abort',
      reason: `error rate regression: canary ${pct(base.canary.error_rate)} vs baseline ${pct(base.baseline.error_rate)} (p = ${p_value.toPrecision(3)} < ${plan.alpha})`,
    };
  }
  if (canary.requests < plan.min_samples) {
    return { ...base, p_value, outcome: 'wait', reason: `${canary.requests} canary request(s), ${plan.min_samples} needed` };
  }
  return {
    ...base,
    p_value,
    outcome: 'promote',
    reason: `no regression: canary ${pct(base.canary.error_rate)} vs baseline ${pct(base.baseline.error_rate)} over ${canary.requests} requests (p = ${p_value.toPrecision(3)})`,
  };
}

/** The judgement of a canary stage whose metrics could not be read: no numbers, no verdict. */
export function canaryUnreadable(why: string): CanaryJudgement {
  const none = { requests: 0, errors: 0, error_rate: null };
  return {
    outcome: 'error',
    reason: `metrics could not be read, nothing judged (${why})`,
    canary: none,
    baseline: { ...none },
    p_value: null,
  };
}

/**
 * Checks in a row of a gradual or canary stage that could not read metrics before the move pauses (gradual) or
 * holds, and the on-call is paged: a staged move that cannot see its traffic must not go on, nor roll back on no evidence.
 */
export const BLIND_STAGE_CHECKS = 3;

/** Where a staged move stands: shown in the API, the rollback's view and the Web UI (query `progress`). */
export interface StageProgress {
  /** Index of the current stage (0-based) and how many there are. */
  stage: number;
  of: number;
  /** Traffic share left on the version being moved away from. */
  percent: number;
  paused: boolean;
  paused_reason?: string;
  /** What happens next and when, for people. */
  next_step: string;
  next_at?: string;
  /**
   * Each check: the numbers judged are the target version's (the one receiving the traffic); `blended` is both
   * versions together, shown beside it (older records hold only the blended numbers at the top level).
   */
  checks: {
    at: string;
    version?: string;
    requests: number;
    errors: number;
    error_rate: number | null;
    blended?: { requests: number; errors: number; error_rate: number | null };
    /** Set when the check could not read metrics (the provider's reason): it counts for nothing. */
    error?: string;
  }[];
  /** Set when a critical breach cut the stages short: all traffic went to the target at once. */
  cut_short?: string;
}
