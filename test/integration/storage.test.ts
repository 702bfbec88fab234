import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageSummary } from '../../src/domain/storage';
import { initialView } from '../../src/domain/rollback';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { startStack, waitFor, type Stack } from '../support/stack';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from '../../src/main/schedules';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-storage' });
});
afterAll(async () => {
  await stack?.stop();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('the promptback-storage schedule', () => {
  it('is registered by the worker, and a run rolls up, drops and deletes what is due, with its counts as the run result', async () => {
    const schedule = stack.api.client.schedule.getHandle('promptback-storage');
    const d = await schedule.describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'storageWorkflow' });
    expect(d.spec.intervals?.[0]?.every).toBe(300_000);

    const now = Date.now();
    // Three hours ago (rolled up), forty days ago (dropped after its roll-up), ten minutes ago (kept per second).
    const minute = (t: number) => Math.floor(t / 60_000) * 60_000;
    const old = minute(now - 3 * HOUR);
    const ancient = minute(now - 40 * DAY);
    const recent = now - 10 * 60_000;
    const ev = (at: number, ok = true) => ({ prompt: 'cs', version: 'v1', ok, latency_ms: 120, quality: 0.8, at: new Date(at) });
    await stack.adapters.metrics.ingest([ev(old + 1_000), ev(old + 30_000, false), ev(old + 59_000), ev(ancient + 5_000), ev(recent)]);
    const oldWindow = await stack.adapters.metrics.window('cs', 'v1', new Date(old), new Date(old + 60_000));
    expect(oldWindow).toMatchObject({ requests: 3, errors: 1 });

    const finishedLongAgo = initialView({
      rollback_id: 'rb-ancient',
      prompt: 'cs',
      reason: 'errors',
      severity: 'high',
      mode: 'immediate',
      requested_by: 'alice',
      requested_at: new Date(now - 200 * DAY).toISOString(),
      verification: DEFAULT_VERIFICATION,
    });
    await stack.adapters.rollbacks.save({ ...finishedLongAgo, status: 'completed', updated_at: new Date(now - 199 * DAY).toISOString() });
    await stack.adapters.db.kysely
      .insertInto('outbox')
      .values({
        key: 'old-alert',
        channel: '#incidents',
        kind: 'alert',
        severity: 'low',
        prompt: 'cs',
        rollback_id: null,
        title: 'old',
        message: 'old',
        payload: '{}',
        created_at: new Date(now - 45 * DAY).toISOString(),
      })
      .execute();

    await schedule.trigger();
    const workflowId = await waitFor('the triggered storage run', async () => {
      const recentActions = (await schedule.describe()).info.recentActions;
      return recentActions.at(-1)?.action.workflow.workflowId;
    });
    const summary = (await stack.api.client.workflow.getHandle(workflowId).result()) as StorageSummary;
    expect(summary.metrics_rolled_up).toMatchObject({ rows: expect.any(Number), more: false });
    expect(summary.metrics_rolled_up.rows).toBeGreaterThanOrEqual(4); // 4 one-second buckets (their latency is in the row)
    expect(summary.metrics_dropped.rows).toBe(1); // the forty-day-old minute
    expect(summary.outbox_deleted).toMatchObject({ rows: 1, more: false });
    expect(summary.rollbacks_deleted).toMatchObject({ rows: 1, more: false });

    // What a reader sees: the old minute reads the same from its roll-up, the ancient one is gone, recent traffic stays.
    expect(await stack.adapters.metrics.window('cs', 'v1', new Date(old), new Date(old + 60_000))).toEqual(oldWindow);
    expect((await stack.adapters.metrics.window('cs', 'v1', new Date(ancient), new Date(ancient + 60_000))).requests).toBe(0);
    expect((await stack.adapters.metrics.window('cs', 'v1', new Date(recent - 1_000), new Date(recent + 1_000))).requests).toBe(1);
    expect(await stack.adapters.rollbacks.get('rb-ancient')).toBeUndefined();
  });
});

describe('schedules follow the workers running now', () => {
  it('a worker started with another task queue, interval or policy updates the retention schedule and keeps an operator’s pause', async () => {
    const schedule = stack.api.client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    const before = await schedule.describe();
    expect(before.action).toMatchObject({ type: 'startWorkflow', taskQueue: stack.config.temporal.taskQueue });
    await schedule.pause('operator: quiet period');
    const { every_s: _every, ...policy } = stack.config.retention;
    const moved = { ...policy, hot_count: policy.hot_count + 1 };
    await expect(ensureRetentionSchedule(stack.api.client, 'promptback-moved', moved, 7200)).resolves.toBe('updated');
    const after = await schedule.describe();
    expect(after.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'retentionWorkflow',
      taskQueue: 'promptback-moved',
      args: [moved],
    });
    expect(after.spec.intervals?.[0]?.every).toBe(7_200_000);
    expect(after.state).toMatchObject({ paused: true, note: 'operator: quiet period' });
  });
});
