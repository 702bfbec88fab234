import {
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, MonitorCheck } from '../activities';
import type { MonitorChecksResult } from '../activities/monitor-loop';
import { isAlreadyStarted } from '../domain/errors';
import { CHECKS_HEARTBEAT_TIMEOUT_S, untilOwnSlot } from '../domain/check-slot';
import { rollbackWorkflowId } from '../domain/names';
import { monitorCurrentDetails, rollbackDetails, rollbackSummary } from '../domain/workflow-summary';
import {
  breachSignal,
  checkNowSignal,
  monitorStateQuery,
  PromptNameKey,
  RollbackSeverityKey,
  RollbackStateKey,
  stopMonitorSignal,
  type MonitorState,
} from './messages';
import { rollbackWorkflow } from './rollback';

const { monitorCheck, monitorStopped } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});
/**
 * The check as a local activity: it runs inside the workflow task that the timer (or `check-now`) woke, so a
 * check costs the engine one workflow task instead of two plus an activity task, and an incident's child starts
 * in that same task. Retries stay inside the task (every backoff is below the threshold), keeping the attempt's
 * identity (run + activity id) that makes a retried claim continue its own incident.
 */
const { monitorCheck: monitorCheckInTask } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // Bounded: a check that keeps failing gives up after a minute (see the loop) instead of retrying for ever
  // inside the workflow task, which would keep extending the task and growing the history.
  scheduleToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  localRetryThreshold: '1 minute',
});
/** Monitor runs (and the parts of a run) from before it are replayed with the check as an activity task. */
export const LOCAL_CHECK = 'monitor-local-check';

export interface MonitorInput {
  prompt: string;
  interval_s: number;
  started_by: string;
  /** Where its incidents run (the rollback worker's queue); absent in monitors started before it: the monitor's own. */
  rollback_task_queue?: string;
  /**
   * `activity` (MONITOR_CHECKS=activity, monitors started since it): the periodic checks run in a long-running
   * activity on `check_task_queue`; absent: one workflow task per check.
   */
  checks?: 'activity';
  check_task_queue?: string;
  /** Carried across continue-as-new. */
  state?: MonitorState;
}

/** Checks per run before continue-as-new: keeps the history small (about 6 events a check). */
export const CHECKS_PER_RUN = 200;
/** Monitor runs with `checks: 'activity'` (and the parts of a run) from before it are replayed as they ran. */
export const CHECK_LOOP = 'monitor-check-loop';
/** Checks one `monitorChecks` activity makes before it reports back (an hour at 30 s): the state's count moves on. */
export const CHECKS_PER_LOOP = 120;
/** `monitorChecks` activities per run before continue-as-new (about 6 events each). */
export const LOOPS_PER_RUN = 100;

export { untilOwnSlot };

/**
 * One monitor per prompt (`monitor/{prompt}`): every `interval_s`, or at once when the ingest fast path
 * signals `check-now`, judge the active version by the trigger table. A breach opens an incident — a
 * `rollback/{prompt}/{id}` workflow that outlives this run — or tells the open one it got worse. Alerts below
 * the table are sent at most once per cool-down. Stops on the `stop` signal.
 */
export async function monitorWorkflow(input: MonitorInput): Promise<MonitorState> {
  const state: MonitorState = input.state ?? {
    prompt: input.prompt,
    interval_s: input.interval_s,
    started_by: input.started_by,
    checks: 0,
  };
  state.interval_s = input.interval_s;
  let checkNow = false;
  let stoppedBy: string | undefined;
  setHandler(monitorStateQuery, () => state);
  setHandler(checkNowSignal, () => {
    checkNow = true;
  });
  setHandler(stopMonitorSignal, (p) => {
    stoppedBy = p?.by || 'unknown';
  });

  const inActivity = input.checks === 'activity' && input.check_task_queue !== undefined;
  /** The Web UI's current details: the state, and where the checks run. */
  const details = (): void =>
    setCurrentDetails(
      inActivity
        ? `${monitorCurrentDetails(state)}\n\nchecks every ${input.interval_s} s in the pending activity \`monitorChecks\`: its heartbeat shows the last one (within a minute); the count here moves on when it reports`
        : monitorCurrentDetails(state),
    );
  /** A check's result in the monitor's state (the `state` query, the Web UI's current details). */
  const note = (r: MonitorCheck, counted = 1): void => {
    state.checks += counted;
    state.last_check_at = new Date().toISOString();
    state.last_verdict = r.verdict;
    state.last_action = r.action;
    state.active_version = r.active_version;
    details();
  };
  /** What a check decided that only the workflow can do: start the incident it claimed, or tell the open one. */
  const act = async (r: MonitorCheck): Promise<void> => {
    if (r.action === 'open_incident' && r.incident) {
      try {
        await startChild(rollbackWorkflow, {
          ...(input.rollback_task_queue ? { taskQueue: input.rollback_task_queue } : {}),
          workflowId: rollbackWorkflowId(input.prompt, r.incident.rollback_id),
          args: [r.incident],
          // The incident lives on when this run continues as new (or the monitor is stopped).
          parentClosePolicy: ParentClosePolicy.ABANDON,
          typedSearchAttributes: [
            { key: PromptNameKey, value: input.prompt },
            { key: RollbackSeverityKey, value: r.incident.severity },
            { key: RollbackStateKey, value: r.incident.incident?.action === 'rollback' ? 'rolling_back' : 'observing' },
          ],
          staticSummary: rollbackSummary(r.incident),
          staticDetails: rollbackDetails(r.incident),
        });
      } catch (e) {
        // A retried check continues an incident the reconciler may have started meanwhile: that one is it.
        if (!isAlreadyStarted(e)) throw e;
        state.last_action = `open_incident: ${r.incident.rollback_id} was already running`;
      }
    } else if (r.action === 'signal_incident' && r.open) {
      try {
        await getExternalWorkflowHandle(r.open.workflow_id).signal(breachSignal, r.verdict);
      } catch (e) {
        // The incident ended (or was terminated) since the check: the monitor goes on; the next check sees it closed.
        state.last_action = `signal_incident failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  };
  /** A check in this workflow task (a local activity); undefined when it failed for a minute, said in the state. */
  const checkInTask = async (source: 'tick' | 'fast_path'): Promise<MonitorCheck | undefined> => {
    try {
      return await monitorCheckInTask({ prompt: input.prompt, source });
    } catch (e) {
      if (isCancellation(e)) throw e; // the monitor was cancelled (e.g. from the Web UI): it ends
      // Failing for a minute (the store is down, a policy the check cannot read): said in the monitor's state, and
      // the next check comes at the next slot. Retrying inside the task for longer would only grow the history.
      state.last_check_at = new Date().toISOString();
      state.last_action = `check failed: ${failureMessage(e)}`;
      details();
      return undefined;
    }
  };

  if (inActivity && patched(CHECK_LOOP)) {
    stoppedBy = await checksInActivity(input, state, {
      details,
      checkNow: () => checkNow,
      takeCheckNow: () => {
        checkNow = false;
      },
      stoppedBy: () => stoppedBy,
      note,
      act,
      checkInTask,
    });
  } else {
    for (let i = 0; i < CHECKS_PER_RUN || checkNow; i++) {
      if (stoppedBy !== undefined) break;
      const source = checkNow ? 'fast_path' : 'tick';
      checkNow = false;
      const local = patched(LOCAL_CHECK);
      let r: MonitorCheck | undefined;
      if (local) {
        r = await checkInTask(source);
        if (r === undefined) {
          await condition(() => checkNow || stoppedBy !== undefined, untilOwnSlot(input.prompt, input.interval_s * 1000, Date.now()), {
            summary: `next check (${state.checks + 1}), after a failed one`,
          });
          continue;
        }
      } else {
        r = await monitorCheck({ prompt: input.prompt, source });
      }
      note(r);
      await act(r);
      const wait = local ? untilOwnSlot(input.prompt, input.interval_s * 1000, Date.now()) : input.interval_s * 1000;
      await condition(() => checkNow || stoppedBy !== undefined, wait, { summary: `next check (${state.checks + 1})` });
    }
  }
  if (stoppedBy !== undefined) {
    await monitorStopped({ prompt: input.prompt, by: stoppedBy });
    return state;
  }
  return continueAsNew<typeof monitorWorkflow>({ ...input, state });
}

/** What a failed check says: the activity's own error (its cause), not the wrapper's "Activity task failed". */
const failureMessage = (e: unknown): string => (e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e));

interface LoopHooks {
  /** Shows the state as the Web UI's current details. */
  details(): void;
  checkNow(): boolean;
  takeCheckNow(): void;
  stoppedBy(): string | undefined;
  note(r: MonitorCheck, counted?: number): void;
  act(r: MonitorCheck): Promise<void>;
  checkInTask(source: 'tick' | 'fast_path'): Promise<MonitorCheck | undefined>;
}

/**
 * MONITOR_CHECKS=activity: the periodic checks run in a long-running activity (`monitorChecks`, on the checks' own
 * task queue) that returns only when a check needs this workflow, or after CHECKS_PER_LOOP checks; a check costs the
 * engine no workflow task. `check-now` is checked here, in the task the signal wakes, while the loop goes on; `stop`
 * cancels the loop. Returns who stopped the monitor, or undefined when this run should continue as new.
 */
async function checksInActivity(input: MonitorInput, state: MonitorState, hooks: LoopHooks): Promise<string | undefined> {
  const { monitorChecks } = proxyActivities<Activities>({
    taskQueue: input.check_task_queue,
    // One attempt makes up to CHECKS_PER_LOOP checks, each at most 1.25 intervals apart. A lost worker is noticed by
    // the heartbeat (at least every 20 s, asleep or not), not by this bound.
    startToCloseTimeout: Math.ceil((CHECKS_PER_LOOP * 1.25 * input.interval_s + 600) * 1000),
    heartbeatTimeout: CHECKS_HEARTBEAT_TIMEOUT_S * 1000,
    // No worker takes it (none polls the checks' queue, or all their slots are taken): the monitor says so in its
    // state ("checks failed: … timeout") and asks again, instead of waiting unseen.
    scheduleToStartTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  let first = state.checks === 0;
  for (let loops = 0; loops < LOOPS_PER_RUN || hooks.checkNow(); loops++) {
    if (hooks.stoppedBy() !== undefined) break;
    let done: MonitorChecksResult<MonitorCheck> | undefined;
    let failed: unknown;
    const scope = new CancellationScope();
    scope
      .run(() =>
        monitorChecks({
          prompt: input.prompt,
          interval_s: input.interval_s,
          max_checks: CHECKS_PER_LOOP,
          check_first: first,
          run_started_at: workflowInfo().runStartTime.toISOString(),
        }),
      )
      .then(
        (r) => {
          done = r;
        },
        (e: unknown) => {
          failed = e ?? new Error('the checks failed');
        },
      );
    first = false;
    hooks.details();
    while (done === undefined && failed === undefined) {
      await condition(() => done !== undefined || failed !== undefined || hooks.checkNow() || hooks.stoppedBy() !== undefined);
      if (hooks.stoppedBy() !== undefined) {
        // A check that finished as the stop came in and claimed an incident: its incident is started all the same
        // (the claim is in the store; left alone it would wait for the reconciler).
        const claimed = done as MonitorChecksResult<MonitorCheck> | undefined;
        if (claimed?.act?.action === 'open_incident') await hooks.act(claimed.act);
        scope.cancel();
        return hooks.stoppedBy();
      }
      if (hooks.checkNow() && done === undefined && failed === undefined) {
        hooks.takeCheckNow();
        const r = await hooks.checkInTask('fast_path');
        if (r) {
          hooks.note(r);
          await hooks.act(r);
        }
      }
    }
    const r = done;
    if (r) {
      state.checks += r.checks;
      if (r.last_check_at) state.last_check_at = r.last_check_at;
      if (r.last_verdict) state.last_verdict = r.last_verdict;
      if (r.active_version !== undefined) state.active_version = r.active_version;
      state.last_action = r.last_error ? `check failed: ${r.last_error}` : r.act ? r.act.action : (r.last_action ?? state.last_action);
      if (r.stopped_by !== undefined) return r.stopped_by;
      if (r.act) {
        hooks.note(r.act, 0);
        await hooks.act(r.act);
      }
    } else {
      if (isCancellation(failed)) throw failed; // the monitor was cancelled (e.g. from the Web UI): it ends
      state.last_action = `checks failed: ${failureMessage(failed)}`;
      hooks.details();
      await condition(
        () => hooks.checkNow() || hooks.stoppedBy() !== undefined,
        untilOwnSlot(input.prompt, input.interval_s * 1000, Date.now()),
        {
          summary: 'next checks, after failed ones',
        },
      );
    }
  }
  return hooks.stoppedBy();
}
