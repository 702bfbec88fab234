import { describe, expect, it } from 'vitest';
import { runMonitorChecks, type LoopRuntime, type MonitorChecksProgress } from '../../src/activities/monitor-loop';
import { HEARTBEAT_EVERY_MS, untilOwnSlot } from '../../src/domain/check-slot';
import type { MonitorCheck } from '../../src/activities';
import { judge, win } from '../support/verdicts';

const HEALTHY = judge(win({ requests: 400, errors: 0 }));
const HIGH = judge(win({ requests: 400, errors: 12 }));
const check = (action: MonitorCheck['action'], verdict = HEALTHY): MonitorCheck => ({ verdict, active_version: 'v2', action });

/** A runtime on a clock of its own: sleeping moves it on at once and records how long. */
function runtime(opts: { stoppedAfter?: number; cancelAfterSleeps?: number; stoppedAt?: number } = {}) {
  let now = Date.UTC(2026, 10, 26, 12, 0, 0);
  const sleeps: number[] = [];
  const beats: MonitorChecksProgress[] = [];
  let cancelled = false;
  let reads = 0;
  const rt: LoopRuntime = {
    sleep(ms) {
      sleeps.push(ms);
      if (opts.cancelAfterSleeps !== undefined && sleeps.length > opts.cancelAfterSleeps) {
        cancelled = true;
        return Promise.reject(new Error('cancelled'));
      }
      now += ms;
      return Promise.resolve();
    },
    heartbeat: (d) => beats.push(structuredClone(d)),
    nowMs: () => now,
    cancelled: () => cancelled,
    stoppedBy: () => {
      reads += 1;
      return Promise.resolve(
        opts.stoppedAfter !== undefined && reads > opts.stoppedAfter
          ? { by: 'alice', at: new Date(opts.stoppedAt ?? now).toISOString() }
          : undefined,
      );
    },
  };
  return { rt, sleeps, beats, now: () => now };
}

describe('a monitor’s loop of checks (one long-running activity)', () => {
  it('checks on the prompt’s own slot, goes on past quiet checks and alerts, and reports after max_checks', async () => {
    const { rt, sleeps, beats } = runtime();
    const script = [check('none'), check('alert'), check('suppressed'), check('none')];
    let i = 0;
    const r = await runMonitorChecks(
      { prompt: 'customer-support', interval_s: 30, max_checks: 4 },
      () => Promise.resolve(script[i++]!),
      rt,
    );
    expect(r).toMatchObject({ checks: 4, failures: 0, last_action: 'none' });
    expect(r.act).toBeUndefined();
    // Every wait ends on the prompt's slot (the same second of every interval), slept in steps of at most 20 s with a
    // heartbeat after each: a lost worker is noticed within the 60-s heartbeat timeout whatever the interval.
    expect(sleeps.every((ms) => ms <= HEARTBEAT_EVERY_MS)).toBe(true);
    const start = Date.UTC(2026, 10, 26, 12, 0, 0);
    let t = start;
    const waits: number[] = [];
    for (let k = 0; k < 4; k++) {
      const wait = untilOwnSlot('customer-support', 30_000, t);
      waits.push(wait);
      t += wait;
    }
    expect(sleeps.reduce((a, b) => a + b, 0)).toBe(waits.reduce((a, b) => a + b, 0));
    expect(sleeps.length).toBe(waits.reduce((n, w) => n + Math.ceil(w / HEARTBEAT_EVERY_MS), 0));
    // The Web UI's heartbeat details: after each step of sleep and each check (the SDK sends the first at once, then
    // at most one per throttle interval); the checks count moves on check by check.
    expect([...new Set(beats.map((b) => b.checks))]).toEqual([0, 1, 2, 3, 4]);
    expect(beats.length).toBe(sleeps.length + 4);
  });

  it('returns at once with the check that needs the workflow (an incident to start), and checks a new monitor at once', async () => {
    const { rt, sleeps } = runtime();
    const open: MonitorCheck = { ...check('open_incident', HIGH), note: 'claimed' };
    let calls = 0;
    const r = await runMonitorChecks(
      { prompt: 'p', interval_s: 30, max_checks: 120, check_first: true },
      () => {
        calls += 1;
        return Promise.resolve(calls === 1 ? check('none') : open);
      },
      rt,
    );
    expect(calls).toBe(2);
    // The first check came without a wait; the second after one wait (in steps of at most 20 s).
    expect(sleeps.reduce((a, b) => a + b, 0)).toBe(untilOwnSlot('p', 30_000, Date.UTC(2026, 10, 26, 12, 0, 0)));
    expect(r.act).toEqual(open);
    expect(r).toMatchObject({ checks: 2, last_action: 'open_incident: claimed', last_verdict: HIGH });
  });

  it('returns on signal_incident too (a worse breach for the open incident)', async () => {
    const { rt } = runtime();
    const worse: MonitorCheck = { ...check('signal_incident', HIGH), open: { rollback_id: 'r1', workflow_id: 'rollback/p/r1' } };
    const r = await runMonitorChecks({ prompt: 'p', interval_s: 30, max_checks: 120 }, () => Promise.resolve(worse), rt);
    expect(r.act).toEqual(worse);
  });

  it('counts a failed check, says why in the heartbeat, and checks again at the next slot', async () => {
    const { rt, beats } = runtime();
    let calls = 0;
    const r = await runMonitorChecks(
      { prompt: 'p', interval_s: 30, max_checks: 3 },
      () => {
        calls += 1;
        return calls === 2 ? Promise.reject(new Error('database is locked')) : Promise.resolve(check('none'));
      },
      rt,
    );
    expect(r).toMatchObject({ checks: 2, failures: 1 });
    expect(r.last_error).toBeUndefined(); // the check after it worked
    expect(beats.find((b) => b.failures === 1)?.last_error).toBe('database is locked');
  });

  it('ends before checking once the store says the monitor was stopped (a stop reaches it before its heartbeat does)', async () => {
    const { rt } = runtime({ stoppedAfter: 2 });
    let calls = 0;
    const r = await runMonitorChecks(
      { prompt: 'p', interval_s: 30, max_checks: 120 },
      () => {
        calls += 1;
        return Promise.resolve(check('none'));
      },
      rt,
    );
    expect(calls).toBe(2);
    expect(r).toMatchObject({ checks: 2, stopped_by: 'alice' });
  });

  it('a stop recorded before this run started (the monitor was stopped, then started again) is not this run’s', async () => {
    const { rt } = runtime({ stoppedAfter: 0, stoppedAt: Date.UTC(2026, 10, 26, 11, 0, 0) });
    let calls = 0;
    const r = await runMonitorChecks(
      {
        prompt: 'p',
        interval_s: 30,
        max_checks: 3,
        check_first: true,
        run_started_at: new Date(Date.UTC(2026, 10, 26, 11, 59, 0)).toISOString(),
      },
      () => {
        calls += 1;
        return Promise.resolve(check('none'));
      },
      rt,
    );
    expect(calls).toBe(3);
    expect(r.stopped_by).toBeUndefined();
  });

  it('a check that hangs is a failed check once it has run its bound, and the loop goes on', async () => {
    const { rt } = runtime();
    let calls = 0;
    const r = await runMonitorChecks(
      { prompt: 'p', interval_s: 30, max_checks: 2, check_first: true },
      () => {
        calls += 1;
        return calls === 1 ? new Promise<MonitorCheck>(() => undefined) : Promise.resolve(check('none'));
      },
      { ...rt, checkTimeoutMs: 20 },
    );
    expect(r).toMatchObject({ checks: 1, failures: 1 });
  });

  it('a store that cannot say whether the monitor stopped is no stop: the check runs (and fails, counted)', async () => {
    const { rt } = runtime();
    const r = await runMonitorChecks(
      { prompt: 'p', interval_s: 30, max_checks: 1, check_first: true },
      () => Promise.reject(new Error('SQLITE_BUSY')),
      { ...rt, stoppedBy: () => Promise.reject(new Error('SQLITE_BUSY')) },
    );
    expect(r).toMatchObject({ checks: 0, failures: 1, last_error: 'SQLITE_BUSY' });
  });

  it('ends with the cancellation when the activity is cancelled while it waits', async () => {
    const { rt } = runtime({ cancelAfterSleeps: 1 });
    await expect(
      runMonitorChecks({ prompt: 'p', interval_s: 30, max_checks: 120 }, () => Promise.resolve(check('none')), rt),
    ).rejects.toThrow('cancelled');
  });
});
