import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RollbackInput, RollbackView } from '../../src/domain/rollback';
import { DEFAULT_GRADUAL } from '../../src/domain/stages';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { abortSignal, pauseSignal, resumeSignal } from '../../src/workflows/messages';
import { fakeActivities, fakeWorld, type FakeWorld } from '../support/fake-activities';
import { testWorker, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const world = fakeWorld;

const input = (): RollbackInput => ({
  rollback_id: randomUUID().slice(0, 8),
  prompt: 'customer-support',
  target_version: 'v1.9.0',
  reason: 'minor quality regression',
  severity: 'medium',
  mode: 'gradual',
  requested_by: 'alice',
  requested_at: new Date().toISOString(),
  verification: { ...DEFAULT_VERIFICATION },
  gradual_plan: { ...DEFAULT_GRADUAL },
});

const percentsOnBad = (w: FakeWorld) => (w.splits ?? []).map((s) => s.split.find((x) => x.version === 'v2.0.0')?.percent ?? 0);

async function start(w: FakeWorld) {
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await testWorker(env, taskQueue, fakeActivities(w));
  const i = input();
  return { worker, i, taskQueue, workflowId: `rollback/customer-support/${i.rollback_id}` };
}

describe('gradual rollback (time-skipping)', () => {
  it('clean: 75 → 50 → 25 % left on the bad version, 10 min each with a check a minute, then the audited switch', async () => {
    const w = world();
    const { worker, i, taskQueue, workflowId } = await start(w);
    const t0 = Date.now();
    const view = (await worker.runUntil(
      env.client.workflow.execute('rollbackWorkflow', { taskQueue, workflowId, args: [i] }),
    )) as RollbackView;
    expect(view.status).toBe('completed');
    expect(percentsOnBad(w)).toEqual([75, 50, 25]);
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: i.rollback_id }]);
    expect(view.gradual?.checks).toHaveLength(30);
    expect(view.timeline.map((t) => t.event)).toEqual(expect.arrayContaining(['gradual_started', 'switched', 'recovered']));
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('degrades (the target above 2 %) → pauses and pages; resume → continues to the switch', async () => {
    const w = world({
      windows: {
        'v1.9.0': [
          { requests: 100, errors: 0 },
          { requests: 100, errors: 5 },
          { requests: 100, errors: 0 },
        ],
      },
    });
    const { worker, i, taskQueue, workflowId } = await start(w);
    await worker.runUntil(async () => {
      const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId, args: [i] });
      // The second check (at 2 min) sees 5 % errors.
      await env.sleep(150_000);
      let paused: RollbackView | undefined;
      for (let n = 0; n < 200 && !paused; n++) {
        const s = await h.query<RollbackView>('state');
        if (s.status === 'paused') paused = s;
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(paused?.gradual).toMatchObject({ paused: true, stage: 0, percent: 75 });
      expect(paused?.gradual?.paused_reason).toMatch(/error rate of v1\.9\.0 \(the target\) 5\.00 % > 2\.00 %/);
      expect(w.notifications.some((n) => n.kind === 'page' && n.title.includes('PAUSED'))).toBe(true);
      // Stays paused however long nobody answers.
      await env.sleep(3_600_000);
      expect((await h.query<RollbackView>('state')).status).toBe('paused');
      expect(w.switches).toEqual([]);
      await env.client.workflow.getHandle(`${workflowId}/gradual`).signal(resumeSignal, { by: 'bob' });
      const view = (await h.result()) as RollbackView;
      expect(view.status).toBe('completed');
      expect(view.timeline.map((t) => t.event)).toEqual(expect.arrayContaining(['paused', 'resumed']));
      expect(w.switches).toHaveLength(1);
    });
  });

  it('pause by an operator, then abort: traffic goes back to the version it started from, status failed', async () => {
    const w = world();
    const { worker, i, taskQueue, workflowId } = await start(w);
    await worker.runUntil(async () => {
      const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId, args: [i] });
      const child = env.client.workflow.getHandle(`${workflowId}/gradual`);
      for (let n = 0; n < 200; n++) {
        if ((await h.query<RollbackView>('state')).gradual) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await child.signal(pauseSignal, { by: 'carol' });
      for (let n = 0; n < 200; n++) {
        if ((await h.query<RollbackView>('state')).status === 'paused') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await h.query<RollbackView>('state')).gradual?.paused_reason).toBe('paused by carol');
      await child.signal(abortSignal, { by: 'carol' });
      const view = (await h.result()) as RollbackView;
      expect(view.status).toBe('failed');
      expect(view.timeline.find((t) => t.event === 'aborted')?.detail).toMatchObject({ by: 'carol' });
      expect(w.switches).toEqual([]);
      expect(w.splits?.at(-1)?.split).toEqual([{ version: 'v2.0.0', percent: 100 }]);
    });
  });
});
