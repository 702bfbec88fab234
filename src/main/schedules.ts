import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { RetentionPolicy } from '../domain/retention';
import { reconcileWorkflow } from '../workflows/reconcile';
import { retentionWorkflow } from '../workflows/retention';
import { storageWorkflow } from '../workflows/storage';
import type { StoragePolicy } from '../domain/storage';
import { messageWithCauses } from './run';

interface ScheduleSpec {
  id: string;
  /** The workflow function; its name is the workflow type. */
  workflowType: (...args: never[]) => Promise<unknown>;
  /** The started workflow's id (the schedule appends the time). */
  workflowId: string;
  args: unknown[];
  everySeconds: number;
  note: string;
  /** What each run does, as the Web UI lists it. */
  summary: string;
}

/**
 * Creates the schedule, or makes an existing one follow the configuration of the workers running now
 * (interval, task queue, policy), keeping an operator's pause and note. Every worker start calls it.
 */
async function ensureSchedule(client: Client, taskQueue: string, s: ScheduleSpec): Promise<'created' | 'updated'> {
  const spec = { intervals: [{ every: `${s.everySeconds} seconds` }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: s.workflowType.name,
    taskQueue,
    args: s.args,
    workflowId: s.workflowId,
    staticSummary: s.summary,
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP };
  try {
    try {
      await client.schedule.create({ scheduleId: s.id, spec, action, policies, state: { note: s.note } });
      return 'created';
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw e;
      await client.schedule
        .getHandle(s.id)
        .update((prev) => ({ spec, action, policies, state: { paused: prev.state.paused, note: prev.state.note ?? s.note } }));
      return 'updated';
    }
  } catch (e) {
    // The SDK says "Failed to create schedule" and keeps the server's reason (schedules disabled, permission denied) in
    // the cause: the message names both, and the schedule.
    throw new Error(`could not create or update the schedule ${s.id} in namespace ${client.options.namespace}: ${messageWithCauses(e)}`, {
      cause: e,
    });
  }
}

export const RETENTION_SCHEDULE_ID = 'promptback-retention';

/** Version retention: archive versions beyond the hot set, purge old unreferenced ones. */
export async function ensureRetentionSchedule(
  client: Client,
  taskQueue: string,
  policy: RetentionPolicy,
  everySeconds: number,
): Promise<'created' | 'updated'> {
  return ensureSchedule(client, taskQueue, {
    id: RETENTION_SCHEDULE_ID,
    workflowType: retentionWorkflow,
    workflowId: 'retention',
    args: [policy],
    everySeconds,
    note: 'promptback: archive versions beyond the hot set, purge old unreferenced ones',
    summary: `retention: keep the newest ${policy.hot_count} versions hot, archive older ones, purge unreferenced old ones`,
  });
}

export const RECONCILER_SCHEDULE_ID = 'promptback-reconciler';

/**
 * The reconciler, and one pass now: a worker that starts after an outage repairs what the outage left
 * (unstarted incidents, stopped monitors) without waiting an interval.
 */
export async function ensureReconcilerSchedule(client: Client, taskQueue: string, everySeconds: number): Promise<'created' | 'updated'> {
  const result = await ensureSchedule(client, taskQueue, {
    id: RECONCILER_SCHEDULE_ID,
    workflowType: reconcileWorkflow,
    workflowId: 'reconciler',
    args: [],
    everySeconds,
    note: 'promptback: open rollbacks have a running workflow; deployed prompts have a running monitor',
    summary: 'reconciler: open rollbacks have a running workflow, deployed prompts a running monitor',
  });
  try {
    await client.schedule.getHandle(RECONCILER_SCHEDULE_ID).trigger(ScheduleOverlapPolicy.SKIP);
  } catch (e) {
    throw new Error(
      `could not trigger the schedule ${RECONCILER_SCHEDULE_ID} in namespace ${client.options.namespace}: ${messageWithCauses(e)}`,
      {
        cause: e,
      },
    );
  }
  return result;
}

export const STORAGE_SCHEDULE_ID = 'promptback-storage';

/** Bounded storage: metric roll-up, deletion of old rows. */
export async function ensureStorageSchedule(
  client: Client,
  taskQueue: string,
  policy: StoragePolicy,
  everySeconds: number,
): Promise<'created' | 'updated'> {
  return ensureSchedule(client, taskQueue, {
    id: STORAGE_SCHEDULE_ID,
    workflowType: storageWorkflow,
    workflowId: 'storage',
    args: [policy],
    everySeconds,
    note: 'promptback: roll 1-s metrics up to 1-min, drop old metrics, delete old outbox rows and finished rollbacks',
    summary: 'storage: roll 1-s metrics up to 1-min, delete old metrics, outbox rows and finished rollbacks',
  });
}
