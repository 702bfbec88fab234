import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { StoragePolicy, StorageSummary } from '../domain/storage';

const { storagePass } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 5 },
});

/**
 * One bounded storage pass, run by the `promptback-storage` schedule: its result (rows rolled up and deleted per
 * table, and whether work is left for the next run) is the workflow result the Web UI shows.
 */
export async function storageWorkflow(policy: StoragePolicy): Promise<StorageSummary> {
  return storagePass(policy);
}
