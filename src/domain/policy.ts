import { SEVERITY_RANK, type Severity } from './severity';

export { SEVERITY_RANK };

/** What a rule measures. Error rate is absolute; quality and latency are judged against the baseline. */
export type RuleMetric = 'error_rate' | 'quality_drop' | 'latency_p99_ratio';

/**
 * What happens when a rule breaches, as in the seed's decision tree:
 * rollback = automatic; page = page on-call and wait for a decision; recommend = alert the owner, recommend a
 * rollback and wait; observe = alert and watch for the deadline, then roll back if still breached.
 */
export type RuleAction = 'rollback' | 'page' | 'recommend' | 'observe';

/** What a decision deadline does when it passes with no decision. */
export type DefaultAction = 'rollback' | 'wait';

export interface Rule {
  id: string;
  metric: RuleMetric;
  /** Breached when the observed value is above this (or at it, when `inclusive`). */
  threshold: number;
  inclusive: boolean;
  severity: Exclude<Severity, 'low'>;
  action: RuleAction;
  /** Decision deadline (or, for `observe`, the observation period), seconds. */
  deadline_s: number;
  default_action: DefaultAction;
  /** Shown to people: the row of the table. */
  label: string;
}

export interface AlertThresholds {
  /** Alert (notify, watch closely) above these, below the table's rows. */
  error_rate: number;
  latency_p99_increase: number;
  quality_drop: number;
}

export interface Policy {
  /** Window every metric is judged over. */
  window_s: number;
  /** Fewer requests (or quality scores, for quality rules) than this is inconclusive. */
  min_samples: number;
  /** Most severe first; the first breached row decides. */
  rules: Rule[];
  alerts: { young_minutes: number; young: AlertThresholds; mature: AlertThresholds };
  /** After a reject ("investigate"), the same rule does not page again for this long. */
  reject_cooldown_s: number;
  /** A repeated alert for the same rule is sent at most once per this period. */
  alert_cooldown_s: number;
  /** After an incident on the prompt escalated (not recovered), no new incident opens for this long: no cascades. */
  escalation_cooldown_s: number;
}

/**
 * The trigger table from the seed, as data. Boundaries: the table's ranges are inclusive at the lower end of
 * the lower row ("2–5 %" includes exactly 2 % and exactly 5 %; critical is strictly above 5 %), and the same
 * for quality ("10–20 %" includes 10 % and 20 %; high is strictly above 20 %); p99 at exactly 2× is breached.
 */
export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  window_s: 300,
  min_samples: 20,
  rules: [
    {
      id: 'error_rate_critical',
      metric: 'error_rate',
      threshold: 0.05,
      inclusive: false,
      severity: 'critical',
      action: 'rollback',
      deadline_s: 120,
      default_action: 'rollback',
      label: 'error rate > 5 %',
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
      label: 'error rate 2–5 %',
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
      label: 'quality score drop > 20 % vs baseline',
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
      label: 'p99 latency ≥ 2× baseline',
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
      label: 'quality score drop 10–20 %',
    },
  ],
  alerts: {
    young_minutes: 60,
    young: { error_rate: 0.005, latency_p99_increase: 0.1, quality_drop: 0.05 },
    mature: { error_rate: 0.02, latency_p99_increase: 0.2, quality_drop: 0.1 },
  },
  reject_cooldown_s: 1800,
  alert_cooldown_s: 900,
  escalation_cooldown_s: 1800,
} satisfies Policy);

export interface PolicyOverrides {
  window_s?: number;
  min_samples?: number;
  /** Per rule id: any field but id and metric. */
  rules?: Record<string, Partial<Omit<Rule, 'id' | 'metric'>>>;
  alerts?: { young_minutes?: number; young?: Partial<AlertThresholds>; mature?: Partial<AlertThresholds> };
  reject_cooldown_s?: number;
  alert_cooldown_s?: number;
  escalation_cooldown_s?: number;
}

/** Lays the known keys of `over` that hold a value of the same type over `base`; anything else is ignored. */
function overlay<T extends object>(base: T, over: unknown): T {
  const out = { ...base };
  if (typeof over !== 'object' || over === null) return out;
  for (const key of Object.keys(base) as (keyof T)[]) {
    const v = (over as Record<keyof T, unknown>)[key];
    if (v !== undefined && v !== null && typeof v === typeof base[key]) out[key] = v as T[keyof T];
  }
  return out;
}

/**
 * The defaults with a prompt's overrides laid over them. Only known keys with values of the right type count
 * (the API validates overrides; this guards rows written before or around it): `id` and `metric` never change.
 */
export function resolvePolicy(overrides: PolicyOverrides = {}, base: Readonly<Policy> = DEFAULT_POLICY): Policy {
  return {
    window_s: overrides.window_s ?? base.window_s,
    min_samples: overrides.min_samples ?? base.min_samples,
    rules: base.rules.map((r) => ({ ...overlay(r, overrides.rules?.[r.id]), id: r.id, metric: r.metric })),
    alerts: {
      young_minutes: overrides.alerts?.young_minutes ?? base.alerts.young_minutes,
      young: overlay(base.alerts.young, overrides.alerts?.young),
      mature: overlay(base.alerts.mature, overrides.alerts?.mature),
    },
    reject_cooldown_s: overrides.reject_cooldown_s ?? base.reject_cooldown_s,
    alert_cooldown_s: overrides.alert_cooldown_s ?? base.alert_cooldown_s,
    escalation_cooldown_s: overrides.escalation_cooldown_s ?? base.escalation_cooldown_s,
  };
}
