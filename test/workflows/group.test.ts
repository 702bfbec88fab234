import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupPlan } from '../../src/activities/group';
import type { RollbackInput, RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { fakeActivities, fakeWorld, type FakeWorld } from '../support/fake-activities';
import { testWorker, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const breach = (observed: number): Verdict => ({
  kind: 'breached',
  rule: 'error_rate_critical',
  metric: 'error_rate',
  threshold: 0.05,
  observed,
  window_s: 300,
  samples: 400,
  severity: 'critical',
  action: 'rollback',
  summary: `critical: error rate ${(observed * 100).toFixed(2)} % > 5.00 %`,
});

const group: GroupPlan = {
  members: [
    { prompt: 'refund-classifier', from_version: 'r2', to_version: 'r1', verdict: breach(0.12) },
    { prompt: 'escalation-writer', from_version: 'e5', to_version: 'e4', verdict: breach(0.09) },
  ],
  not_joining: [{ prompt: 'greeting', why: 'healthy: error rate 0.10 % over 900 requests in 300 s' }],
};

async function run(over: Partial<FakeWorld>): Promise<{ view: RollbackView; w: FakeWorld }> {
  const w = fakeWorld({ group, ...over });
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await testWorker(env, taskQueue, fakeActivities(w));
  const i: RollbackInput = {
    rollback_id: randomUUID().slice(0, 8),
    prompt: 'customer-support',
    target_version: 'v1.9.0',
    reason: 'release 42 broke the support flow',
    severity: 'critical',
    mode: 'immediate',
    requested_by: 'alice',
    requested_at: new Date().toISOString(),
    verification: { ...DEFAULT_VERIFICATION },
  };
  const view = (await worker.runUntil(
    env.client.workflow.execute('rollbackWorkflow', { taskQueue, workflowId: `rollback/customer-support/${i.rollback_id}`, args: [i] }),
  )) as RollbackView;
  return { view, w };
}

describe('coordinated rollback (time-skipping)', () => {
  it('breached related prompts roll back with it: one incident, one page, one timeline', async () => {
    const { view, w } = await run({});
    expect(view.status).toBe('completed');
    expect(w.switches.map((s) => s.rollback_id.split('/')[1] ?? 'main')).toEqual(['main', 'refund-classifier', 'escalation-writer']);
    expect(view.group?.members.map((m) => [m.prompt, m.switched])).toEqual([
      ['refund-classifier', true],
      ['escalation-writer', true],
    ]);
    expect(view.group?.not_joining).toEqual(group.not_joining);
    const rollbackNotes = w.notifications.filter((n) => n.title.startsWith('ROLLBACK:'));
    expect(rollbackNotes).toHaveLength(1);
    expect(rollbackNotes[0]!.message).toContain('refund-classifier r2 → r1, escalation-writer e5 → e4');
    expect(view.timeline.map((t) => t.event)).toEqual(expect.arrayContaining(['group_planned', 'switched', 'recovered']));
  });

  it('one member cannot switch: every switch already made is undone, and the incident escalates with a critical page', async () => {
    const { view, w } = await run({ switchFailsFor: ['escalation-writer'] });
    expect(view.status).toBe('escalated');
    expect(w.reverts?.map((r) => [r.prompt, r.to])).toEqual([
      ['refund-classifier', 'r2'],
      ['customer-support', 'v2.0.0'],
    ]);
    expect(view.group?.members.every((m) => !m.switched)).toBe(true);
    const detail = view.timeline.find((t) => t.event === 'group_failed_compensated')?.detail;
    expect(detail).toMatchObject({ failed: 'escalation-writer', undone: ['refund-classifier', 'customer-support'] });
    expect(w.notifications.filter((n) => n.kind === 'page' && n.severity === 'critical')).toHaveLength(1);
    expect(view.verification).toBeUndefined();
  });

  it('compensation retries until it is done: a registry down for 12 attempts still leaves no member half switched', async () => {
    // 12 failures: more than the 10 attempts compensation used to give up after, leaving a group half done.
    const { view, w } = await run({ switchFailsFor: ['escalation-writer'], revertFailures: 12 });
    expect(view.status).toBe('escalated');
    expect(w.reverts?.map((r) => [r.prompt, r.to])).toEqual([
      ['refund-classifier', 'r2'],
      ['customer-support', 'v2.0.0'],
    ]);
    expect(view.escalation).toBe('group_failed');
  });

  it('when the group cannot be planned, the prompt rolls back alone (no group half done) and says so', async () => {
    const { view, w } = await run({ planGroupFails: true });
    expect(view.status).toBe('completed');
    expect(w.switches.map((s) => s.rollback_id)).toEqual([view.rollback_id]);
    expect(view.timeline.find((t) => t.event === 'group_plan_failed')?.detail).toMatchObject({
      consequence: 'customer-support rolls back alone',
    });
  });
});
