import { proxyActivities } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileSummary } from '../activities/reconcile';

const { reconcile } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * One reconciliation pass, run by the `promptback-reconciler` schedule and once at every worker start: open
 * rollbacks have a running workflow (or are started / released), deployed prompts have a running monitor.
 */
export async function reconcileWorkflow(): Promise<ReconcileSummary> {
  return reconcile();
}
