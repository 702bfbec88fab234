import { isCancellation, log, patched, proxyActivities, sleep } from '@temporalio/workflow';
import { STORE_UNAVAILABLE } from '../../domain/errors';
import type { Activities, TargetChoice } from '../../activities';
import type { GroupPlan } from '../../activities/group';
import type { SwitchResult } from '../../ports/registry';
import { failureMessage, failureType, type RollbackRun } from './context';

// The activity bounds the baseline tests of one choice itself (60 s; 10 s for a critical incident), and its timeout is
// above that bound. A critical incident's choice keeps a short timeout: the critical rule's 2-min budget.
const TARGET_RETRY = { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 4 } as const;
const { chooseTarget } = proxyActivities<Activities>({ startToCloseTimeout: '90 seconds', retry: TARGET_RETRY });
const { chooseTarget: chooseTargetCritical } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: TARGET_RETRY });
// The switch has a budget (critical: within 2 min of the breach): a few fast retries, then escalate.
const { switchActiveVersion } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 6 },
});
// Planning happens before any switch: if it cannot be done, the prompt rolls back alone (no group half done).
const { planGroup } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '15 seconds', maximumAttempts: 5 },
});
// Compensation retries until it is done: giving up would leave a group half switched.
const { revertSwitch } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Rollbacks started with this change wait for a store that cannot be used, instead of failing on it. */
export const WAIT_FOR_STORE = 'wait-for-store';
/** Between two tries: 5 s, doubling to 1 min. */
const STORE_RETRY_S = 5;
const STORE_RETRY_MAX_S = 60;
/** On-call is paged once a rollback has waited this long: a critical incident's 2-min budget, else 5 min. */
const STORE_PAGE_AFTER_S = { critical: 120, other: 300 };
/** Runs that page about the wait on this code send the page at once, not after notifications still unqueued. */
export const PAGE_STORE_WAIT_AT_ONCE = 'page-store-wait-at-once';
/** Past this, the step fails as it did before the wait (target rejected, switch failed: paged). */
const STORE_GIVE_UP_S = 30 * 60;

/**
 * Runs a step of the switch path; while it fails because the store cannot be used (its own retries spent: Postgres
 * restarting or failing over, out of connections), waits and runs it again. An outage is no verdict on the rollback:
 * without this, a minute of it failed the rollback ("no rollback target") and left the bad version serving. The
 * timeline says so once per step; on-call is paged once the wait passes the rollback's budget (the outbox cannot take
 * the page: the worker sends it directly, and queues it once the store answers; it does not wait behind notifications
 * raised before it and not yet queued); after 30 min the step fails as before.
 */
export async function whileStoreDown<T>(run: RollbackRun, step: string, fn: () => Promise<T>): Promise<T> {
  const since = Date.now();
  let said = false;
  let paged = false;
  for (let wait_s = STORE_RETRY_S; ; wait_s = Math.min(wait_s * 2, STORE_RETRY_MAX_S)) {
    try {
      return await fn();
    } catch (e) {
      if (isCancellation(e) || failureType(e) !== STORE_UNAVAILABLE || !patched(WAIT_FOR_STORE)) throw e;
      const waited_s = Math.round((Date.now() - since) / 1000);
      if (waited_s >= STORE_GIVE_UP_S) throw e;
      const error = failureMessage(e);
      if (!said) {
        said = true;
        run.event('store_unavailable', { step, error, retry_every_s: STORE_RETRY_S });
        log.warn('the store cannot be used: the rollback waits for it', { step, error });
      }
      const pageAfter = run.view.severity === 'critical' ? STORE_PAGE_AFTER_S.critical : STORE_PAGE_AFTER_S.other;
      if (!paged && waited_s >= pageAfter) {
        paged = true;
        run.send(
          'page',
          'critical',
          `ROLLBACK WAITING FOR THE STORE: ${run.input.prompt}`,
          `The rollback of ${run.input.prompt} has waited ${waited_s} s for the store (${error}) at "${step}"; traffic is still on ${run.view.from_version ?? 'the version it was on'}. It goes on by itself once the store answers, and gives up after ${STORE_GIVE_UP_S / 60} min.`,
          // A PagerDuty incident of its own: the rollback's may be acknowledged already, and a trigger on it wakes nobody.
          { step, error, waited_s, incident: 'store-wait' },
          { atOnce: patched(PAGE_STORE_WAIT_AT_ONCE) },
        );
      }
      await sleep(wait_s * 1000);
    }
  }
}

/** 1. The target: the named version, or the last known-good one. Undefined when there is none (the run ends failed). */
export async function chooseTargetPhase(run: RollbackRun, critical: boolean): Promise<TargetChoice | undefined> {
  const { input } = run;
  try {
    const target = await whileStoreDown(run, 'choose the target', () =>
      (critical ? chooseTargetCritical : chooseTarget)({
        prompt: input.prompt,
        ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
        ...(critical ? { critical: true } : {}),
        ...(run.namedTestAfterSwitch ? { named_test_after_switch: true } : {}),
      }),
    );
    recordTarget(run, target);
    return target;
  } catch (e) {
    if (isCancellation(e)) throw e;
    await targetRejected(run, failureType(e) ?? 'Error', failureMessage(e), failureType(e));
    return undefined;
  }
}

export function recordTarget(run: RollbackRun, target: TargetChoice): void {
  run.view.from_version = target.from_version;
  run.view.to_version = target.to_version;
  run.event('target_selected', {
    from_version: target.from_version,
    to_version: target.to_version,
    skipped: target.skipped,
    baseline_test: target.evaluation ?? null,
  });
}

/** No target: the run fails and pages. `pageType` is what the page carries (the failure's type, if it had one). */
export async function targetRejected(run: RollbackRun, type: string, error: string, pageType: string | undefined): Promise<void> {
  run.view.outcome = 'failed';
  await run.enter('failed', 'target_rejected', { type, error });
  run.send('page', 'critical', `ROLLBACK FAILED: ${run.input.prompt}`, `No rollback target: ${error}`, { type: pageType });
}

/** Related prompts that are breached too join this rollback, all or none (versioned). */
export async function planGroupPhase(run: RollbackRun): Promise<GroupPlan> {
  const none: GroupPlan = { members: [], not_joining: [] };
  if (!patched('coordinated-rollback')) return none;
  let plan: GroupPlan;
  try {
    plan = await whileStoreDown(run, 'plan the group', () => planGroup({ prompt: run.input.prompt }));
  } catch (e) {
    if (isCancellation(e)) throw e;
    run.event('group_plan_failed', { error: failureMessage(e), consequence: `${run.input.prompt} rolls back alone` });
    return none;
  }
  recordGroup(run, plan);
  return plan;
}

export function recordGroup(run: RollbackRun, plan: GroupPlan): void {
  if (plan.members.length > 0 || plan.not_joining.length > 0) {
    run.view.group = {
      members: plan.members.map((m) => ({
        prompt: m.prompt,
        from_version: m.from_version,
        to_version: m.to_version,
        summary: m.verdict.summary,
        switched: false,
      })),
      not_joining: plan.not_joining,
    };
    run.event('group_planned', { members: run.view.group.members, not_joining: plan.not_joining });
  }
}

/**
 * 2. The switch, audited, once (keyed by the rollback id); then the group's members. If a member cannot switch,
 * every switch already made is undone (compensation, retried until done). Undefined when the run ended escalated.
 * `markFrom`: the from-version's own metrics are the evidence (an operator's rollback, or the breach was on it).
 */
export async function switchPhase(
  run: RollbackRun,
  target: TargetChoice,
  group: GroupPlan,
  markFrom: boolean,
): Promise<SwitchResult | undefined> {
  const { view, input } = run;
  const actor = view.decided_by ?? input.requested_by;
  let switched: SwitchResult;
  try {
    switched = await whileStoreDown(run, 'switch', () =>
      switchActiveVersion({
        prompt: input.prompt,
        to: target.to_version,
        rollback_id: input.rollback_id,
        actor,
        reason: view.reason,
        mark_from_rolled_back: markFrom,
      }),
    );
  } catch (e) {
    if (isCancellation(e)) throw e;
    await switchFailed(run, target, failureMessage(e), failureType(e) ?? 'Error');
    return undefined;
  }
  for (const [i, m] of group.members.entries()) {
    try {
      await whileStoreDown(run, `switch ${m.prompt}`, () =>
        switchActiveVersion({
          prompt: m.prompt,
          to: m.to_version,
          rollback_id: `${input.rollback_id}/${m.prompt}`,
          actor,
          reason: `group rollback with ${input.prompt}: ${m.verdict.summary}`,
          mark_from_rolled_back: true,
        }),
      );
      view.group!.members[i]!.switched = true;
    } catch (e) {
      if (isCancellation(e)) throw e;
      await compensate(run, group, i, switched, m.prompt, failureMessage(e));
      return undefined;
    }
  }
  return afterSwitch(run, switched, markFrom);
}

/** The prompt could not be switched: escalate and page; traffic stays where it was. */
export async function switchFailed(run: RollbackRun, target: TargetChoice, error: string, type: string): Promise<void> {
  const { view, input } = run;
  view.severity = 'critical';
  view.outcome = 'switch_failed';
  view.escalation = 'switch_failed';
  await run.enter('escalated', 'switch_failed', { error, type });
  run.send(
    'page',
    'critical',
    `ROLLBACK FAILED: ${input.prompt}`,
    `Could not switch ${input.prompt} to ${target.to_version}: ${error}. Traffic is still on ${target.from_version ?? 'nothing'}.`,
    { error },
  );
}

/** Switched (the group too): verifying, and one alert for the whole group, queued after the switch. */
export async function afterSwitch(run: RollbackRun, switched: SwitchResult, markFrom: boolean): Promise<SwitchResult> {
  const { view, input } = run;
  await run.enter('verifying', 'switched', {
    from_version: switched.from,
    to_version: switched.to,
    at: switched.at,
    marked_rolled_back_from: markFrom,
    ...(view.group ? { group: view.group.members.map((g) => `${g.prompt}: ${g.from_version} → ${g.to_version}`) } : {}),
  });
  // One page for the whole group, queued after the switch (it never held it up).
  const groupText = view.group?.members.map((g) => `${g.prompt} ${g.from_version} → ${g.to_version}`).join(', ') ?? '';
  run.send(
    'alert',
    view.severity === 'manual' ? 'high' : view.severity,
    `ROLLBACK: ${input.prompt}${groupText ? ` (group: ${view.group!.members.map((g) => g.prompt).join(', ')})` : ''}`,
    `Reverted from ${switched.from ?? '(none)'} to ${switched.to}${groupText ? `; with it ${groupText}` : ''}. Reason: ${view.reason}`,
    { from_version: switched.from, to_version: switched.to, trigger: view.trigger ?? null, group: view.group ?? null },
  );
  return switched;
}

async function compensate(
  run: RollbackRun,
  group: GroupPlan,
  failedAt: number,
  switched: SwitchResult,
  failed: string,
  error: string,
): Promise<void> {
  const { view, input } = run;
  const undone: string[] = [];
  for (const done of group.members.slice(0, failedAt).reverse()) {
    await revertSwitch({
      prompt: done.prompt,
      to: done.from_version,
      key: `${input.rollback_id}/${done.prompt}/undo`,
      reason: `group rollback failed on ${failed}`,
    });
    undone.push(done.prompt);
  }
  if (switched.from !== null) {
    await revertSwitch({
      prompt: input.prompt,
      to: switched.from,
      key: `${input.rollback_id}/undo`,
      reason: `group rollback failed on ${failed}`,
    });
    undone.push(input.prompt);
  }
  for (const gm of view.group!.members) gm.switched = false;
  view.severity = 'critical';
  view.outcome = 'group_failed';
  view.escalation = 'group_failed';
  await run.enter('escalated', 'group_failed_compensated', { failed, error, undone });
  run.send(
    'page',
    'critical',
    `GROUP ROLLBACK FAILED: ${input.prompt}`,
    `Could not switch ${failed} (${error}); every switch of the group was undone (${undone.join(', ')}). Traffic is where it was.`,
    { failed, undone },
  );
}
