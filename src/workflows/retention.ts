import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RetentionSummary } from '../activities/retention';
import type { RetentionPolicy } from '../domain/retention';

const { retentionPass } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 5 },
});

/** One retention pass, run by the `promptback-retention` schedule (see the Web UI's Schedules page). */
export async function retentionWorkflow(policy: RetentionPolicy): Promise<RetentionSummary> {
  return retentionPass(policy);
}
