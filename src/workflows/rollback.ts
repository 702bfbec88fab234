import { isCancellation, log, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RollbackInput, RollbackView } from '../domain/rollback';
import { rollbackWorkflowV1 } from './legacy/rollback-v1';
import { breachSignal, stateQuery } from './messages';
import { RollbackRun } from './rollback/context';
import { decide, DecisionDesk } from './rollback/decide';
import { Stages } from './rollback/stages';
import type { OneStepResult } from '../activities/one-step';
import type { SwitchResult } from '../ports/registry';
import {
  afterSwitch,
  chooseTargetPhase,
  planGroupPhase,
  recordGroup,
  recordTarget,
  switchFailed,
  switchPhase,
  targetRejected,
} from './rollback/switch';
import { incidentTrigger, verify } from './rollback/verify';

export type { RollbackInput };

const { readWindow, assessNow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});
// The switch path in one activity: the switch's own retry budget (it bounds the baseline test like chooseTarget).
const { switchInOneStep } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 6 },
});

/** Immediate rollbacks started with this change switch in one activity (re-check, target, group, switch). */
const ONE_STEP = 'switch-in-one-step';

/**
 * One rollback, or one incident that may become one, read as its phases: decide (a monitor's incident, by the
 * trigger table) → switch (target, stages of a gradual rollback, the audited switch, the group) → verify.
 *
 * Opened by an operator: choose and validate the target, switch traffic (once, keyed by the rollback id),
 * audit, notify, verify recovery, end `completed` (outcome `recovered` or `unverified`) or `escalated`.
 *
 * Opened by a monitor: first the trigger table's decision — critical rolls back at once; high pages on-call
 * and waits for approve/reject (Updates from the API, signals from the Web UI) until the deadline; medium
 * observes. A worse breach acts in every phase: while deciding, during the stages of a gradual rollback, and
 * during verification (the known-good version failing the same way is not a prompt regression: stop).
 */
export async function rollbackWorkflow(input: RollbackInput): Promise<RollbackView> {
  // Rollbacks started before the v2 core replay the frozen v1 body (src/workflows/legacy): their histories hold no marker.
  if (!patched('rollback-v2')) return rollbackWorkflowV1(input);
  return rollbackWorkflowV2(input);
}

async function rollbackWorkflowV2(input: RollbackInput): Promise<RollbackView> {
  const run = new RollbackRun(input);
  const { view } = run;
  setHandler(stateQuery, () => view);
  setHandler(breachSignal, (v) => {
    run.worse = v;
  });
  const desk = new DecisionDesk(run);
  const stages = new Stages(run);

  // Rollbacks started before the one-step switch replay the step-by-step path: their histories hold no marker.
  const oneStep = patched(ONE_STEP);
  const requested = { by: input.requested_by, reason: input.reason, mode: input.mode };
  // One-step: the store already holds the claimed rollback; this save need not hold up the switch.
  if (oneStep) run.enterSoon(view.status, 'requested', requested);
  else await run.enter(view.status, 'requested', requested);

  let critical = false;
  let automatic = false;
  if (input.incident) {
    const outcome = await decide(run, desk, input.incident, { saveDetectedSoon: oneStep });
    delete view.deadline;
    if (outcome.kind === 'rejected') {
      run.send(
        'alert',
        view.severity,
        `Rollback rejected: ${input.prompt}`,
        `${view.decided_by ?? 'on-call'} chose to investigate; monitoring continues.`,
        {},
      );
      view.outcome = 'rejected';
      return run.finish('rejected', 'closed', { decided_by: view.decided_by });
    }
    if (outcome.kind === 'cleared') {
      view.outcome = 'cleared';
      return run.finish('cleared', 'cleared', { why: outcome.why });
    }
    critical = view.severity === 'critical';
    automatic = outcome.automatic;
    if (oneStep && !outcome.gradual && view.mode !== 'gradual') return oneStepRollback(run, { critical, automatic });
    if (outcome.automatic) {
      // Re-confirm right before switching: an automatic rollback acts only on a breach that still holds. Only a
      // healthy re-check clears a critical breach measured on enough samples (too little data does not).
      const now = await assessNow({ prompt: input.prompt });
      const holds = now.kind === 'breached' && now.severity !== 'low';
      const keepCritical = critical && now.kind !== 'healthy';
      run.event('reconfirmed', {
        ...now,
        ...(keepCritical && !holds ? { note: `not a healthy re-check: the critical breach (${run.verdict?.summary ?? ''}) stands` } : {}),
      });
      if (!holds && !keepCritical) {
        view.outcome = 'cleared';
        return run.finish('cleared', 'cleared', { why: `breach did not re-confirm: ${now.summary}` });
      }
    }
    if (outcome.gradual) view.mode = 'gradual';
    await run.enter('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
  } else if (oneStep && view.mode !== 'gradual') {
    return oneStepRollback(run, { critical, automatic });
  }
  return stepByStep(run, stages, critical);
}

/** The rollback's switch path, one activity per step; then verification. */
async function stepByStep(run: RollbackRun, stages: Stages, critical: boolean): Promise<RollbackView> {
  const { view, input } = run;

  const target = await chooseTargetPhase(run, critical);
  if (!target) return run.end();

  // An operator's rollback is never refused for looking healthy: the metrics at this moment go into the timeline.
  if (target.from_version !== null && !input.incident) {
    const before = await readWindow({ prompt: input.prompt, version: target.from_version, window_s: 300 });
    run.event('metrics_before', { version: target.from_version, ...before });
  }

  if (view.mode === 'gradual' && target.from_version !== null && target.from_version !== target.to_version) {
    const staged = await stages.move(target.from_version, target.to_version);
    if (staged.kind === 'aborted') {
      view.outcome = 'aborted';
      return run.finish('failed', 'aborted', { by: staged.by, traffic: `all traffic back on ${target.from_version}` });
    }
  }

  const group = await planGroupPhase(run);
  // Mark the from-version rolled back from only on its own evidence: an operator's rollback, or a breach measured on it.
  const markFrom = !input.incident || input.incident.version === undefined || input.incident.version === target.from_version;
  const switched = await switchPhase(run, target, group, markFrom);
  if (!switched) return view.escalation === 'group_failed' ? run.finish('escalated', 'closed', {}) : run.end();
  return verifyAndFinish(run, switched);
}

/**
 * One-step (immediate rollbacks): the incident's re-check, the target, the operator's metrics before, the group plan
 * and the switch run as one activity, so the switch waits for one round trip through the engine instead of one per
 * step. The timeline records the same events, in the same order, once it returns. If that activity cannot finish
 * (its retries spent), the step-by-step path takes over: every step is idempotent, the switch keyed by the rollback.
 */
async function oneStepRollback(run: RollbackRun, o: { critical: boolean; automatic: boolean }): Promise<RollbackView> {
  const { view, input } = run;
  let r: OneStepResult;
  try {
    r = await switchInOneStep({
      prompt: input.prompt,
      rollback_id: input.rollback_id,
      actor: view.decided_by ?? input.requested_by,
      reason: view.reason,
      ...(input.incident && o.automatic ? { reconfirm: { critical: o.critical } } : {}),
      ...(o.critical ? { critical: true } : {}),
      ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
      ...(input.incident
        ? { incident: input.incident.version !== undefined ? { version: input.incident.version } : {} }
        : { read_before: true }),
    });
  } catch (e) {
    if (isCancellation(e)) throw e;
    log.warn('one-step switch failed; continuing step by step', { error: e instanceof Error ? e.message : String(e) });
    if (input.incident) run.enterSoon('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
    return stepByStep(run, new Stages(run), o.critical);
  }
  if (r.reconfirmed) {
    const now = r.reconfirmed;
    const holds = now.kind === 'breached' && now.severity !== 'low';
    run.event('reconfirmed', {
      ...now,
      ...(r.kind !== 'cleared' && !holds
        ? { note: `not a healthy re-check: the critical breach (${run.verdict?.summary ?? ''}) stands` }
        : {}),
    });
  }
  if (r.kind === 'cleared') {
    view.outcome = 'cleared';
    return run.finish('cleared', 'cleared', { why: `breach did not re-confirm: ${r.reconfirmed.summary}` });
  }
  if (input.incident) run.enterSoon('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
  if (r.kind === 'no_target') {
    await targetRejected(run, r.type, r.error, r.type);
    return run.end();
  }
  recordTarget(run, r.target);
  if (r.before && r.target.from_version !== null) run.event('metrics_before', { version: r.target.from_version, ...r.before });
  if (r.group_error !== undefined) {
    run.event('group_plan_failed', { error: r.group_error, consequence: `${input.prompt} rolls back alone` });
  } else {
    recordGroup(run, r.group);
  }
  let switched: SwitchResult | undefined;
  if (r.kind === 'planned') switched = await switchPhase(run, r.target, r.group, r.mark_from);
  else if (r.kind === 'switch_failed') await switchFailed(run, r.target, r.error, r.type);
  else switched = await afterSwitch(run, r.switched, r.mark_from);
  if (!switched) return view.escalation === 'group_failed' ? run.finish('escalated', 'closed', {}) : run.end();
  return verifyAndFinish(run, switched);
}

/** Verification of the switched traffic, and the run's end by its outcome. */
async function verifyAndFinish(run: RollbackRun, switched: SwitchResult): Promise<RollbackView> {
  const { view, input } = run;
  const checked = await verify(run, switched, incidentTrigger(run));
  view.outcome = checked.outcome;
  const summary = checked.last?.summary;
  switch (checked.outcome) {
    case 'recovered':
      return run.finish('completed', 'recovered', { summary });
    case 'unverified':
      // No traffic is not success: say so and ask a person to look, without paging as for a failed rollback.
      run.send(
        'alert',
        'high',
        `ROLLBACK UNVERIFIED: ${input.prompt}`,
        `Switched to ${switched.to}, but recovery could not be verified: ${summary ?? 'no data'}`,
        {
          checks: view.verification?.checks.length ?? 0,
        },
      );
      return run.finish('completed', 'verification_inconclusive', { summary });
    case 'not_a_prompt_regression':
      // The known-good version fails the same way: another switch would not help. Keep it, page, stop.
      view.severity = 'critical';
      view.escalation = 'not_a_prompt_regression';
      run.send(
        'page',
        'critical',
        `NOT A PROMPT REGRESSION: ${input.prompt}`,
        `not a prompt regression — the known-good version ${switched.to} fails the same way (provider outage?): ${summary ?? ''}. Traffic stays on ${switched.to}; no further rollback.`,
        { verdict: checked.last ?? null },
      );
      return run.finish('escalated', 'not_a_prompt_regression', { summary, kept: switched.to });
    case 'not_recovered':
      view.severity = 'critical';
      view.escalation = 'not_recovered';
      run.send(
        'page',
        'critical',
        `ROLLBACK NOT RECOVERING: ${input.prompt}`,
        `Still failing on ${switched.to} after ${input.verification.duration_s} s: ${summary ?? ''}. Escalating to on-call.`,
        { verdict: checked.last ?? null },
      );
      return run.finish('escalated', 'not_recovered', { summary });
  }
}
