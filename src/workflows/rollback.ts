import { patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RollbackInput, RollbackView } from '../domain/rollback';
import { rollbackWorkflowV1 } from './legacy/rollback-v1';
import { breachSignal, stateQuery } from './messages';
import { RollbackRun } from './rollback/context';
import { DecisionDesk, IncidentDecision } from './rollback/decide';
import { Stages } from './rollback/stages';
import { chooseTargetPhase, planGroupPhase, switchPhase } from './rollback/switch';
import { incidentTrigger, verify } from './rollback/verify';

export type { RollbackInput };

const { readWindow, readTraffic } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
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

  // An incident's detection follows at once: saved together (lean runs).
  await run.enter(
    view.status,
    'requested',
    { by: input.requested_by, reason: input.reason, mode: input.mode },
    input.incident ? { then: 'next_step' } : {},
  );

  let critical = false;
  if (input.incident) {
    const decision = new IncidentDecision(run, desk, input.incident);
    let outcome = await decision.decide();
    // Re-confirm right before an automatic switch: it acts only on a breach that still holds.
    if (outcome.kind === 'switch' && outcome.automatic) {
      delete view.deadline;
      outcome = await decision.reconfirm(outcome);
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
    await run.enter('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
  }

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
  const markFrom = !input.incident || input.incident.version === undefined || input.incident.version === target.from_version;
  const switched = await switchPhase(run, target, group, markFrom);
  if (!switched) return view.escalation === 'group_failed' ? run.finish('escalated', 'closed', {}) : run.end();

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
