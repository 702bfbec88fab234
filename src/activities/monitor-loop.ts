import { HEARTBEAT_EVERY_MS, untilOwnSlot } from '../domain/check-slot';
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
  /**
   * When the monitor's run started: a stop recorded in the store before it (the monitor was stopped, then started
   * again) is not this run's.
   */
  run_started_at?: string;
}

/** One check's bound, as the in-task check has: a hung read is a failed check, and the loop goes on. */
export const CHECK_TIMEOUT_MS = 30_000;

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
   * Who stopped the monitor, if the store says it is stopped (and when). Read before every check: a stop reaches the
   * activity through the engine only at its next heartbeat, and a stopped monitor must not open an incident meanwhile.
   */
  stoppedBy(): Promise<{ by: string; at: string } | undefined>;
  /** One check's bound (default CHECK_TIMEOUT_MS). */
  checkTimeoutMs?: number;
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
  const runStart = input.run_started_at ? Date.parse(input.run_started_at) : undefined;
  /** Sleeps in steps of HEARTBEAT_EVERY_MS, with a heartbeat each (the SDK sends them at most once per throttle interval). */
  const sleep = async (ms: number) => {
    for (let left = ms; left > 0; left -= HEARTBEAT_EVERY_MS) {
      await rt.sleep(Math.min(left, HEARTBEAT_EVERY_MS));
      rt.heartbeat(progress);
    }
  };
  let first = input.check_first === true;
  while (progress.checks + progress.failures < input.max_checks) {
    if (!first) await sleep(untilOwnSlot(input.prompt, intervalMs, rt.nowMs()));
    first = false;
    // A store that cannot say is not a stop: the check that follows fails too, and says so.
    const stop = await rt.stoppedBy().catch(() => undefined);
    if (stop !== undefined && (runStart === undefined || Date.parse(stop.at) >= runStart)) return { ...progress, stopped_by: stop.by };
    try {
      const r = await bounded(check(), rt.checkTimeoutMs ?? CHECK_TIMEOUT_MS);
      progress.checks += 1;
      progress.last_check_at = new Date(rt.nowMs()).toISOString();
      progress.last_verdict = r.verdict;
      progress.last_action = r.note ? `${r.action}: ${r.note}` : r.action;
      progress.active_version = r.active_version;
      delete progress.last_error;
      // The first heartbeat goes out at once, later ones once per throttle interval (0.8 × the timeout): the Web UI's
      // view of the last check is at most that old; the store has every check.
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

/**
 * The work's answer, or `late()`'s error once it has run `ms` (it may still finish in the background; its answer is not
 * used). By default, a check that took too long.
 */
export function bounded<T>(
  p: Promise<T>,
  ms: number,
  late: () => Error = () => new Error(`the check took over ${ms / 1000} s`),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([p, timedOut]).finally(() => clearTimeout(timer));
}
