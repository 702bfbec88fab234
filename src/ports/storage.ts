import type { StorageBudget, StorageStepResult } from '../domain/storage';

/** Keeps the store bounded: metric roll-up and drop, deletion of old notifications and finished rollbacks. */
export interface StorageMaintenance {
  /**
   * Moves 1-s metric buckets that start before `before` (epoch seconds, a whole minute) into 1-min buckets, adding
   * to what is there (late arrivals merge). Idempotent; safe beside concurrent ingest: no event is lost or counted twice.
   */
  rollUpMetrics(before: number, budget: StorageBudget): Promise<StorageStepResult>;
  /** Deletes 1-min metric buckets that start before `before` (epoch seconds). */
  dropMetrics(before: number, budget: StorageBudget): Promise<StorageStepResult>;
  /** Deletes outbox rows created before `before`, except those of an open rollback. */
  purgeOutbox(before: Date, budget: StorageBudget): Promise<StorageStepResult>;
  /**
   * Deletes rollbacks in a terminal status last updated before `before`, except one an open rollback refers to.
   * Audit rows are never deleted with them.
   */
  purgeRollbacks(before: Date, budget: StorageBudget): Promise<StorageStepResult>;
}
