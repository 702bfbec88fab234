import {
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
} from '@temporalio/workflow';
import type { Activities, MonitorCheck } from '../activities';
import { isAlreadyStarted } from '../domain/errors';
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
  /** Carried across continue-as-new. */
  state?: MonitorState;
}

/** Checks per run before continue-as-new: keeps the history small (about 6 events a check). */
export const CHECKS_PER_RUN = 200;

/**
 * How long until this prompt's next check: checks fall on the prompt's own slot of the interval (a hash of its
 * name), so a thousand monitors started within seconds of each other (a fleet's deploy) check spread evenly over
 * the interval instead of in one burst that every other workflow task, an incident's included, queues behind.
 * At least a quarter interval away, so a check and the next never come in a row.
 */
export function untilOwnSlot(prompt: string, intervalMs: number, nowMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < prompt.length; i++) h = Math.imul(h ^ prompt.charCodeAt(i), 0x01000193) >>> 0;
  const slot = h % intervalMs;
  const wait = (((slot - nowMs) % intervalMs) + intervalMs) % intervalMs;
  return wait < intervalMs / 4 ? wait + intervalMs : wait;
}

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

  for (let i = 0; i < CHECKS_PER_RUN || checkNow; i++) {
    if (stoppedBy !== undefined) break;
    const source = checkNow ? 'fast_path' : 'tick';
    checkNow = false;
    const local = patched(LOCAL_CHECK);
    let r: MonitorCheck;
    if (local) {
      try {
        r = await monitorCheckInTask({ prompt: input.prompt, source });
      } catch (e) {
        if (isCancellation(e)) throw e; // the monitor was cancelled (e.g. from the Web UI): it ends
        // Failing for a minute (the store is down, a policy the check cannot read): said in the monitor's state, and
        // the next check comes at the next slot. Retrying inside the task for longer would only grow the history.
        state.last_check_at = new Date().toISOString();
        state.last_action = `check failed: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}`;
        setCurrentDetails(monitorCurrentDetails(state));
        await condition(() => checkNow || stoppedBy !== undefined, untilOwnSlot(input.prompt, input.interval_s * 1000, Date.now()), {
          summary: `next check (${state.checks + 1}), after a failed one`,
        });
        continue;
      }
    } else {
      r = await monitorCheck({ prompt: input.prompt, source });
    }
    state.checks += 1;
    state.last_check_at = new Date().toISOString();
    state.last_verdict = r.verdict;
    state.last_action = r.action;
    state.active_version = r.active_version;
    setCurrentDetails(monitorCurrentDetails(state));
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
    const wait = local ? untilOwnSlot(input.prompt, input.interval_s * 1000, Date.now()) : input.interval_s * 1000;
    await condition(() => checkNow || stoppedBy !== undefined, wait, { summary: `next check (${state.checks + 1})` });
  }
  if (stoppedBy !== undefined) {
    await monitorStopped({ prompt: input.prompt, by: stoppedBy });
    return state;
  }
  return continueAsNew<typeof monitorWorkflow>({ ...input, state });
}
