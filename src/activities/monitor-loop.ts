import { untilOwnSlot } from '../domain/check-slot';
import type { Verdict } from '../domain/verdict';

/** What the loop reads of a check (activities/index.ts's MonitorCheck). */
interface CheckOutcome {
  verdict: Verdict;
  active_version: string | null;
  action: string;
  note?: string;
}

export interface MonitorChecksInput {
  prompt: string;
  interval_s: number;
  /** Checks (made or failed) before the activity returns, so that the monitor's workflow hears from it now and then. */
  max_checks: number;
  /** The first check at once (a new monitor), else at the prompt's next slot. */
  check_first?: boolean;
}

/** What the Web UI shows as the running activity's heartbeat details, and what the monitor's workflow gets back. */
export interface MonitorChecksProgress {
  checks: number;
  failures: number;
  last_check_at?: string;
  last_verdict?: Verdict;
  last_action?: string;
  active_version?: string | null;
  last_error?: string;
}

export interface MonitorChecksResult<C extends CheckOutcome = CheckOutcome> extends MonitorChecksProgress {
  /** The check that needs the monitor's workflow (an incident to start or to tell); absent after max_checks. */
  act?: C;
  /** The monitor is stopped in the store (its stop was recorded, by this person): no more checks. */
  stopped_by?: string;
}

/** What the loop needs from its activity: Temporal's in production, plain functions in unit tests. */
export interface LoopRuntime {
  /** Waits; rejects when the activity is cancelled (the monitor stopped, the worker shutting down). */
  sleep(ms: number): Promise<void>;
  heartbeat(details: MonitorChecksProgress): void;
  nowMs(): number;
  /** True once the activity is cancelled: a check in flight finishes, then the loop ends with the cancellation. */
  cancelled(): boolean;
  /**
   * Who stopped the monitor, if the store says it is stopped. Read before every check: a stop reaches the activity
   * through the engine only at its next heartbeat, and a stopped monitor must not open an incident meanwhile.
   */
  stoppedBy(): Promise<string | undefined>;
}

/** Actions the monitor's workflow must take itself: everything else (nothing, an alert, suppressed) the loop goes on past. */
const needsWorkflow = (r: CheckOutcome): boolean => r.action === 'open_incident' || r.action === 'signal_incident';

/**
 * A monitor's periodic checks in one long-running activity: each check runs on the prompt's own slot of the
 * interval, is recorded in the store by the check itself (the dashboard and the API read it there) and in the
 * activity's heartbeat (the Web UI shows it); the activity returns only when a check needs the workflow (an incident
 * to start or to tell about a worse breach) or after `max_checks`. A check costs the engine nothing: no workflow
 * task, no history event. A check that fails is counted and said in the heartbeat; the next comes at the next slot.
 */
export async function runMonitorChecks<C extends CheckOutcome>(
  input: MonitorChecksInput,
  check: () => Promise<C>,
  rt: LoopRuntime,
): Promise<MonitorChecksResult<C>> {
  const progress: MonitorChecksProgress = { checks: 0, failures: 0 };
  const intervalMs = input.interval_s * 1000;
  let first = input.check_first === true;
  while (progress.checks + progress.failures < input.max_checks) {
    if (!first) await rt.sleep(untilOwnSlot(input.prompt, intervalMs, rt.nowMs()));
    first = false;
    const by = await rt.stoppedBy();
    if (by !== undefined) return { ...progress, stopped_by: by };
    try {
      const r = await check();
      progress.checks += 1;
      progress.last_check_at = new Date(rt.nowMs()).toISOString();
      progress.last_verdict = r.verdict;
      progress.last_action = r.note ? `${r.action}: ${r.note}` : r.action;
      progress.active_version = r.active_version;
      delete progress.last_error;
      // The first heartbeat goes out at once, later ones once per throttle interval (0.8 × the timeout, at most 60 s):
      // the Web UI's view of the last check is at most that old; the store has every check.
      rt.heartbeat(progress);
      if (needsWorkflow(r)) return { ...progress, act: r };
    } catch (e) {
      if (rt.cancelled()) throw e;
      progress.failures += 1;
      progress.last_check_at = new Date(rt.nowMs()).toISOString();
      progress.last_error = e instanceof Error ? e.message : String(e);
      rt.heartbeat(progress);
    }
  }
  return { ...progress };
}
