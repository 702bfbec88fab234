/**
 * The monitor workflow (`monitor/{prompt}`) on the time-skipping test server, with scripted `monitorCheck`
 * results: what it starts, signals and shows, how it keeps its state across continue-as-new, and how it stops.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { MonitorCheck } from '../../src/activities';
import { assess } from '../../src/domain/assess';
import { monitorWorkflowId, rollbackWorkflowId } from '../../src/domain/names';
import { DEFAULT_POLICY, type RuleAction } from '../../src/domain/policy';
import { triggerOf, type RollbackInput, type RollbackView } from '../../src/domain/rollback';
import type { Verdict, WindowStats } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { approveSignal, checkNowSignal, PromptNameKey, stopMonitorSignal, type MonitorState } from '../../src/workflows/messages';
import { CHECKS_PER_LOOP, CHECKS_PER_RUN, type monitorWorkflow, untilOwnSlot } from '../../src/workflows/monitor';
import type { rollbackWorkflow } from '../../src/workflows/rollback';
import { fakeActivities, fakeWorld, type FakeWorld } from '../support/fake-activities';
import { testWorker, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const INTERVAL_S = 30;

const win = (o: Partial<WindowStats> & Pick<WindowStats, 'requests' | 'errors'>): WindowStats => ({
  error_rate: o.requests === 0 ? null : o.errors / o.requests,
  latency_ms: { p50: 100, p95: 200, p99: 300 },
  quality_mean: null,
  quality_samples: 0,
  window_s: 300,
  ...o,
});
const BASELINE = win({ requests: 1000, errors: 4, latency_ms: { p50: 100, p95: 200, p99: 400 } });
const judge = (current: WindowStats): Verdict => assess(current, BASELINE, DEFAULT_POLICY, 120);
const INCONCLUSIVE = judge(win({ requests: 3, errors: 0 }));
const HEALTHY = judge(win({ requests: 400, errors: 1 }));
const HIGH_ERRORS = judge(win({ requests: 400, errors: 12 })); // 3 %
const CRITICAL = judge(win({ requests: 400, errors: 48 })); // 12 %

const world = (over: Partial<FakeWorld> = {}): FakeWorld => fakeWorld(over);

/** What `monitorCheck` returns when it opens an incident: the rollback input the monitor starts as a child. */
function incidentFor(prompt: string, v: Verdict, requestedAt: string): RollbackInput {
  return {
    rollback_id: `inc-${randomUUID().slice(0, 8)}`,
    prompt,
    reason: v.summary,
    severity: v.severity!,
    mode: 'immediate',
    trigger: triggerOf(v),
    requested_by: 'monitor',
    requested_at: requestedAt,
    verification: { ...DEFAULT_VERIFICATION },
    incident: { verdict: v, action: v.action as RuleAction, deadline_s: v.deadline_s!, default_action: v.default_action! },
  };
}
const none = (verdict: Verdict, note?: string): MonitorCheck => ({
  verdict,
  active_version: 'v2.0.0',
  action: 'none',
  ...(note ? { note } : {}),
});

type Monitor = WorkflowHandleWithFirstExecutionRunId<typeof monitorWorkflow>;
interface Ctx {
  prompt: string;
  handle: Monitor;
  /** The server's time when the test started (earlier tests have skipped it ahead). */
  now: string;
  /** Workflow ids to terminate if the test leaves them running (e.g. the incident a failed test left behind). */
  cleanup: string[];
  taskQueue: string;
}

/**
 * Starts `monitor/{prompt}` (a fresh prompt per test) on its own task queue and runs `body` while the worker
 * runs. `script` gets the prompt and the server's current time so incidents carry both.
 */
async function withMonitor<T>(
  w: FakeWorld,
  script: (prompt: string, now: string) => MonitorCheck[],
  body: (ctx: Ctx) => Promise<T>,
  e: TestWorkflowEnvironment = env,
  /** `{ checks: 'activity' }`: the loop of checks runs on the test's own queue (its worker has the fake loop). */
  over: { checks?: 'activity' } = {},
): Promise<T> {
  const taskQueue = `tq-${randomUUID()}`;
  const prompt = `p-${randomUUID().slice(0, 8)}`;
  const now = new Date(await e.currentTimeMs()).toISOString();
  w.monitorChecks = script(prompt, now);
  const worker = await testWorker(e, taskQueue, fakeActivities(w));
  const cleanup = [monitorWorkflowId(prompt)];
  try {
    return await worker.runUntil(async () => {
      const handle = await e.client.workflow.start<typeof monitorWorkflow>('monitorWorkflow', {
        taskQueue,
        workflowId: monitorWorkflowId(prompt),
        args: [
          {
            prompt,
            interval_s: INTERVAL_S,
            started_by: 'alice',
            ...(over.checks ? { checks: over.checks, check_task_queue: taskQueue } : {}),
          },
        ],
      });
      return body({ prompt, handle, now, cleanup, taskQueue });
    });
  } finally {
    // A workflow left running without its worker would hold the test server's clock for every later test.
    await Promise.all(
      cleanup.map((id) =>
        e.client.workflow
          .getHandle(id)
          .terminate('test cleanup')
          .catch(() => undefined),
      ),
    );
  }
}

/** Polls a `state` query (wall clock, time locked) until `pred` holds. */
async function poll<S>(query: () => Promise<S>, what: string, pred: (s: S) => boolean, timeoutMs = 5_000): Promise<S> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await query();
    if (pred(s)) return s;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const monitorState = (h: Monitor) => () => h.query<MonitorState>('state');

/**
 * Skips the server's time to just past the monitor's next `n` checks: they fall on the prompt's own slot of the
 * interval (untilOwnSlot, from the time of the last check, which is now: time stands still while the test polls).
 */
async function pastChecks(prompt: string, n: number): Promise<void> {
  const now = await env.currentTimeMs();
  await env.sleep(untilOwnSlot(prompt, INTERVAL_S * 1000, now) + (n - 1) * INTERVAL_S * 1000 + 1_000);
}
const checksAtLeast = (h: Monitor, n: number): Promise<MonitorState> => poll(monitorState(h), `${n} check(s)`, (s) => s.checks >= n);

async function stop(h: Monitor, by: string): Promise<MonitorState> {
  await h.signal(stopMonitorSignal, { by });
  return h.result();
}

/**
 * Stops the monitor without awaiting its result: awaiting a result unlocks time skipping for the whole test
 * server, which would skip an incident that is still waiting straight to its deadline.
 */
async function stopWithoutSkipping(h: Monitor, by: string): Promise<MonitorState> {
  await h.signal(stopMonitorSignal, { by });
  await poll(
    () => h.describe(),
    'the monitor to complete',
    (d) => d.status.name !== 'RUNNING',
  );
  return h.query<MonitorState>('state');
}

describe('monitor workflow (time-skipping)', () => {
  it('checks inside the workflow task its timer wakes: one workflow task and no activity task per check', async () => {
    const w = world();
    const history = await withMonitor(
      w,
      () => [none(INCONCLUSIVE)],
      async ({ handle, prompt }) => {
        await checksAtLeast(handle, 1);
        await pastChecks(prompt, 2);
        await checksAtLeast(handle, 3);
        await stop(handle, 'alice');
        return handle.fetchHistory();
      },
    );
    const events = history.events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'monitorCheck');
    const localChecks = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    const tasks = events.filter((e) => e.workflowTaskCompletedEventAttributes);
    expect(scheduled).toHaveLength(0);
    expect(localChecks).toHaveLength(3);
    // Three checks and the stop come to 6 workflow tasks; with the check as an activity task they were 8.
    expect(tasks.length).toBeLessThanOrEqual(6);
  });

  it('a check that fails says so in its state and the monitor checks again at its next slot, still running', async () => {
    const w = world();
    const r = await withMonitor(
      w,
      () => [], // every check fails (not retryable)
      async ({ handle, prompt }) => {
        const first = await poll(monitorState(handle), 'a failed check', (s) => (s.last_action ?? '').startsWith('check failed'));
        await pastChecks(prompt, 1);
        await poll(monitorState(handle), 'a second attempt', () => (w.monitorCheckCalls?.length ?? 0) >= 2);
        const described = await handle.describe();
        const final = await stop(handle, 'alice');
        return { first, described, final };
      },
    );
    expect(r.first.last_action).toBe('check failed: no monitor check scripted');
    expect(r.first.checks).toBe(0);
    expect(r.described.status.name).toBe('RUNNING');
    expect(r.final.checks).toBe(0);
  });

  it('shows an inconclusive verdict (no data) and starts no incident, checking every interval', async () => {
    const w = world();
    const r = await withMonitor(
      w,
      () => [none(INCONCLUSIVE)],
      async ({ handle, prompt }) => {
        await checksAtLeast(handle, 1);
        await pastChecks(prompt, 2); // two more checks
        const state = await checksAtLeast(handle, 3);
        const final = await stop(handle, 'alice');
        return { state, final };
      },
    );

    expect(INCONCLUSIVE.kind).toBe('inconclusive');
    expect(r.state.checks).toBe(3);
    expect(r.state.last_verdict).toMatchObject({ kind: 'inconclusive', rule: 'min_samples', observed: 3, threshold: 20 });
    expect(r.state.last_verdict?.summary).toContain('inconclusive');
    expect(r.state.last_action).toBe('none');
    expect(r.state.active_version).toBe('v2.0.0');
    expect(r.state.last_check_at).toBeDefined();
    expect(w.monitorCheckCalls?.map((c) => c.source)).toEqual(['tick', 'tick', 'tick']);
    // No incident: nothing saved, switched or sent.
    expect(w.saved).toEqual([]);
    expect(w.switches).toEqual([]);
    expect(w.notifications).toEqual([]);
    expect(r.final.checks).toBe(3);
  });

  it('opens an incident as a child `rollback/{prompt}/{id}` that outlives the monitor', async () => {
    // Its own test server: an abandoned child that completes after its parent closed leaves the time-skipping
    // test server's clock held (a test-server quirk), which would slow every later test in a shared one.
    const own = await timeSkippingEnv();
    onTestFinished(() => own.teardown());
    const w = world({ assessments: [HIGH_ERRORS] });
    let incident!: RollbackInput;
    const r = await withMonitor(
      w,
      (prompt, now) => {
        incident = incidentFor(prompt, HIGH_ERRORS, now);
        return [{ verdict: HIGH_ERRORS, active_version: 'v2.0.0', action: 'open_incident', incident }, none(HIGH_ERRORS, 'rollback open')];
      },
      async ({ prompt, handle, cleanup }) => {
        cleanup.push(rollbackWorkflowId(prompt, incident.rollback_id));
        const state = await checksAtLeast(handle, 1);
        const child = own.client.workflow.getHandle<typeof rollbackWorkflow>(rollbackWorkflowId(prompt, incident.rollback_id));
        const running = await child.describe();
        const childState = await poll(
          () => child.query<RollbackView>('state'),
          'the incident to page',
          (v) => v.timeline.some((e) => e.event === 'paged'),
        );
        // What the Web UI shows in the monitor's history: the child is started to be abandoned, not terminated,
        // when the monitor closes (the test server does not enforce parent-close policies, so check it here).
        const history = await handle.fetchHistory();
        const started = history.events?.find(
          (e) => e.startChildWorkflowExecutionInitiatedEventAttributes,
        )?.startChildWorkflowExecutionInitiatedEventAttributes;
        const final = await stopWithoutSkipping(handle, 'bob');
        const afterMonitor = await child.describe();
        const childAfterMonitor = await child.query<RollbackView>('state');
        // The incident still acts on a decision with its monitor gone.
        await child.signal(approveSignal, { by: 'alice' });
        const view = await child.result();
        return {
          prompt,
          started,
          state,
          running,
          childState,
          final,
          afterMonitor,
          childAfterMonitor,
          view,
          monitorDescribe: await handle.describe(),
        };
      },
      own,
    );

    expect(r.state.last_action).toBe('open_incident');
    expect(r.running.workflowId).toBe(`rollback/${r.prompt}/${incident.rollback_id}`);
    expect(r.running.type).toBe('rollbackWorkflow');
    expect(r.running.status.name).toBe('RUNNING');
    expect(r.running.parentExecution?.workflowId).toBe(`monitor/${r.prompt}`);
    expect(r.running.typedSearchAttributes.get(PromptNameKey)).toBe(r.prompt);
    expect(r.started?.workflowId).toBe(r.running.workflowId);
    expect(r.started?.parentClosePolicy).toBe(temporal.api.enums.v1.ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON);
    expect(r.childState).toMatchObject({ status: 'awaiting_approval', severity: 'high', requested_by: 'monitor' });
    expect(w.notifications.filter((n) => n.kind === 'page')).toHaveLength(1);
    // The monitor stopped; the incident did not.
    expect(r.monitorDescribe.status.name).toBe('COMPLETED');
    expect(w.stoppedBy).toBe('bob');
    expect(r.final.last_action).toBe('open_incident');
    expect(r.afterMonitor.status.name).toBe('RUNNING');
    expect(r.childAfterMonitor.status).toBe('awaiting_approval');
    expect(r.childAfterMonitor.timeline.map((e) => e.event)).not.toContain('deadline_passed');
    expect(r.view).toMatchObject({ status: 'completed', decided_by: 'alice', to_version: 'v1.9.0' });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: incident.rollback_id }]);
  });

  it('tells the open incident with `breach` when it worsens, and the incident rolls back at once', async () => {
    const w = world({ assessments: [CRITICAL] });
    let incident!: RollbackInput;
    const r = await withMonitor(
      w,
      (prompt, now) => {
        incident = incidentFor(prompt, HIGH_ERRORS, now);
        const workflow_id = rollbackWorkflowId(prompt, incident.rollback_id);
        return [
          { verdict: HIGH_ERRORS, active_version: 'v2.0.0', action: 'open_incident', incident },
          {
            verdict: CRITICAL,
            active_version: 'v2.0.0',
            action: 'signal_incident',
            open: { rollback_id: incident.rollback_id, workflow_id },
          },
          none(CRITICAL, 'rollback open'),
        ];
      },
      async ({ prompt, handle, cleanup }) => {
        cleanup.push(rollbackWorkflowId(prompt, incident.rollback_id));
        await checksAtLeast(handle, 1);
        const child = env.client.workflow.getHandle<typeof rollbackWorkflow>(rollbackWorkflowId(prompt, incident.rollback_id));
        const view = await child.result(); // time skips: the monitor's next tick signals the worse breach
        const state = await handle.query<MonitorState>('state');
        await stop(handle, 'alice');
        return { view, state };
      },
    );

    expect(w.monitorCheckCalls!.length).toBeGreaterThanOrEqual(2);
    const worsened = r.view.timeline.find((e) => e.event === 'worsened');
    expect(worsened?.detail).toMatchObject({ from: 'high', severity: 'critical', observed: 0.12 });
    // Signalled at the second check: long before the 5-min decision deadline.
    const sinceDetection = Date.parse(worsened!.at) - Date.parse(incident.requested_at);
    // (the second check falls on the prompt's slot of the interval: at least a quarter interval after the first)
    expect(sinceDetection).toBeGreaterThanOrEqual((INTERVAL_S * 1000) / 4);
    expect(sinceDetection).toBeLessThan(HIGH_ERRORS.deadline_s! * 1000);
    expect(r.view.timeline.map((e) => e.event)).not.toContain('deadline_passed');
    expect(r.view).toMatchObject({ status: 'completed', severity: 'critical' });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: incident.rollback_id }]);
    expect(r.state.last_action).not.toBe('open_incident'); // one incident, not a second one
  });

  // Regression: an unguarded signal to an incident that had ended used to fail the whole monitor.
  it('keeps running when the incident it signals is no longer running', async () => {
    const w = world();
    const r = await withMonitor(
      w,
      (prompt) => [
        {
          verdict: CRITICAL,
          active_version: 'v2.0.0',
          action: 'signal_incident',
          open: { rollback_id: 'gone', workflow_id: rollbackWorkflowId(prompt, 'gone') },
        },
        none(HEALTHY),
      ],
      async ({ handle, prompt }) => {
        await checksAtLeast(handle, 1);
        await pastChecks(prompt, 1);
        const described = await poll(
          () => handle.describe(),
          'a second check or the monitor to end',
          (d) => d.status.name !== 'RUNNING' || (w.monitorCheckCalls?.length ?? 0) >= 2,
        );
        const state = await handle.query<MonitorState>('state');
        // If it died, say why (only then: the result of a running monitor never comes).
        const failure =
          described.status.name === 'RUNNING'
            ? ''
            : await handle.result().then(String, (e: unknown) => (e as Error & { cause?: Error }).cause?.message ?? String(e));
        return { state, described, failure };
      },
    );

    expect(r.described.status.name, `monitor ended: ${r.failure}`).toBe('RUNNING');
    expect(r.state).toMatchObject({ checks: 2, last_action: 'none' });
  });

  // A retried check (or the reconciler) may already have started the incident it opens: the monitor goes on.
  it('keeps running when the incident it opens was already started', async () => {
    const w = world({ assessments: [HIGH_ERRORS] });
    let incident!: RollbackInput;
    const r = await withMonitor(
      w,
      (prompt, now) => {
        incident = incidentFor(prompt, HIGH_ERRORS, now);
        return [none(HEALTHY), { verdict: HIGH_ERRORS, active_version: 'v2.0.0', action: 'open_incident', incident }, none(HIGH_ERRORS)];
      },
      async ({ prompt, handle, cleanup, taskQueue }) => {
        const incidentId = rollbackWorkflowId(prompt, incident.rollback_id);
        cleanup.push(incidentId);
        await checksAtLeast(handle, 1);
        await env.client.workflow.start<typeof rollbackWorkflow>('rollbackWorkflow', {
          taskQueue,
          workflowId: incidentId,
          args: [incident],
        });
        await pastChecks(prompt, 2);
        const described = await poll(
          () => handle.describe(),
          'a third check or the monitor to end',
          (d) => d.status.name !== 'RUNNING' || (w.monitorCheckCalls?.length ?? 0) >= 3,
        );
        const state = await handle.query<MonitorState>('state');
        const failure =
          described.status.name === 'RUNNING'
            ? ''
            : await handle.result().then(String, (e: unknown) => (e as Error & { cause?: Error }).cause?.message ?? String(e));
        const incidentRun = await env.client.workflow.getHandle(incidentId).describe();
        return { state, described, failure, incidentRun };
      },
    );

    expect(r.described.status.name, `monitor ended: ${r.failure}`).toBe('RUNNING');
    expect(r.state.checks).toBeGreaterThanOrEqual(3);
    // The one incident runs (started by the test, as the reconciler would), not a second one.
    expect(r.incidentRun.status.name).toBe('RUNNING');
    expect(r.incidentRun.parentExecution).toBeUndefined();
  });

  it('checks at once on `check-now`, without waiting for the 30-s interval', async () => {
    const w = world();
    const r = await withMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        const first = await checksAtLeast(handle, 1);
        await handle.signal(checkNowSignal, { source: 'ingest' });
        const second = await checksAtLeast(handle, 2);
        await stop(handle, 'alice');
        return { first, second };
      },
    );

    expect(w.monitorCheckCalls?.map((c) => c.source)).toEqual(['tick', 'fast_path']);
    expect(r.second.checks).toBe(2);
    const gap = Date.parse(r.second.last_check_at!) - Date.parse(r.first.last_check_at!);
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThan(INTERVAL_S * 1000);
    expect(r.second.last_verdict?.kind).toBe('healthy');
  });

  it(`continues as new after ${CHECKS_PER_RUN} checks and keeps counting`, async () => {
    const w = world();
    const r = await withMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        await checksAtLeast(handle, 1);
        // The server holds its clock while a check runs, so each skipped interval is one check: 100 min in ~4 s.
        await env.sleep((CHECKS_PER_RUN + 2) * INTERVAL_S * 1000 + (INTERVAL_S * 1000) / 2);
        const state = await checksAtLeast(handle, CHECKS_PER_RUN + 3);
        const described = await handle.describe();
        const firstRun = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
        const final = await stop(handle, 'carol');
        return { state, described, firstRun, final };
      },
    );

    expect(CHECKS_PER_RUN).toBe(200);
    expect(r.firstRun.status.name).toBe('CONTINUED_AS_NEW');
    expect(r.described.runId).not.toBe(r.firstRun.runId);
    expect(r.described.status.name).toBe('RUNNING');
    // State carried across: the count goes on past the run boundary and the rest is kept.
    expect(r.state.checks).toBeGreaterThanOrEqual(CHECKS_PER_RUN + 3);
    expect(r.state).toMatchObject({ prompt: r.final.prompt, interval_s: INTERVAL_S, started_by: 'alice', last_action: 'none' });
    expect(w.monitorCheckCalls).toHaveLength(r.final.checks);
    expect(r.final.checks).toBe(r.state.checks);
    expect(w.stoppedBy).toBe('carol');
  });

  it('stops on `stop`, records who stopped it, and checks no more', async () => {
    const w = world();
    const r = await withMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        const first = await checksAtLeast(handle, 1);
        const final = await stopWithoutSkipping(handle, 'bob');
        const described = await handle.describe();
        await env.sleep(5 * INTERVAL_S * 1000);
        return { first, final, described };
      },
    );

    expect(w.stoppedBy).toBe('bob');
    expect(r.described.status.name).toBe('COMPLETED');
    expect(r.final.checks).toBe(1);
    expect(w.monitorCheckCalls).toHaveLength(1);
    // Stopped at once: not at the next tick (which would have checked again before looking at the signal).
    expect(r.described.closeTime!.getTime() - Date.parse(r.first.last_check_at!)).toBeLessThan(INTERVAL_S * 1000);
  });
});

/** A monitor whose checks run in the loop activity, on the test's own queue (see withMonitor). */
const withLoopMonitor = <T>(w: FakeWorld, script: (prompt: string, now: string) => MonitorCheck[], body: (ctx: Ctx) => Promise<T>) =>
  withMonitor(w, script, body, env, { checks: 'activity' });
/** Waits (in this process: no query, which the test server answers with a workflow task) for a count the fakes keep. */
const fakesAtLeast = (count: () => number | undefined, what: string, n: number, timeoutMs?: number) =>
  poll(
    () => Promise.resolve(count() ?? 0),
    what,
    (c) => c >= n,
    timeoutMs,
  );

/** The activities a history scheduled (not local ones), by type. */
const scheduled = (events: temporal.api.history.v1.IHistoryEvent[]) =>
  events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);

describe('monitor workflow, checks in a long-running activity (MONITOR_CHECKS=activity)', () => {
  it(`checks in one activity that reports after ${CHECKS_PER_LOOP} checks: no workflow task per check`, async () => {
    const w = world({ loopSleepMs: 5 });
    const r = await withLoopMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        // The second loop has started once the first reported, whose checks the state then counts. (Polled in this
        // process: the test server answers each query with a workflow task of its own.)
        await fakesAtLeast(() => w.loopCalls?.length, 'the second loop', 2, 20_000);
        const state = await poll(monitorState(handle), 'the first loop to report', (s) => s.checks >= CHECKS_PER_LOOP);
        const final = await stopWithoutSkipping(handle, 'bob');
        const history = await handle.fetchHistory();
        return { state, final, events: history.events ?? [] };
      },
    );
    expect(r.state.checks).toBe(CHECKS_PER_LOOP);
    expect(r.state).toMatchObject({ last_action: 'none', active_version: 'v2.0.0' });
    expect(r.state.last_verdict?.kind).toBe('healthy');
    // A new monitor checks at once; the next loop waits for the prompt's slot.
    expect(w.loopCalls?.map((c) => c.check_first ?? false).slice(0, 2)).toEqual([true, false]);
    expect(w.loopCalls?.[0]).toMatchObject({ interval_s: INTERVAL_S, max_checks: CHECKS_PER_LOOP });
    // The engine saw two activities and a handful of workflow tasks for 120+ checks, and no check inside a task.
    const loops = scheduled(r.events).filter((n) => n === 'monitorChecks').length;
    expect(loops).toBeGreaterThanOrEqual(2);
    // No timer and no check marker: the engine wrote nothing per check (the history is a few events per loop).
    expect(r.events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(0);
    expect(r.events.length).toBeLessThan(40);
    expect(r.final.checks).toBeGreaterThanOrEqual(CHECKS_PER_LOOP);
    expect(r.events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toBe(false);
    expect(w.stoppedBy).toBe('bob');
  });

  it('starts the incident a check in the loop claimed, then checks on in a new loop', async () => {
    const w = world({ loopSleepMs: 5 });
    const r = await withLoopMonitor(
      w,
      (prompt, now) => [
        none(HEALTHY),
        { verdict: HIGH_ERRORS, active_version: 'v2.0.0', action: 'open_incident', incident: incidentFor(prompt, HIGH_ERRORS, now) },
        none(HEALTHY),
      ],
      async ({ prompt, handle, cleanup }) => {
        const incident = w.monitorChecks![1]!.incident!;
        const id = rollbackWorkflowId(prompt, incident.rollback_id);
        cleanup.push(id);
        const child = await poll(
          () =>
            env.client.workflow
              .getHandle<typeof rollbackWorkflow>(id)
              .describe()
              .catch(() => undefined),
          'the incident',
          (d) => d !== undefined,
        );
        await fakesAtLeast(() => w.loopCalls?.length, 'the next loop', 2);
        const state = await handle.query<MonitorState>('state');
        await stopWithoutSkipping(handle, 'alice');
        return { child: child!, state };
      },
    );
    expect(r.child.type).toBe('rollbackWorkflow');
    expect(r.child.status.name).toBe('RUNNING');
    expect(r.state.checks).toBe(2);
    expect(r.state.last_verdict?.kind).toBe('breached');
  });

  it('checks at once on `check-now` in the task the signal wakes, while the loop goes on', async () => {
    const w = world({ loopSleepMs: 60_000 });
    const r = await withLoopMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        await fakesAtLeast(() => w.monitorCheckCalls?.length, "the loop's first check", 1);
        await handle.signal(checkNowSignal, { source: 'ingest' });
        const state = await checksAtLeast(handle, 1);
        const described = await handle.describe();
        await stopWithoutSkipping(handle, 'alice');
        return { state, described };
      },
    );
    expect(w.monitorCheckCalls?.map((c) => c.source)).toEqual(['tick', 'fast_path']);
    expect(r.state.checks).toBe(1); // the in-task one; the loop's are counted when it reports
    expect(w.loopCalls).toHaveLength(1);
    expect(r.described.raw.pendingActivities?.map((a) => a.activityType?.name)).toEqual(['monitorChecks']);
  });

  it('stops at once on `stop`: the loop is cancelled, who stopped it is recorded, nothing checks after', async () => {
    const w = world({ loopSleepMs: 60_000 });
    const r = await withLoopMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        await fakesAtLeast(() => w.monitorCheckCalls?.length, "the loop's first check", 1);
        const t0 = Date.now();
        await stopWithoutSkipping(handle, 'bob');
        const tookMs = Date.now() - t0;
        const described = await handle.describe();
        await new Promise((res) => setTimeout(res, 200));
        return { tookMs, described };
      },
    );
    expect(w.stoppedBy).toBe('bob');
    expect(r.described.status.name).toBe('COMPLETED');
    expect(r.tookMs).toBeLessThan(5_000);
    expect(w.monitorCheckCalls).toHaveLength(1);
  });

  it('says so in its state when its checks activity fails for good (e.g. no worker took it within 5 minutes), and asks again at its slot', async () => {
    const w = world({ loopFails: 'activity ScheduleToStart timeout' });
    const r = await withLoopMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ prompt, handle }) => {
        const state = await poll(monitorState(handle), 'the failure in the state', (s) =>
          (s.last_action ?? '').startsWith('checks failed'),
        );
        await pastChecks(prompt, 1);
        await fakesAtLeast(() => w.loopCalls?.length, 'a second try', 2);
        const described = await handle.describe();
        await stopWithoutSkipping(handle, 'alice');
        return { state, described };
      },
    );
    expect(r.state.last_action).toContain('activity ScheduleToStart timeout');
    expect(r.described.status.name).toBe('RUNNING');
    expect(w.monitorCheckCalls ?? []).toHaveLength(0);
  });

  it('ends when the store says the monitor was stopped, before its loop checks again', async () => {
    const w = world({ loopSleepMs: 5, storeStoppedBy: 'dave' });
    const r = await withLoopMonitor(
      w,
      () => [none(HEALTHY)],
      async ({ handle }) => {
        await poll(
          () => handle.describe(),
          'the monitor to complete',
          (d) => d.status.name !== 'RUNNING',
        );
        return handle.query<MonitorState>('state');
      },
    );
    expect(w.stoppedBy).toBe('dave');
    expect(w.monitorCheckCalls ?? []).toHaveLength(0);
    expect(r.checks).toBe(0);
  });
});

describe('untilOwnSlot', () => {
  it("puts each prompt's checks on its own slot of the interval, spreading a fleet evenly", () => {
    const I = 30_000;
    const start = Date.parse('2026-11-26T10:00:00.000Z');
    // 1,000 monitors started within the same 10 s: where in the interval their checks fall after the first.
    const perSecond = new Array(30).fill(0);
    for (let i = 0; i < 1000; i++) {
      const now = start + ((i * 10) % 10_000);
      const next = now + untilOwnSlot(`fleet-${i}`, I, now);
      perSecond[Math.floor((next % I) / 1000)] += 1;
    }
    // Evenly: about 33 a second, never a burst (all 1,000 within 10 s would be 100 a second).
    expect(Math.max(...perSecond)).toBeLessThan(60);
    expect(Math.min(...perSecond)).toBeGreaterThan(10);
  });

  it('comes back to the same slot every interval, and never less than a quarter interval away', () => {
    const I = 30_000;
    let now = Date.parse('2026-11-26T10:00:07.123Z');
    const slots = new Set<number>();
    for (let k = 0; k < 20; k++) {
      const wait = untilOwnSlot('customer-support', I, now);
      expect(wait).toBeGreaterThanOrEqual(I / 4);
      expect(wait).toBeLessThan(I + I / 4);
      now += wait + 40; // the check itself takes a moment
      slots.add((now - 40) % I);
    }
    expect(slots.size).toBe(1);
  });
});
