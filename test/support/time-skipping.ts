import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { Activities } from '../../src/activities';
import { timeSkippingEnv } from './time-skipping-env';

export { timeSkippingEnv };

export async function testWorker(env: TestWorkflowEnvironment, taskQueue: string, activities: Activities): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
}

type HistoryEvent = {
  workflowTaskCompletedEventAttributes?: unknown;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  markerRecordedEventAttributes?: {
    markerName?: string | null;
    details?: Record<string, { payloads?: { data?: Uint8Array | null }[] | null } | null> | null;
  } | null;
};

/** A local activity's marker, read (Core writes its data as JSON: activity_type, attempt, …). */
function localActivity(e: HistoryEvent): { activity_type: string; attempt: number } | undefined {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity') return undefined;
  const data = m.details?.data?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string; attempt: number }) : undefined;
}
const localActivityType = (e: HistoryEvent) => localActivity(e)?.activity_type;

/** The local activities a history ran, in order: type and the attempt that completed. */
export const localActivities = (history: readonly HistoryEvent[]) => history.flatMap((e) => localActivity(e) ?? []);

/**
 * Where a rollback's switch ran in its history: the one step as a local activity in a workflow task (its marker), or
 * an activity task (runs from before that change, and the step-by-step path). `tasksBefore` counts the workflow
 * tasks completed before it: 1 means the run's first task switched, or scheduled the switch.
 */
export function switchStep(history: readonly HistoryEvent[]): { kind: 'in_task' | 'activity'; tasksBefore: number } | undefined {
  const isSwitch = (n: string | null | undefined) => n === 'switchActiveVersion' || n === 'switchInOneStep';
  const at = history.findIndex(
    (e) => isSwitch(e.activityTaskScheduledEventAttributes?.activityType?.name) || isSwitch(localActivityType(e)),
  );
  if (at < 0) return undefined;
  return {
    kind: history[at]!.markerRecordedEventAttributes ? 'in_task' : 'activity',
    tasksBefore: history.slice(0, at).filter((e) => e.workflowTaskCompletedEventAttributes).length,
  };
}
