import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RollbackMode, RollbackStatus, RollbackView, Severity, Trigger } from '../domain/rollback';
import type { Verdict } from '../domain/verdict';
import { verificationOutcome, type VerificationPolicy } from '../domain/verification';
import { RollbackSeverityKey, RollbackStateKey, stateQuery } from './messages';

export interface RollbackInput {
  rollback_id: string;
  prompt: string;
  target_version?: string;
  reason: string;
  severity: Severity;
  mode: RollbackMode;
  trigger?: Trigger;
  requested_by: string;
  requested_at: string;
  verification: VerificationPolicy;
}

const { chooseTarget, readWindow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});
// The switch has a budget (critical: within 2 min of the breach): a few fast retries, then escalate.
const { switchActiveVersion } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 6 },
});
const { checkRecovery, saveRollback } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds' },
});
// Notifications retry on their own schedule; they run after the switch, so they never hold it up.
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

/**
 * One rollback: choose and validate the target, switch traffic (once, keyed by the rollback id), audit,
 * notify, then verify recovery as the seed does and end `completed` or `escalated` with a critical page.
 */
export async function rollbackWorkflow(input: RollbackInput): Promise<RollbackView> {
  const view: RollbackView = {
    rollback_id: input.rollback_id,
    workflow_id: workflowInfo().workflowId,
    prompt: input.prompt,
    from_version: null,
    to_version: input.target_version ?? null,
    reason: input.reason,
    severity: input.severity,
    ...(input.trigger ? { trigger: input.trigger } : {}),
    mode: input.mode,
    status: 'rolling_back',
    requested_by: input.requested_by,
    requested_at: input.requested_at,
    timeline: [],
    updated_at: input.requested_at,
  };
  setHandler(stateQuery, () => view);

  const event = (name: string, detail: Record<string, unknown> = {}): void => {
    const at = new Date().toISOString();
    view.timeline.push({ at, event: name, detail });
    view.updated_at = at;
  };
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
    event(kind === 'page' ? 'paged' : 'notified', { channel: sent.channel, outbox_id: sent.id, title, message });
  };

  await enter('rolling_back', 'requested', { by: input.requested_by, reason: input.reason, mode: input.mode });

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
  event('target_selected', { from_version: target.from_version, to_version: target.to_version, skipped: target.skipped });

  // 2. The metrics at this moment go into the timeline: an operator's rollback is never refused for looking healthy.
  if (target.from_version !== null) {
    const before = await readWindow({ prompt: input.prompt, version: target.from_version, window_s: 300 });
    event('metrics_before', { version: target.from_version, ...before });
  }

  // 3. Switch, audited, once.
  let switched;
  try {
    switched = await switchActiveVersion({
      prompt: input.prompt,
      to: target.to_version,
      rollback_id: input.rollback_id,
      actor: input.requested_by,
      reason: input.reason,
    });
  } catch (e) {
    if (isCancellation(e)) throw e;
    await enter('escalated', 'switch_failed', { error: failureMessage(e), type: failureType(e) ?? 'Error' });
    await send(
      'page',
      'critical',
      `ROLLBACK FAILED: ${input.prompt}`,
      `Could not switch ${input.prompt} to ${target.to_version}: ${failureMessage(e)}. Traffic is still on ${target.from_version ?? 'nothing'}.`,
      {
        error: failureMessage(e),
      },
    );
    await saveRollback(view);
    return view;
  }
  await enter('verifying', 'switched', { from_version: switched.from, to_version: switched.to, at: switched.at });
  await send(
    'alert',
    input.severity,
    `ROLLBACK: ${input.prompt}`,
    `Reverted from ${switched.from ?? '(none)'} to ${switched.to}. Reason: ${input.reason}`,
    {
      from_version: switched.from,
      to_version: switched.to,
      trigger: input.trigger ?? null,
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

  if (result === 'recovered') {
    await enter('completed', 'recovered', { summary: last?.summary });
  } else if (result === 'inconclusive') {
    // No traffic is not success: say so, and ask a person to look, but do not page as for a failed rollback.
    await enter('completed', 'verification_inconclusive', { summary: last?.summary });
    await send(
      'alert',
      'high',
      `ROLLBACK UNVERIFIED: ${input.prompt}`,
      `Switched to ${switched.to}, but recovery could not be verified: ${last?.summary ?? 'no data'}`,
      {
        checks: checks.length,
      },
    );
  } else {
    view.severity = 'critical';
    await enter('escalated', 'not_recovered', { summary: last?.summary });
    await send(
      'page',
      'critical',
      `ROLLBACK NOT RECOVERING: ${input.prompt}`,
      `Still failing on ${switched.to} after ${input.verification.duration_s} s: ${last?.summary ?? ''}. Escalating to on-call.`,
      {
        verdict: last ?? null,
      },
    );
  }
  await saveRollback(view);
  return view;
}
