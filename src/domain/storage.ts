/**
 * How long stored metrics, notifications and finished rollbacks are kept. Metrics keep 1-s resolution for the
 * recent past (what monitors and verification read), then 1-min resolution (baselines, history), then go.
 */
export interface StoragePolicy {
  /** 1-s metric buckets older than this are rolled up into 1-min buckets (also the late-arrival margin). */
  metrics_1s_keep_s: number;
  /** 1-min metric buckets older than this are dropped. */
  metrics_1m_keep_s: number;
  /** Notification outbox rows older than this are deleted (never those of an open rollback). */
  outbox_keep_s: number;
  /** Finished rollbacks (terminal status) last updated longer ago than this are deleted; their audit rows stay. */
  rollbacks_keep_s: number;
}

export const DEFAULT_STORAGE: Readonly<StoragePolicy> = Object.freeze({
  metrics_1s_keep_s: 2 * 3600,
  metrics_1m_keep_s: 30 * 86_400,
  outbox_keep_s: 30 * 86_400,
  rollbacks_keep_s: 180 * 86_400,
});

/** Default width of a rolled-up metric bucket, in seconds (METRICS_ROLLUP_S); it divides an hour. */
export const ROLLUP_S = 60;

/** Work one storage pass may do, so a pass over a large backlog is bounded and the next one continues. */
export interface StorageBudget {
  /** Transactions (batches) per step: a minute of 1-s metrics, an hour of 1-min metrics, or `rows` rows. */
  max_batches: number;
  /** Rows per delete batch for outbox and rollbacks. */
  rows: number;
  /** No new batch starts after this instant (epoch ms), so a pass fits its activity timeout. */
  until?: number;
}

export const DEFAULT_STORAGE_BUDGET: Readonly<StorageBudget> = Object.freeze({ max_batches: 500, rows: 1_000 });

/** What one storage pass did: the result a run shows in the Web UI. */
export interface StorageStepResult {
  /** Rows moved or deleted, by table. */
  rows: number;
  batches: number;
  /** Work was left for the next pass (the budget ran out). */
  more: boolean;
}

export interface StorageSummary {
  at: string;
  metrics_rolled_up: StorageStepResult & { before: string };
  metrics_dropped: StorageStepResult & { before: string };
  outbox_deleted: StorageStepResult & { before: string };
  rollbacks_deleted: StorageStepResult & { before: string };
  duration_ms: number;
}

/** The whole-minute instant before which data of age `keep_s` at `now` is due (epoch seconds). */
export const dueBefore = (now: Date, keep_s: number): number => Math.floor((now.getTime() / 1000 - keep_s) / ROLLUP_S) * ROLLUP_S;
