import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import type { RollbackView } from '../../src/domain/rollback';
import { DEFAULT_GRADUAL } from '../../src/domain/stages';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import type { RollbackInput } from '../../src/workflows/rollback';
import { fakeActivities, fakeWorld, UNREADABLE, type FakeWorld } from '../support/fake-activities';
import { localActivities, switchStep, testWorker, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const world = (over: Partial<FakeWorld> = {}): FakeWorld => fakeWorld({ checks: [{ requests: 0, errors: 0 }], ...over });

async function run(
  w: FakeWorld,
  over: Partial<RollbackInput> = {},
  activities = fakeActivities(w),
): Promise<{ view: RollbackView; elapsedMs: number }> {
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await testWorker(env, taskQueue, activities);
  const id = randomUUID().slice(0, 8);
  const input: RollbackInput = {
    rollback_id: id,
    prompt: 'customer-support',
    target_version: 'v1.9.0',
    reason: 'error rate 30 %',
    severity: 'high',
    mode: 'immediate',
    requested_by: 'alice',
    requested_at: new Date().toISOString(),
    verification: { ...DEFAULT_VERIFICATION },
    ...over,
  };
  const started = Date.now();
  const view = await worker.runUntil(
    env.client.workflow.execute('rollbackWorkflow', { taskQueue, workflowId: `rollback/customer-support/${id}`, args: [input] }),
  );
  return { view: view as RollbackView, elapsedMs: Date.now() - started };
}

const events = (v: RollbackView) => v.timeline.map((t) => t.event);

describe('rollback workflow (time-skipping)', () => {
  it('switches once, verifies recovery over the whole window and completes; 60 s of verification takes well under a second of wall time', async () => {
    const w = world({
      checks: [
        { requests: 3, errors: 0 },
        { requests: 40, errors: 0 },
        { requests: 200, errors: 1 },
      ],
    });
    const { view, elapsedMs } = await run(w);
    expect(view.status).toBe('completed');
    expect(view.from_version).toBe('v2.0.0');
    expect(view.to_version).toBe('v1.9.0');
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(view.verification?.result).toBe('recovered');
    // inconclusive (3 requests), then healthy at every check of the 60 s (it used to stop at the first healthy one)
    expect(view.verification?.checks.map((c) => c.kind)).toEqual(['inconclusive', ...Array(11).fill('healthy')]);
    expect(view.outcome).toBe('recovered');
    expect(events(view)).toEqual(
      expect.arrayContaining(['requested', 'target_selected', 'metrics_before', 'switched', 'notified', 'recovered']),
    );
    expect(w.notifications.filter((n) => n.kind === 'page')).toEqual([]);
    expect(w.saved.at(-1)?.status).toBe('completed');
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it("an operator's rollback switches from the first workflow task: no save or step waits for an engine round trip first", async () => {
    const w = world({ checks: [{ requests: 200, errors: 0 }] });
    const taskQueue = `tq-${randomUUID()}`;
    const worker = await testWorker(env, taskQueue, fakeActivities(w));
    const id = randomUUID().slice(0, 8);
    const history = await worker.runUntil(async () => {
      const h = await env.client.workflow.start('rollbackWorkflow', {
        taskQueue,
        workflowId: `rollback/customer-support/${id}`,
        args: [
          {
            rollback_id: id,
            prompt: 'customer-support',
            target_version: 'v1.9.0',
            reason: 'error rate 30 %',
            severity: 'high',
            mode: 'immediate',
            requested_by: 'alice',
            requested_at: new Date().toISOString(),
            verification: { ...DEFAULT_VERIFICATION },
          } satisfies RollbackInput,
        ],
      });
      const view = (await h.result()) as RollbackView;
      expect(view.status).toBe('completed');
      expect(events(view)).toEqual(expect.arrayContaining(['requested', 'target_selected', 'metrics_before', 'switched', 'recovered']));
      return (await h.fetchHistory()).events ?? [];
    });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: id }]);
    // Inside the run's first workflow task: no activity task to schedule, dispatch and poll before the switch.
    expect(switchStep(history)).toEqual({ kind: 'in_task', tasksBefore: 1 });
  });

  it("an operator's rollback while the metrics provider cannot answer still switches in one step: the timeline says the metrics before could not be read", async () => {
    const w = world({ checks: [{ requests: 200, errors: 0 }], windows: { 'v2.0.0': [UNREADABLE] } });
    const taskQueue = `tq-${randomUUID()}`;
    const worker = await testWorker(env, taskQueue, fakeActivities(w));
    const id = randomUUID().slice(0, 8);
    const { view, history } = await worker.runUntil(async () => {
      const h = await env.client.workflow.start('rollbackWorkflow', {
        taskQueue,
        workflowId: `rollback/customer-support/${id}`,
        args: [
          {
            rollback_id: id,
            prompt: 'customer-support',
            target_version: 'v1.9.0',
            reason: 'error rate 30 %',
            severity: 'high',
            mode: 'immediate',
            requested_by: 'alice',
            requested_at: new Date().toISOString(),
            verification: { ...DEFAULT_VERIFICATION },
          } satisfies RollbackInput,
        ],
      });
      return { view: (await h.result()) as RollbackView, history: (await h.fetchHistory()).events ?? [] };
    });
    expect(view.status).toBe('completed');
    expect(view.timeline.find((t) => t.event === 'metrics_before')?.detail).toMatchObject({
      version: 'v2.0.0',
      error: expect.stringContaining('prometheus could not answer') as unknown,
    });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: id }]);
    // No retries of a failing read and no step-by-step fallback: the one step that switches ran once, in the task.
    const scheduled = history.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(scheduled).not.toContain('switchActiveVersion');
    expect(scheduled).not.toContain('switchInOneStep');
    expect(localActivities(history).filter((a) => a.activity_type === 'switchInOneStep')).toEqual([
      expect.objectContaining({ attempt: 1 }),
    ]);
    expect(history.filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1)).toEqual(
      [],
    );
  });

  it('escalates with a critical page when the error rate stays high for the whole 60 s', async () => {
    const w = world({ checks: [{ requests: 100, errors: 20 }] });
    const { view } = await run(w);
    expect(view.status).toBe('escalated');
    expect(view.severity).toBe('critical');
    expect(view.verification?.result).toBe('not_recovered');
    expect(view.verification?.checks).toHaveLength(12);
    const pages = w.notifications.filter((n) => n.kind === 'page');
    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({ severity: 'critical', prompt: 'customer-support' });
    expect(pages[0]!.message).toContain('20.00 %');
  });

  it('reports no traffic as inconclusive, never as recovered', async () => {
    const w = world({ checks: [{ requests: 0, errors: 0 }] });
    const { view } = await run(w);
    expect(view.verification?.result).toBe('inconclusive');
    expect(view.verification?.checks.every((c) => c.kind === 'inconclusive')).toBe(true);
    expect(events(view)).toContain('verification_inconclusive');
    expect(view).toMatchObject({ status: 'completed', outcome: 'unverified' });
    expect(events(view)).not.toContain('recovered');
    expect(w.notifications.some((n) => n.title.includes('UNVERIFIED'))).toBe(true);
  });

  it('fails without switching when the target version does not exist', async () => {
    const w = world();
    const { view } = await run(w, { target_version: 'v0.0.1' });
    expect(view.status).toBe('failed');
    expect(w.switches).toEqual([]);
    expect(events(view)).toContain('target_rejected');
  });

  it('waits for a store that cannot be used, past every retry, then switches once and verifies (no rejected target)', async () => {
    // Down for the one step's six attempts, the step-by-step choice's four, and a few more: over a minute of outage.
    const w = world({ storeDownCalls: 14, checks: [{ requests: 100, errors: 0 }] });
    const { view } = await run(w);
    expect(view.status).toBe('completed');
    expect(view.outcome).toBe('recovered');
    expect(w.switches).toHaveLength(1);
    expect(events(view)).not.toContain('target_rejected');
    expect(events(view)).not.toContain('switch_failed');
    const waited = view.timeline.filter((e) => e.event === 'store_unavailable');
    expect(waited).toEqual([
      expect.objectContaining({
        detail: { step: 'choose the target', error: expect.stringContaining('ECONNREFUSED'), retry_every_s: 5 },
      }),
    ]);
    expect(events(view).indexOf('store_unavailable')).toBeLessThan(events(view).indexOf('switched'));
    expect(w.notifications.some((n) => n.kind === 'page')).toBe(false);
  });

  it('a store that stays away: on-call is paged once after 5 min of waiting, and after 30 min the rollback fails as before', async () => {
    const w = world({ storeDownCalls: 100_000 });
    const { view } = await run(w);
    expect(view.status).toBe('failed');
    expect(events(view)).toContain('target_rejected');
    expect(w.switches).toEqual([]);
    const pages = w.notifications.filter((n) => n.kind === 'page');
    expect(pages.map((p) => p.title)).toEqual(['ROLLBACK WAITING FOR THE STORE: customer-support', 'ROLLBACK FAILED: customer-support']);
    expect(pages[0]!.message).toMatch(/has waited \d+ s for the store \(the database did not answer: connect ECONNREFUSED/);
    const waited = Number(/has waited (\d+) s/.exec(pages[0]!.message)![1]);
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(400);
  });

  it('waits at the switch too: the store down after the target was chosen', async () => {
    // The one step fails six times on the choice; the step-by-step choice answers; its switch then finds the store
    // down for eight calls (six attempts, then two after the first wait).
    const w = world({ storeDownCalls: 6, checks: [{ requests: 100, errors: 0 }] });
    const fakes = fakeActivities(w);
    const choose = fakes.chooseTarget.bind(fakes);
    // The step-by-step choice (the one step calls the choice inside it, not this one): the store goes down right after.
    fakes.chooseTarget = async (input) => {
      const r = await choose(input);
      w.storeDownCalls = 8;
      return r;
    };
    const { view } = await run(w, {}, fakes);
    expect(view.status).toBe('completed');
    expect(w.switches).toHaveLength(1);
    expect(view.timeline.filter((e) => e.event === 'store_unavailable').map((e) => e.detail.step)).toEqual(['switch']);
  });

  it('escalates when the switch keeps failing after its retries', async () => {
    const w = world({ switchFails: true });
    const { view } = await run(w);
    expect(view.status).toBe('escalated');
    expect(events(view)).toContain('switch_failed');
    expect(w.notifications.some((n) => n.kind === 'page' && n.severity === 'critical')).toBe(true);
  });

  it('answers the state query with what the API shows', async () => {
    const w = world({ checks: [{ requests: 100, errors: 0 }] });
    const taskQueue = `tq-${randomUUID()}`;
    const worker = await testWorker(env, taskQueue, fakeActivities(w));
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('rollbackWorkflow', {
        taskQueue,
        workflowId: `rollback/customer-support/q-${randomUUID().slice(0, 6)}`,
        args: [
          {
            rollback_id: 'q1',
            prompt: 'customer-support',
            target_version: 'v1.9.0',
            reason: 'r',
            severity: 'high',
            mode: 'immediate',
            requested_by: 'bob',
            requested_at: new Date().toISOString(),
            verification: { ...DEFAULT_VERIFICATION },
          } satisfies RollbackInput,
        ],
      });
      await handle.result();
      const state = await handle.query<RollbackView>('state');
      expect(state).toMatchObject({ rollback_id: 'q1', status: 'completed', requested_by: 'bob', to_version: 'v1.9.0' });
    });
  });

  describe("a named target's baseline test runs after the switch", () => {
    const failed = { evaluator: 'http-suite', passed: false, score: 0.5, detail: 'failed: accuracy 50.0 % (1/2) < 75 %' };

    it('the target is chosen without it; it is asked about the version switched to, after the switch; a failure is in the timeline and alerted', async () => {
      const w = world({ targetTest: failed });
      const { view } = await run(w);
      expect(w.targetCalls).toEqual([{ named_test_after_switch: true }]);
      expect(w.targetTests).toEqual(['v1.9.0']);
      expect(view.status).toBe('completed');
      const names = events(view);
      expect(names.indexOf('baseline_tested')).toBeGreaterThan(names.indexOf('switched'));
      expect(view.timeline.find((e) => e.event === 'baseline_tested')?.detail).toEqual({ version: 'v1.9.0', ...failed });
      const alert = w.notifications.find((n) => n.title.startsWith('ROLLED BACK TO A VERSION THAT FAILED'));
      expect(alert).toMatchObject({
        kind: 'alert',
        severity: 'high',
        title: 'ROLLED BACK TO A VERSION THAT FAILED ITS BASELINE TEST: customer-support',
      });
      expect(alert?.message).toBe(
        'v1.9.0, the version alice rolled back to, failed its baseline test: failed: accuracy 50.0 % (1/2) < 75 %. It is serving; consider another target.',
      );
      // The stored record has it too (saved with a later check or the end).
      expect(w.saved.at(-1)?.timeline.some((e) => e.event === 'baseline_tested')).toBe(true);
    });

    it('a passed test is recorded without an alert; no evaluator (null) records nothing', async () => {
      const passed = { ...failed, passed: true, score: 1, detail: 'passed: accuracy 100.0 % (2/2) ≥ 75 %' };
      const w1 = world({ targetTest: passed });
      const r1 = await run(w1);
      expect(r1.view.timeline.find((e) => e.event === 'baseline_tested')?.detail).toMatchObject({ passed: true });
      expect(w1.notifications.filter((n) => n.kind === 'alert' && n.title.includes('BASELINE'))).toEqual([]);
      const w2 = world();
      const r2 = await run(w2);
      expect(w2.targetTests).toEqual(['v1.9.0']);
      expect(events(r2.view)).not.toContain('baseline_tested');
      expect(r2.view.status).toBe('completed');
    });

    it('a test that cannot run is "not judged" in the timeline and the rollback completes as it would', async () => {
      const w = world({ targetTest: 'fails' });
      const { view } = await run(w);
      expect(view.status).toBe('completed');
      expect(view.timeline.find((e) => e.event === 'baseline_tested')?.detail).toMatchObject({
        version: 'v1.9.0',
        evaluator: 'unavailable',
        passed: null,
        detail: expect.stringContaining('baseline test could not run: registry unreachable'),
      });
    });

    it('a rollback with no named target chooses (and tests) its target first, as before: no test after the switch', async () => {
      const w = world({ targetTest: failed });
      const { view } = await run(w, { target_version: undefined });
      expect(view.status).toBe('completed');
      expect(w.targetCalls).toEqual([{}]);
      expect(w.targetTests ?? []).toEqual([]);
      expect(events(view)).not.toContain('baseline_tested');
    });

    it('a test that answers after verification ended: the run waits for it, then ends with it stored', async () => {
      // Time does not skip while an activity runs: a verification of 1 s in wall time ends before a 6-s test answers.
      const w = world({ targetTest: failed, targetTestDelayMs: 6_000 });
      const { view } = await run(w, { verification: { ...DEFAULT_VERIFICATION, interval_s: 1, duration_s: 1 } });
      expect(view.status).toBe('completed');
      // Recorded after verification's last check: the run waited for it before its final status.
      const names = events(view);
      expect(names.indexOf('baseline_tested')).toBeGreaterThan(names.lastIndexOf('verification_check'));
      const last = w.saved.at(-1)!;
      expect(last.status).toBe('completed');
      expect(last.timeline.find((e) => e.event === 'baseline_tested')?.detail).toMatchObject({ passed: false });
      expect(w.notifications.some((n) => n.title.startsWith('ROLLED BACK TO A VERSION THAT FAILED'))).toBe(true);
    });

    it('a gradual rollback still tests its named target with the choice, before any traffic moves (an abort never waits for a test)', async () => {
      const w = world({ targetTest: failed });
      const { view } = await run(w, { mode: 'gradual', gradual_plan: { ...DEFAULT_GRADUAL } });
      expect(view.status).toBe('completed');
      expect(w.targetCalls).toEqual([{}]);
      expect(w.targetTests ?? []).toEqual([]);
      expect(events(view)).not.toContain('baseline_tested');
    });

    it('a switch that fails runs no test', async () => {
      const w = world({ targetTest: failed, switchFails: true });
      const { view } = await run(w);
      expect(view.status).toBe('escalated');
      expect(w.targetTests ?? []).toEqual([]);
    });
  });
});
