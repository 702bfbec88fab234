import { isCancellation, log, patched, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { marksFromVersion, type RollbackInput, type RollbackView } from '../domain/rollback';
import { rollbackWorkflowV1 } from './legacy/rollback-v1';
import { breachSignal, stateQuery } from './messages';
import { failureMessage, RollbackRun } from './rollback/context';
import { DecisionDesk, IncidentDecision } from './rollback/decide';
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

const { readWindow, readTraffic } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});
// The switch path in one activity: the switch's own retry budget. It bounds the baseline tests like chooseTarget (60 s
// for the whole choice; 10 s for a critical incident), and its timeout is above that bound: a critical incident's
// keeps a short one (the critical rule's 2-min budget).
const ONE_STEP_RETRY = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 6 } as const;
const { switchInOneStep } = proxyActivities<Activities>({ startToCloseTimeout: '90 seconds', retry: ONE_STEP_RETRY });
const { switchInOneStep: switchInOneStepCritical } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: ONE_STEP_RETRY,
});

/** Immediate rollbacks started with this change switch in one activity (re-check, target, group, switch). */
const ONE_STEP = 'switch-in-one-step';

/**
 * The one step as a local activity: it runs inside the run's first workflow task (or the task that decided), so the
 * switch waits for no activity task to be scheduled, dispatched and polled through the engine, which queue behind
 * every monitor's task on a busy engine. Same retry budget; retries past the threshold wait on a timer, and a worker
 * that dies within the task runs it again from the replacement task (the switch is keyed by the rollback id).
 */
const { switchInOneStep: switchInOneStepInTask } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '90 seconds',
  retry: ONE_STEP_RETRY,
  localRetryThreshold: '10 seconds',
});
const { switchInOneStep: switchInOneStepInTaskCritical } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: ONE_STEP_RETRY,
  localRetryThreshold: '10 seconds',
});
/** Runs (and parts of runs) from before it replay the one step as an activity task. */
export const SWITCH_IN_TASK = 'switch-in-task';

/** Rollbacks to a named target started with this change test it after the switch (testTarget), not before. */
export const NAMED_TEST_AFTER_SWITCH = 'named-test-after-switch';
// The test is bounded by the activity (60 s, then "not judged"); the timeout is above that bound. The run ends once it
// is recorded, so it is tried twice, not until it answers.
const { testTarget } = proxyActivities<Activities>({
  startToCloseTimeout: '75 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 2 },
});

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
  // Decided in the first workflow task, after lean-history and metrics-unreadable (RollbackRun): always this order.
  const oneStep = patched(ONE_STEP);
  // Only immediate runs with a named target carry its marker. A gradual rollback still tests its target first: its
  // stages take minutes, the result is known before traffic starts to move, and an abort never waits for a test.
  run.namedTestAfterSwitch = input.target_version !== undefined && view.mode !== 'gradual' && patched(NAMED_TEST_AFTER_SWITCH);
  // An incident's detection follows at once: saved together (lean runs). One-step: the store already holds the
  // claimed rollback, so this save goes with the next state change and does not hold up the switch.
  await run.enter(
    view.status,
    'requested',
    { by: input.requested_by, reason: input.reason, mode: input.mode },
    input.incident || (oneStep && view.mode !== 'gradual') ? { then: 'next_step' } : {},
  );

  let critical = false;
  if (input.incident) {
    const decision = new IncidentDecision(run, desk, input.incident);
    let outcome = await decision.decide();
    // Re-confirm right before an automatic switch: it acts only on a breach that still holds.
    if (outcome.kind === 'switch' && outcome.automatic) {
      delete view.deadline;
      if (oneStep && !outcome.gradual && view.mode !== 'gradual') {
        const r = await oneStepAttempt(run, { critical: view.severity === 'critical', automatic: true });
        // Switched or refused in one step (a critical breach, or one that re-confirmed): recorded and verified.
        if (r && r.kind !== 'unconfirmed') return oneStepRecorded(run, r);
        // Not a confirmed breach of a high/medium incident (or the one step could not finish): the re-confirmation
        // decides as on the step-by-step path — an unreadable re-check neither switches nor clears.
        outcome = await decision.reconfirm(outcome, r?.reconfirmed);
      } else {
        outcome = await decision.reconfirm(outcome);
      }
    }
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
    if (outcome.gradual) view.mode = 'gradual';
    // An approval is answered once the store shows the rollback under way: this save is awaited before the switch.
    await run.enter('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
    if (oneStep && !outcome.automatic && view.mode !== 'gradual') {
      const r = await oneStepAttempt(run, { critical, automatic: false });
      if (r && r.kind !== 'unconfirmed') return oneStepRecorded(run, r);
    }
  } else if (oneStep && view.mode !== 'gradual') {
    const r = await oneStepAttempt(run, { critical, automatic: false });
    if (r && r.kind !== 'unconfirmed') return oneStepRecorded(run, r);
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
    if (patched('metrics-unreadable')) {
      // A metrics provider that cannot answer never holds up the switch: the timeline says so and the rollback goes on.
      const before = await readTraffic({ prompt: input.prompt, version: target.from_version, window_s: 300 });
      run.event(
        'metrics_before',
        before.kind === 'read' ? { version: target.from_version, ...before.window } : { version: target.from_version, error: before.error },
      );
    } else {
      const before = await readWindow({ prompt: input.prompt, version: target.from_version, window_s: 300 });
      run.event('metrics_before', { version: target.from_version, ...before });
    }
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
  const markFrom = marksFromVersion(input.incident, target.from_version);
  const switched = await switchPhase(run, target, group, markFrom);
  if (!switched) return view.escalation === 'group_failed' ? run.finish('escalated', 'closed', {}) : run.end();
  return verifyAndFinish(run, switched);
}

/**
 * One-step (immediate rollbacks): the incident's re-check, the target, the operator's metrics before, the group plan
 * and the switch run as one activity, so the switch waits for one round trip through the engine instead of one per
 * step. Undefined if that activity cannot finish (its retries spent): the step-by-step path takes over, every step
 * idempotent, the switch keyed by the rollback.
 */
async function oneStepAttempt(run: RollbackRun, o: { critical: boolean; automatic: boolean }): Promise<OneStepResult | undefined> {
  const { view, input } = run;
  const step = patched(SWITCH_IN_TASK)
    ? o.critical
      ? switchInOneStepInTaskCritical
      : switchInOneStepInTask
    : o.critical
      ? switchInOneStepCritical
      : switchInOneStep;
  try {
    return await step({
      prompt: input.prompt,
      rollback_id: input.rollback_id,
      actor: view.decided_by ?? input.requested_by,
      reason: view.reason,
      ...(input.incident && o.automatic ? { reconfirm: { critical: o.critical } } : {}),
      ...(o.critical ? { critical: true } : {}),
      ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
      ...(run.namedTestAfterSwitch ? { named_test_after_switch: true } : {}),
      ...(input.incident
        ? { incident: input.incident.version !== undefined ? { version: input.incident.version } : {} }
        : { read_before: true }),
    });
  } catch (e) {
    if (isCancellation(e)) throw e;
    log.warn('one-step switch failed; continuing step by step', { error: e instanceof Error ? e.message : String(e) });
    return undefined;
  }
}

/** The one step's result in the timeline, the same events in the same order as the step-by-step path; then verification. */
async function oneStepRecorded(run: RollbackRun, r: Exclude<OneStepResult, { kind: 'unconfirmed' }>): Promise<RollbackView> {
  const { view, input } = run;
  if (r.kind === 'cleared') {
    // A critical breach whose re-check right before the switch is healthy.
    run.event('reconfirmed', { ...r.reconfirmed });
    view.outcome = 'cleared';
    return run.finish('cleared', 'cleared', { why: `breach did not re-confirm: ${r.reconfirmed.summary}` });
  }
  if (r.reconfirmed) {
    const now = r.reconfirmed;
    const holds = now.kind === 'breached' && now.severity !== 'low';
    run.event('reconfirmed', {
      ...now,
      ...(!holds ? { note: `not a healthy re-check: the critical breach (${run.verdict?.summary ?? ''}) stands` } : {}),
    });
    // An automatic incident's rollback: saved with the next state change (target rejected, switched, switch failed).
    await run.enter('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode }, { then: 'next_step' });
  }
  if (r.kind === 'no_target') {
    await targetRejected(run, r.type, r.error, r.type);
    return run.end();
  }
  recordTarget(run, r.target);
  if (r.before && r.target.from_version !== null) {
    const version = r.target.from_version;
    run.event('metrics_before', r.before.kind === 'read' ? { version, ...r.before.window } : { version, error: r.before.error });
  }
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
  if (run.namedTestAfterSwitch) testAfterSwitch(run, switched.to);
  const checked = await verify(run, switched, incidentTrigger(run));
  view.outcome = checked.outcome;
  const summary = checked.last?.summary;
  switch (checked.outcome) {
    case 'recovered':
      return run.finish('completed', 'recovered', { summary });
    case 'unverified':
      if (view.verification?.result === 'error') {
        // No check could read metrics: nothing protects this prompt until they can be read again. Page, as the
        // monitor does when it is blind, rather than an alert that reads like "too little traffic".
        run.send(
          'page',
          'high',
          `ROLLBACK UNVERIFIED, MONITOR IS BLIND: ${input.prompt}`,
          `Switched to ${switched.to}, but recovery could not be verified in ${input.verification.duration_s} s because metrics could not be read: ${summary ?? 'no answer'}. Nothing watches this prompt until they can be read again; check the metrics provider, then the prompt's traffic.`,
          { checks: view.verification.checks.length, verdict: checked.last ?? null },
        );
        return run.finish('completed', 'verification_inconclusive', { summary });
      }
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

/**
 * The named target's baseline test, beside verification: the operator chose the version, so the test never held up
 * the switch. Its result goes into the timeline; a failed test alerts (the version serving now failed it). The run
 * ends once it is recorded.
 */
function testAfterSwitch(run: RollbackRun, version: string): void {
  const { view, input } = run;
  const tested = testTarget({ prompt: input.prompt, version }).catch((e: unknown) =>
    isCancellation(e)
      ? null // the run is being cancelled: its own path says so
      : { evaluator: 'unavailable', passed: null, score: null, detail: `baseline test could not run: ${failureMessage(e)}` },
  );
  run.alongside(
    tested.then((evaluation) => {
      if (!evaluation) return; // no evaluator, or the version already passed its test
      run.event('baseline_tested', { version, ...evaluation });
      if (evaluation.passed === false) {
        run.send(
          'alert',
          'high',
          `ROLLED BACK TO A VERSION THAT FAILED ITS BASELINE TEST: ${input.prompt}`,
          `${version}, the version ${view.decided_by ?? input.requested_by} rolled back to, failed its baseline test: ${evaluation.detail}. It is serving; consider another target.`,
          { version, evaluation },
        );
      }
      // It answers during verification (the run's end waits for it): the next check, or the end, saves it.
      run.unsavedNotice = true;
    }),
  );
}
