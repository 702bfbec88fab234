import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/activity';
import { DEFAULT_STORAGE_BUDGET, dueBefore, type StorageBudget, type StoragePolicy, type StorageSummary } from '../domain/storage';
import type { Clock } from '../ports/clock';
import type { StorageMaintenance } from '../ports/storage';

/** A pass stops starting batches after this long, well inside the workflow's 10-minute activity timeout. */
const PASS_BUDGET_MS = 4 * 60_000;

/** The activity's logger when run by a worker; silent when called directly (tests, scripts). */
const logInfo = (message: string, attrs: Record<string, unknown>): void => {
  try {
    Context.current().log.info(message, attrs);
  } catch {
    // not inside an activity
  }
};

/**
 * One storage pass: roll 1-s metrics up, drop old rolled-up metrics, delete old outbox rows and finished rollbacks.
 * Each step deletes in batches within a budget; what is left waits for the next run. Idempotent: a retried pass
 * moves or deletes only what is still due.
 */
export function createStorageActivities(deps: { storage?: StorageMaintenance; clock: Clock }) {
  return {
    async storagePass(policy: StoragePolicy, budget: Partial<StorageBudget> = {}): Promise<StorageSummary> {
      const storage = deps.storage;
      if (!storage) throw ApplicationFailure.nonRetryable('this worker has no storage maintenance wired', 'NotConfigured');
      const started = Date.now();
      const now = deps.clock.now();
      const b: StorageBudget = { ...DEFAULT_STORAGE_BUDGET, until: started + PASS_BUDGET_MS, ...budget };
      const iso = (epoch_s: number) => new Date(epoch_s * 1000).toISOString();
      const rollUpBefore = dueBefore(now, policy.metrics_1s_keep_s);
      const dropBefore = dueBefore(now, policy.metrics_1m_keep_s);
      const outboxBefore = new Date(now.getTime() - policy.outbox_keep_s * 1000);
      const rollbacksBefore = new Date(now.getTime() - policy.rollbacks_keep_s * 1000);
      const summary: StorageSummary = {
        at: now.toISOString(),
        metrics_rolled_up: { before: iso(rollUpBefore), ...(await storage.rollUpMetrics(rollUpBefore, b)) },
        metrics_dropped: { before: iso(dropBefore), ...(await storage.dropMetrics(dropBefore, b)) },
        outbox_deleted: { before: outboxBefore.toISOString(), ...(await storage.purgeOutbox(outboxBefore, b)) },
        rollbacks_deleted: { before: rollbacksBefore.toISOString(), ...(await storage.purgeRollbacks(rollbacksBefore, b)) },
        duration_ms: 0,
      };
      summary.duration_ms = Date.now() - started;
      logInfo('storage pass', { storage: summary });
      return summary;
    },
  };
}
