import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { RetentionPolicy } from '../domain/retention';

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
