/** What a window of traffic looked like for one version. */
export interface WindowStats {
  requests: number;
  errors: number;
  /** errors / requests, or null when there were no requests. */
  error_rate: number | null;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  quality_mean: number | null;
  /** How many events carried a quality score. */
  quality_samples: number;
  window_s: number;
}

import type { DefaultAction, RuleAction } from './policy';
import type { Severity } from './severity';

/** Four outcomes, as in Argo Rollouts' analysis: never a silent "healthy" when there is no data. */
export type VerdictKind = 'healthy' | 'breached' | 'inconclusive' | 'error';

export interface Verdict {
  kind: VerdictKind;
  /** Which rule produced it (e.g. `verification.error_rate`). */
  rule: string;
  metric: string;
  threshold: number;
  observed: number | null;
  window_s: number;
  samples: number;
  /** One sentence a person reads in a page or a timeline. */
  summary: string;
  /** Breached only: how bad, and what the trigger table says to do. `low` + `alert` is below the table. */
  severity?: Severity;
  action?: RuleAction | 'alert';
  deadline_s?: number;
  default_action?: DefaultAction;
  /** The baseline value the observed one was compared with, for relative rules. */
  baseline?: number | null;
  /** Rules that could not be judged (no baseline, too few quality scores), so a reader knows what was not checked. */
  unjudged?: string[];
  /** Error only: how many monitor checks in a row could not read metrics. */
  errors_in_row?: number;
}

export const emptyWindow = (window_s: number): WindowStats => ({
  requests: 0,
  errors: 0,
  error_rate: null,
  latency_ms: { p50: null, p95: null, p99: null },
  quality_mean: null,
  quality_samples: 0,
  window_s,
});
