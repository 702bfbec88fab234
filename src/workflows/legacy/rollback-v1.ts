/**
 * FROZEN: the rollbackWorkflow body as it ran before the v2 core. Histories of executions started then replay through
 * this file, so it must not change (except behind `patched()` for histories older than itself). New logic goes
 * into the v2 modules beside it.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { SEVERITY_RANK } from '../../domain/policy';
import {
  defaultActionText,
  initialView,
  triggerOf,
  type Incident,
  type RollbackInput,
  type RollbackStatus,
  type RollbackView,
  type Severity,
} from '../../domain/rollback';
import type { Verdict } from '../../domain/verdict';
import { verificationOutcome } from '../../domain/verification';
import { DEFAULT_GRADUAL } from '../../domain/stages';
import { gradualRollbackWorkflow, type GradualResult } from '../gradual';
import {
  approveSignal,
  breachSignal,
  progressSignal,
  rejectSignal,
  RollbackSeverityKey,
  RollbackStateKey,
  stateQuery,
  type DecisionPayload,
} from '../messages';

const { chooseTarget, readWindow, assessNow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});
// The switch has a budget (critical: within 2 min of the breach): a few fast retries, then escalate.
const { switchActiveVersion } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 6 },
});
const { planGroup, revertSwitch } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '15 seconds', maximumAttempts: 10 },
});
const { checkRecovery, saveRollback } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds' },
});
// Notifications retry on their own schedule and never hold up a switch.
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 20 },
});

const failureType = (e: unknown): string | undefined => {
  const cause = e instanceof ActivityFailure ? e.cause : e;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
};
const failureMessage = (e: unknown): string => {
  const cause = e instanceof ActivityFailure && e.cause ? e.cause : e;
  return cause instanceof Error ? cause.message : String(cause);
};

/** How the decision phase of an incident ended. */
type Outcome = { kind: 'switch'; automatic: boolean; gradual?: boolean } | { kind: 'rejected' } | { kind: 'cleared'; why: string };

/**
 * One rollback, or one incident that may become one.
 *
 * Opened by an operator: choose and validate the target, switch traffic (once, keyed by the rollback id),
 * audit, notify, verify recovery as the seed does, end `completed` or `escalated` with a critical page.
 *
 * Opened by a monitor: first the trigger table's decision — critical rolls back at once; high pages on-call
 * and waits for approve/reject until the deadline (then escalates a tier and applies the rule's default
 * action); medium observes for the period, then rolls back if still breached or clears. A worse breach while
 * waiting (signal `breach`) acts at once. An automatic switch re-confirms the breach right before switching.
 */
export async function rollbackWorkflowV1(input: RollbackInput): Promise<RollbackView> {
  const view: RollbackView = initialView(input);
  let decision: ({ kind: 'approve' | 'reject' } & DecisionPayload) | undefined;
  let worse: Verdict | undefined;
  // A person may decide from the moment the incident is visible (the API shows it once it is claimed).
  let deciding = input.incident !== undefined && input.incident.action !== 'rollback';

  setHandler(stateQuery, () => view);
  const onDecision = (kind: 'approve' | 'reject') => (p: DecisionPayload) => {
    if (deciding && decision === undefined) decision = { kind, by: p?.by || 'unknown', ...(p?.comment ? { comment: p.comment } : {}) };
    else event('decision_ignored', { decision: kind, by: p?.by, status: view.status });
  };
  setHandler(approveSignal, onDecision('approve'));
  setHandler(rejectSignal, onDecision('reject'));
  setHandler(breachSignal, (v: Verdict) => {
    worse = v;
  });

  function event(name: string, detail: Record<string, unknown> = {}): void {
    const at = new Date().toISOString();
    view.timeline.push({ at, event: name, detail });
    view.updated_at = at;
  }
  const enter = async (status: RollbackStatus, name: string, detail: Record<string, unknown> = {}): Promise<void> => {
    view.status = status;
    event(name, detail);
    upsertSearchAttributes([
      { key: RollbackStateKey, value: status },
      { key: RollbackSeverityKey, value: view.severity },
    ]);
    await saveRollback(view);
  };
  const send = async (kind: 'page' | 'alert', severity: Severity, title: string, message: string, data: Record<string, unknown>) => {
    const sent = await notify({
      key: `${input.rollback_id}/${view.timeline.length}/${kind}`,
      kind,
      severity,
      prompt: input.prompt,
      rollback_id: input.rollback_id,
      title,
      message,
      data,
    });
    event(kind === 'page' ? 'paged' : 'notified', { channel: sent.channel, outbox_id: sent.id, title, message, links: sent.links ?? {} });
    await saveRollback(view);
  };
  const finish = async (status: RollbackStatus, name: string, detail: Record<string, unknown> = {}): Promise<RollbackView> => {
    delete view.deadline;
    await enter(status, name, detail);
    return view;
  };

  /** Runs the gradual child, mirroring its progress into this view (status `paused` while it is paused). */
  async function runGradual(from: string, to: string): Promise<GradualResult> {
    let progressed = false;
    setHandler(progressSignal, (p) => {
      view.gradual = p;
      progressed = true;
    });
    const plan = input.gradual_plan ?? DEFAULT_GRADUAL;
    event('gradual_started', { stages: plan.stages, check_interval_s: plan.check_interval_s, max_error_rate: plan.max_error_rate });
    const child = await startChild(gradualRollbackWorkflow, {
      workflowId: `${view.workflow_id}/gradual`,
      args: [
        {
          rollback_id: input.rollback_id,
          prompt: input.prompt,
          from_version: from,
          to_version: to,
          plan,
          actor: view.decided_by ?? input.requested_by,
          reason: input.reason,
        },
      ],
    });
    let result: GradualResult | undefined;
    let failure: unknown;
    child.result().then(
      (r) => (result = r),
      (e: unknown) => (failure = e ?? new Error('gradual rollback failed')),
    );
    while (result === undefined && failure === undefined) {
      await condition(() => progressed || result !== undefined || failure !== undefined);
      if (!progressed) continue;
      progressed = false;
      const status: RollbackStatus = view.gradual?.paused ? 'paused' : 'rolling_back';
      if (status !== view.status) {
        await enter(status, status === 'paused' ? 'paused' : 'resumed', {
          stage: view.gradual?.stage,
          reason: view.gradual?.paused_reason,
        });
      } else {
        await saveRollback(view);
      }
    }
    if (failure !== undefined) throw failure;
    if (view.status === 'paused') view.status = 'rolling_back';
    return result!;
  }

  /** The trigger table's decision for a monitor's incident. */
  async function decide(incident: Incident): Promise<Outcome> {
    let { action, deadline_s, default_action } = incident;
    let verdict = incident.verdict;
    view.tier = 1;
    await enter(view.status, 'detected', { ...verdict });
    // The first deadline counts from detection (as the API already shows it); a worse breach or a new tier from then.
    let deadlineFrom = Date.parse(input.requested_at);
    let announce = true;
    for (;;) {
      if (action === 'rollback') {
        deciding = false;
        return { kind: 'switch', automatic: true };
      }
      const observing = action === 'observe';
      deciding = true;
      const deadlineMs = deadlineFrom + deadline_s * 1000;
      const deadline = new Date(deadlineMs).toISOString();
      if (announce) {
        announce = false;
        view.deadline = deadline;
        view.default_action = defaultActionText({ action, default_action });
        await enter(observing ? 'observing' : 'awaiting_approval', observing ? 'observing' : 'awaiting_approval', {
          deadline,
          tier: view.tier,
          default_action: view.default_action,
          verdict: verdict.summary,
        });
        const how = `Approve: POST /api/rollbacks/${input.rollback_id}/approve, or signal "approve" to ${view.workflow_id}. Reject ("investigate"): …/reject.`;
        await send(
          action === 'page' || view.tier > 1 ? 'page' : 'alert',
          view.severity,
          observing
            ? `Observing ${input.prompt}: ${verdict.summary}`
            : `${view.tier > 1 ? `ESCALATION tier ${view.tier}: ` : ''}${action === 'recommend' ? 'Rollback recommended' : 'Decision needed'} for ${input.prompt}`,
          observing
            ? `${verdict.summary}. Watching until ${deadline}; still breached then → rollback.`
            : `${verdict.summary}. Decide by ${deadline}; then: ${view.default_action}. ${how}`,
          { verdict, deadline, tier: view.tier },
        );
      }

      await condition(() => decision !== undefined || worse !== undefined, Math.max(1, deadlineMs - Date.now()));
      if (decision !== undefined) {
        deciding = false;
        view.decided_by = decision.by;
        event(decision.kind === 'approve' ? 'approved' : 'rejected', { by: decision.by, comment: decision.comment ?? null });
        return decision.kind === 'approve' ? { kind: 'switch', automatic: false } : { kind: 'rejected' };
      }
      if (worse !== undefined) {
        const w = worse;
        worse = undefined;
        if (w.severity === undefined || SEVERITY_RANK[w.severity] <= SEVERITY_RANK[view.severity]) {
          // Not worse: noted, and the same deadline still stands (no new page).
          event('breach_update', { ...w });
          continue;
        }
        event('worsened', { from: view.severity, ...w });
        view.severity = w.severity;
        view.trigger = triggerOf(w);
        view.incident_rule = w.rule;
        verdict = w;
        action = (w.action as Incident['action']) ?? 'page';
        deadline_s = w.deadline_s ?? deadline_s;
        default_action = w.default_action ?? default_action;
        view.tier = 1;
        deadlineFrom = Date.now();
        announce = true;
        continue;
      }
      // The deadline passed with no decision.
      deciding = false;
      if (observing) {
        const now = await assessNow({ prompt: input.prompt });
        event('observation_ended', { ...now });
        // A minor regression that persisted: roll back gently (versioned: incidents before this change switched at once).
        if (now.kind === 'breached' && now.severity !== 'low')
          return { kind: 'switch', automatic: true, gradual: patched('medium-observe-gradual') };
        if (now.kind === 'healthy') return { kind: 'cleared', why: now.summary };
        deciding = true;
        view.tier += 1;
        deadlineFrom = Date.now();
        announce = true;
        continue;
      }
      view.tier += 1;
      event('deadline_passed', { tier: view.tier, default_action });
      if (default_action === 'rollback') {
        view.decided_by = 'system (decision deadline)';
        await send(
          'page',
          view.severity,
          `ESCALATION tier ${view.tier}: ${input.prompt} rolling back`,
          `No decision by ${deadline}: applying the default action (roll back).`,
          {
            verdict,
          },
        );
        return { kind: 'switch', automatic: true };
      }
      deadlineFrom = Date.now();
      announce = true;
    }
  }

  await enter(view.status, 'requested', { by: input.requested_by, reason: input.reason, mode: input.mode });

  if (input.incident) {
    const outcome = await decide(input.incident);
    delete view.deadline;
    if (outcome.kind === 'rejected') {
      await send(
        'alert',
        view.severity,
        `Rollback rejected: ${input.prompt}`,
        `${view.decided_by ?? 'on-call'} chose to investigate; monitoring continues.`,
        {},
      );
      return finish('rejected', 'closed', { decided_by: view.decided_by });
    }
    if (outcome.kind === 'cleared') return finish('cleared', 'cleared', { why: outcome.why });
    if (outcome.automatic) {
      // Re-confirm right before switching: an automatic rollback acts only on a breach that still holds.
      const now = await assessNow({ prompt: input.prompt });
      event('reconfirmed', { ...now });
      if (now.kind !== 'breached' || now.severity === 'low') {
        return finish('cleared', 'cleared', { why: `breach did not re-confirm: ${now.summary}` });
      }
    }
    if (outcome.gradual) view.mode = 'gradual';
    await enter('rolling_back', 'rolling_back', { decided_by: view.decided_by ?? 'system', mode: view.mode });
  }

  // 1. Target.
  let target;
  try {
    target = await chooseTarget({
      prompt: input.prompt,
      ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
    });
  } catch (e) {
    if (isCancellation(e)) throw e;
    await enter('failed', 'target_rejected', { type: failureType(e) ?? 'Error', error: failureMessage(e) });
    await send('page', 'critical', `ROLLBACK FAILED: ${input.prompt}`, `No rollback target: ${failureMessage(e)}`, {
      type: failureType(e),
    });
    await saveRollback(view);
    return view;
  }
  view.from_version = target.from_version;
  view.to_version = target.to_version;
  event('target_selected', {
    from_version: target.from_version,
    to_version: target.to_version,
    skipped: target.skipped,
    baseline_test: target.evaluation ?? null,
  });

  // 2. An operator's rollback is never refused for looking healthy: the metrics at this moment go into the timeline.
  if (target.from_version !== null && !input.incident) {
    const before = await readWindow({ prompt: input.prompt, version: target.from_version, window_s: 300 });
    event('metrics_before', { version: target.from_version, ...before });
  }

  // 3a. Gradual: a child workflow moves traffic off the bad version in stages; the last step is the switch below.
  if (view.mode === 'gradual' && target.from_version !== null && target.from_version !== target.to_version) {
    const result = await runGradual(target.from_version, target.to_version);
    if (result.outcome === 'aborted') {
      return finish('failed', 'aborted', { by: result.by, traffic: `all traffic back on ${target.from_version}` });
    }
  }

  // 2b. Coordinated: related prompts that are breached too join this rollback, all or none (versioned).
  const members = patched('coordinated-rollback') ? await planGroup({ prompt: input.prompt }) : { members: [], not_joining: [] };
  if (members.members.length > 0 || members.not_joining.length > 0) {
    view.group = {
      members: members.members.map((m) => ({
        prompt: m.prompt,
        from_version: m.from_version,
        to_version: m.to_version,
        summary: m.verdict.summary,
        switched: false,
      })),
      not_joining: members.not_joining,
    };
    event('group_planned', { members: view.group.members, not_joining: members.not_joining });
  }

  // 3. Switch, audited, once.
  let switched;
  try {
    switched = await switchActiveVersion({
      prompt: input.prompt,
      to: target.to_version,
      rollback_id: input.rollback_id,
      actor: view.decided_by ?? input.requested_by,
      reason: input.reason,
    });
  } catch (e) {
    if (isCancellation(e)) throw e;
    view.severity = 'critical';
    await enter('escalated', 'switch_failed', { error: failureMessage(e), type: failureType(e) ?? 'Error' });
    await send(
      'page',
      'critical',
      `ROLLBACK FAILED: ${input.prompt}`,
      `Could not switch ${input.prompt} to ${target.to_version}: ${failureMessage(e)}. Traffic is still on ${target.from_version ?? 'nothing'}.`,
      { error: failureMessage(e) },
    );
    await saveRollback(view);
    return view;
  }
  // 3b. The group's members switch too; if one cannot, every switch already made is undone (compensation).
  for (const [i, m] of members.members.entries()) {
    try {
      await switchActiveVersion({
        prompt: m.prompt,
        to: m.to_version,
        rollback_id: `${input.rollback_id}/${m.prompt}`,
        actor: view.decided_by ?? input.requested_by,
        reason: `group rollback with ${input.prompt}: ${m.verdict.summary}`,
      });
      view.group!.members[i]!.switched = true;
    } catch (e) {
      if (isCancellation(e)) throw e;
      const undone: string[] = [];
      for (const done of members.members.slice(0, i).reverse()) {
        await revertSwitch({
          prompt: done.prompt,
          to: done.from_version,
          key: `${input.rollback_id}/${done.prompt}/undo`,
          reason: `group rollback failed on ${m.prompt}`,
        });
        undone.push(done.prompt);
      }
      if (switched.from !== null) {
        await revertSwitch({
          prompt: input.prompt,
          to: switched.from,
          key: `${input.rollback_id}/undo`,
          reason: `group rollback failed on ${m.prompt}`,
        });
        undone.push(input.prompt);
      }
      for (const gm of view.group!.members) gm.switched = false;
      view.severity = 'critical';
      await enter('escalated', 'group_failed_compensated', { failed: m.prompt, error: failureMessage(e), undone });
      await send(
        'page',
        'critical',
        `GROUP ROLLBACK FAILED: ${input.prompt}`,
        `Could not switch ${m.prompt} to ${m.to_version} (${failureMessage(e)}); every switch of the group was undone (${undone.join(', ')}). Traffic is where it was.`,
        { failed: m.prompt, undone },
      );
      return finish('escalated', 'closed', {});
    }
  }
  await enter('verifying', 'switched', {
    from_version: switched.from,
    to_version: switched.to,
    at: switched.at,
    ...(view.group ? { group: view.group.members.map((g) => `${g.prompt}: ${g.from_version} → ${g.to_version}`) } : {}),
  });
  // One page for the whole group.
  const groupText = view.group?.members.map((g) => `${g.prompt} ${g.from_version} → ${g.to_version}`).join(', ') ?? '';
  await send(
    'alert',
    view.severity,
    `ROLLBACK: ${input.prompt}${groupText ? ` (group: ${view.group!.members.map((g) => g.prompt).join(', ')})` : ''}`,
    `Reverted from ${switched.from ?? '(none)'} to ${switched.to}${groupText ? `; with it ${groupText}` : ''}. Reason: ${input.reason}`,
    {
      from_version: switched.from,
      to_version: switched.to,
      trigger: view.trigger ?? null,
      group: view.group ?? null,
    },
  );

  // 4. Verify: every interval_s for duration_s; recovered as soon as one check is healthy.
  const checks: Verdict[] = [];
  view.verification = { checks, result: 'pending' };
  const rounds = Math.max(1, Math.floor(input.verification.duration_s / input.verification.interval_s));
  for (let i = 0; i < rounds; i++) {
    await sleep(input.verification.interval_s * 1000);
    const verdict = await checkRecovery({
      prompt: input.prompt,
      version: switched.to,
      since: switched.at,
      window_s: input.verification.duration_s,
      policy: input.verification,
    });
    checks.push(verdict);
    event('verification_check', { check: i + 1, of: rounds, ...verdict });
    await saveRollback(view);
    if (verdict.kind === 'healthy') break;
  }
  const result = verificationOutcome(checks);
  view.verification.result = result;
  const last = checks[checks.length - 1];

  if (result === 'recovered') return finish('completed', 'recovered', { summary: last?.summary });
  if (result === 'inconclusive') {
    // No traffic is not success: say so and ask a person to look, without paging as for a failed rollback.
    await send(
      'alert',
      'high',
      `ROLLBACK UNVERIFIED: ${input.prompt}`,
      `Switched to ${switched.to}, but recovery could not be verified: ${last?.summary ?? 'no data'}`,
      {
        checks: checks.length,
      },
    );
    return finish('completed', 'verification_inconclusive', { summary: last?.summary });
  }
  view.severity = 'critical';
  await send(
    'page',
    'critical',
    `ROLLBACK NOT RECOVERING: ${input.prompt}`,
    `Still failing on ${switched.to} after ${input.verification.duration_s} s: ${last?.summary ?? ''}. Escalating to on-call.`,
    { verdict: last ?? null },
  );
  return finish('escalated', 'not_recovered', { summary: last?.summary });
}
