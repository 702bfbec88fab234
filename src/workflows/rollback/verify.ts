import { condition, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RollbackOutcome } from '../../domain/rollback';
import type { Verdict } from '../../domain/verdict';
import { verificationOutcome, type IncidentTrigger } from '../../domain/verification';
import type { SwitchResult } from '../../ports/registry';
import type { RollbackRun } from './context';

const { checkRecovery, checkIncidentMetric } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds' },
});

// Lean runs check as a local activity: a short read of the metrics store, recorded as one marker instead of a
// scheduled activity and its own workflow task (half the history of a check).
const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds' },
});

export interface Verification {
  outcome: Extract<RollbackOutcome, 'recovered' | 'unverified' | 'not_recovered' | 'not_a_prompt_regression'>;
  /** The verdict that decided it (the last check, the incident metric, or the monitor's breach). */
  last: Verdict | undefined;
}

/**
 * 3. Verification after the switch, as the contract says: a check every interval for the whole window; recovered
 * only when every check with enough samples is healthy (error rate below the maximum) and the incident's own
 * metric (p99 latency, quality) is back within its alert threshold over the policy window. When the target
 * breaches the incident's own rule, the known-good version fails the same way: not a prompt regression, stop.
 */
export async function verify(run: RollbackRun, switched: SwitchResult, trigger: IncidentTrigger | undefined): Promise<Verification> {
  const { view, input } = run;
  // Checks that could not read metrics (provider down) end a whole window as `error`, not `inconclusive`: a rollback
  // nobody could verify is said to be blind, and the on-call paged (rollbacks started before still say inconclusive).
  const unreadable = patched('metrics-unreadable');
  const checks: Verdict[] = [];
  view.verification = { checks, result: 'pending' };
  const policy = input.verification;
  const rounds = Math.max(1, Math.floor(policy.duration_s / policy.interval_s));
  for (let i = 0; i < rounds; i++) {
    await condition(() => run.worse !== undefined, policy.interval_s * 1000, { summary: `verification check ${i + 1}/${rounds}` });
    if (run.worse !== undefined) {
      // All traffic is on the target now: the monitor's breach is the target's own.
      const w = run.worse;
      run.worse = undefined;
      run.event('breach_update', { ...w, version: switched.to });
      if (w.severity === 'critical') return { outcome: 'not_a_prompt_regression', last: w };
      i -= 1;
      continue;
    }
    const verdict = await (run.lean ? local.checkRecovery : checkRecovery)({
      prompt: input.prompt,
      version: switched.to,
      since: switched.at,
      window_s: policy.duration_s,
      policy,
    });
    checks.push(verdict);
    run.event('verification_check', { check: i + 1, of: rounds, ...verdict });
    // The store (GET /api/rollbacks/{id}) sees the first check, every change of verdict and what was queued
    // meanwhile; the `state` query shows every check live; the end saves them all.
    if (run.lean && (checks.length === 1 || checks[checks.length - 2]!.kind !== verdict.kind || run.unsavedNotice)) await run.save();
    if (
      trigger?.metric === 'error_rate' &&
      verdict.kind === 'breached' &&
      verdict.observed !== null &&
      verdict.observed > trigger.threshold
    ) {
      view.verification.result = 'not_recovered';
      return { outcome: 'not_a_prompt_regression', last: verdict };
    }
  }
  const result = verificationOutcome(checks, { unreadable });
  view.verification.result = result;
  const last = checks[checks.length - 1];
  if (result !== 'recovered') return { outcome: result === 'not_recovered' ? 'not_recovered' : 'unverified', last };
  if (trigger === undefined || trigger.metric === 'error_rate') return { outcome: 'recovered', last };

  // The error rate recovered; the incident was about latency or quality: is that back too?
  const m = await checkIncidentMetric({ prompt: input.prompt, version: switched.to, since: switched.at, trigger });
  const { same_breach, ...metric } = m;
  checks.push(metric);
  run.event('verification_check', { check: 'incident_metric', ...metric });
  if (metric.kind === 'healthy') return { outcome: 'recovered', last: metric };
  view.verification.result =
    metric.kind === 'breached' ? 'not_recovered' : unreadable && metric.kind === 'error' ? 'error' : 'inconclusive';
  if (metric.kind !== 'breached') return { outcome: 'unverified', last: metric };
  return { outcome: same_breach ? 'not_a_prompt_regression' : 'not_recovered', last: metric };
}

/** The incident's trigger as verification judges it on the target; none for an operator's rollback. */
export function incidentTrigger(run: RollbackRun): IncidentTrigger | undefined {
  const v = run.verdict;
  if (!run.input.incident || !v) return undefined;
  return { rule: v.rule, metric: v.metric, threshold: v.threshold, baseline: v.baseline ?? null };
}
