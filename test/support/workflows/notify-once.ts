/**
 * One notification queued by the worker's real notify activity, with the retry policy a rollback gives it
 * (src/workflows/rollback/context.ts): what a rollback's page goes through, without the rest of the rollback.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

export async function notifyOnceWorkflow(n: Parameters<Activities['notify']>[0]): Promise<{ id: string; channel: string }> {
  const { id, channel } = await notify(n);
  return { id, channel };
}
