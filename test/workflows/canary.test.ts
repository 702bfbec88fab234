import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CANARY, judgeCanary, type CanaryJudgement } from '../../src/domain/stages';
import type { CanaryInput, CanaryResult } from '../../src/workflows/canary';
import { abortSignal } from '../../src/workflows/messages';
import { fakeActivities, type FakeWorld } from '../support/fake-activities';
import { testWorker, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const plan = { ...DEFAULT_CANARY };
const promote = judgeCanary({ requests: 500, errors: 2 }, { requests: 5000, errors: 20 }, plan);
const regress = judgeCanary({ requests: 500, errors: 30 }, { requests: 5000, errors: 20 }, plan);
const short = judgeCanary({ requests: 12, errors: 0 }, { requests: 5000, errors: 20 }, plan);

const world = (canary: CanaryJudgement[]): FakeWorld => ({
  active: 'v1.9.0',
  versions: ['v1.9.0', 'v2.0.0'],
  checks: [],
  switches: [],
  notifications: [],
  saved: [],
  canary,
});

async function run(w: FakeWorld, signal?: (id: string) => Promise<void>): Promise<CanaryResult> {
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await testWorker(env, taskQueue, fakeActivities(w));
  const id = `dep-${randomUUID().slice(0, 8)}`;
  const input: CanaryInput = {
    deployment_id: id,
    prompt: 'customer-support',
    version: 'v2.0.0',
    from_version: 'v1.9.0',
    plan,
    actor: 'alice',
    created_at: new Date().toISOString(),
  };
  return worker.runUntil(async () => {
    const h = await env.client.workflow.start('canaryWorkflow', { taskQueue, workflowId: `deploy/customer-support/${id}`, args: [input] });
    if (signal) await signal(h.workflowId);
    return (await h.result()) as CanaryResult;
  });
}

const onNew = (w: FakeWorld) => (w.splits ?? []).map((s) => s.split.find((x) => x.version === 'v2.0.0')?.percent ?? 0);

describe('canary rollout (time-skipping)', () => {
  it('the judgements themselves: promote, regression (p < 0.05), too few samples', () => {
    expect(promote.outcome).toBe('promote');
    expect(regress.outcome).toBe('abort');
    expect(regress.p_value).toBeLessThan(0.05);
    expect(short.outcome).toBe('wait');
  });

  it('promotes 1 → 5 → 25 → 100 % when every stage is healthy; the deployment ends completed', async () => {
    const w = world([promote]);
    const r = await run(w);
    expect(r.status).toBe('completed');
    expect(onNew(w)).toEqual([1, 5, 25, 100]);
    expect(w.active).toBe('v2.0.0');
    expect(w.deployments?.at(-1)).toMatchObject({ status: 'completed', strategy: 'canary' });
  });

  it.each([0, 1, 2])('a regression at stage %i aborts and puts all traffic back on the old version, with the reason', async (stage) => {
    const w = world([...Array<CanaryJudgement>(stage).fill(promote), regress]);
    const r = await run(w);
    expect(r.status).toBe('aborted');
    expect(r.reason).toMatch(new RegExp(`stage ${stage + 1} \\(${[1, 5, 25][stage]} %\\) failed: error rate regression`));
    expect(onNew(w)).toEqual([...[1, 5, 25].slice(0, stage + 1), 0]);
    expect(w.active).toBe('v1.9.0');
    expect(w.deployments?.at(-1)).toMatchObject({ status: 'aborted' });
    expect(w.notifications.some((n) => n.title.startsWith('CANARY ABORTED'))).toBe(true);
  });

  it('too few samples: bakes again, then aborts as inconclusive', async () => {
    const w = world([short]);
    const r = await run(w);
    expect(r.status).toBe('aborted');
    expect(r.reason).toMatch(/inconclusive: 12 canary request\(s\), 100 needed/);
    expect(r.stages).toHaveLength(1 + plan.max_extra_bakes);
  });

  it('an abort signal ends the rollout at once', async () => {
    const w = world([promote]);
    const r = await run(w, (id) => env.client.workflow.getHandle(id).signal(abortSignal, { by: 'bob' }));
    expect(r.status).toBe('aborted');
    expect(r.reason).toBe('aborted by bob at 1 %');
    expect(w.active).toBe('v1.9.0');
  });

  it.each([1, 3])(
    'a rollback opened on the prompt after %i stage(s): the store refuses the next step; the canary ends aborted without touching traffic',
    async (afterSplits) => {
      const reason = 'deployment dep-x is aborted: aborted by rollback 20260101-000000-rb000001';
      const w = { ...world([promote]), deploymentAborted: { afterSplits, reason } };
      const r = await run(w);
      expect(r.status).toBe('aborted');
      expect(r.reason).toContain('rollback 20260101-000000-rb000001');
      // Only the stages set before the rollback: no "all traffic back on the old version" split, no promotion.
      expect(onNew(w)).toEqual([1, 5, 25].slice(0, afterSplits));
      expect(w.deployments?.at(-1)).toMatchObject({ status: 'aborted' });
    },
  );
});
