import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { RetentionPolicy } from '../domain/retention';
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
      action: { type: 'startWorkflow', workflowType: 'retentionWorkflow', taskQueue, args: [policy], workflowId: 'retention' },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { note: 'promptback: archive versions beyond the hot set, purge old unreferenced ones' },
    });
    return 'created';
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return 'exists';
    throw e;
  }
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
      action: { type: 'startWorkflow', workflowType: 'storageWorkflow', taskQueue, args: [policy], workflowId: 'storage' },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { note: 'promptback: roll 1-s metrics up to 1-min, drop old metrics, delete old outbox rows and finished rollbacks' },
    });
    return 'created';
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return 'exists';
    throw e;
  }
}
