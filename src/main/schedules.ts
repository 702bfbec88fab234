import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { RetentionPolicy } from '../domain/retention';
import { reconcileWorkflow } from '../workflows/reconcile';
import { retentionWorkflow } from '../workflows/retention';
import { storageWorkflow } from '../workflows/storage';
import type { StoragePolicy } from '../domain/storage';

export const RETENTION_SCHEDULE_ID = 'promptback-retention';

/** Creates the retention schedule if it does not exist yet (idempotent; every worker start calls it). */
export async function ensureRetentionSchedule(
  client: Client,
  taskQueue: string,
  policy: RetentionPolicy,
  everySeconds: number,
): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: `${everySeconds} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: retentionWorkflow,
        taskQueue,
        args: [policy],
        workflowId: 'retention',
        staticSummary: `retention: keep the newest ${policy.hot_count} versions hot, archive older ones, purge unreferenced old ones`,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { note: 'promptback: archive versions beyond the hot set, purge old unreferenced ones' },
    });
    return 'created';
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return 'exists';
    throw e;
  }
}

export const RECONCILER_SCHEDULE_ID = 'promptback-reconciler';

/**
 * Creates the reconciler schedule if it does not exist yet, and runs one pass now: a worker that starts after
 * an outage repairs what the outage left (unstarted incidents, stopped monitors) without waiting an interval.
 */
export async function ensureReconcilerSchedule(client: Client, taskQueue: string, everySeconds: number): Promise<'created' | 'updated'> {
  const spec = { intervals: [{ every: `${everySeconds} seconds` }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: reconcileWorkflow,
    taskQueue,
    args: [] as [],
    workflowId: 'reconciler',
    staticSummary: 'reconciler: open rollbacks have a running workflow, deployed prompts a running monitor',
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP };
  const note = 'promptback: open rollbacks have a running workflow; deployed prompts have a running monitor';
  let result: 'created' | 'updated' = 'created';
  const handle = client.schedule.getHandle(RECONCILER_SCHEDULE_ID);
  try {
    await client.schedule.create({ scheduleId: RECONCILER_SCHEDULE_ID, spec, action, policies, state: { note } });
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    // Follow the configuration (interval, task queue) of the workers running now; keep an operator's pause.
    await handle.update((prev) => ({ spec, action, policies, state: { paused: prev.state.paused, note: prev.state.note ?? note } }));
    result = 'updated';
  }
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return result;
}

export const STORAGE_SCHEDULE_ID = 'promptback-storage';

/** Creates the storage schedule (metric roll-up, deletion of old rows) if it does not exist yet (idempotent). */
export async function ensureStorageSchedule(
  client: Client,
  taskQueue: string,
  policy: StoragePolicy,
  everySeconds: number,
): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: STORAGE_SCHEDULE_ID,
      spec: { intervals: [{ every: `${everySeconds} seconds` }] },
      action: {
        type: 'startWorkflow',
        workflowType: storageWorkflow,
        taskQueue,
        args: [policy],
        workflowId: 'storage',
        staticSummary: 'storage: roll 1-s metrics up to 1-min, delete old metrics, outbox rows and finished rollbacks',
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { note: 'promptback: roll 1-s metrics up to 1-min, drop old metrics, delete old outbox rows and finished rollbacks' },
    });
    return 'created';
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return 'exists';
    throw e;
  }
}
