import type { ColumnType, Generated } from 'kysely';

/** Table shapes shared by the SQLite and Postgres dialects: text timestamps (ISO-8601 UTC), 0/1 flags, JSON text. */
export interface Database {
  prompts: {
    name: string;
    description: string;
    owner: string | null;
    related: string;
    policy: string;
    /** JSON of PromptMetrics; null (rows before migration 0012) reads as the builtin provider. */
    metrics: ColumnType<string | null, string | null | undefined, string | null>;
    /** JSON of PromptNotify; null: the global routes (every prompt before migration 0013). */
    notify: ColumnType<string | null, string | null | undefined, string | null>;
    active_version: string | null;
    created_at: string;
    updated_at: string;
  };
  versions: {
    prompt: string;
    version: string;
    template: string;
    metadata: string;
    created_at: string;
    deployed_at: string | null;
    state: string;
    known_good: number | null;
    rolled_back_from: number;
    seq: Generated<number>;
  };
  traffic: {
    prompt: string;
    version: string;
    percent: number;
  };
  audit_log: {
    id: Generated<number>;
    at: string;
    actor: string;
    action: string;
    prompt: string;
    from_version: string | null;
    to_version: string | null;
    reason: string;
    rollback_id: string | null;
    switch_key: string | null;
    detail: string;
  };
  deployments: {
    deployment_id: string;
    prompt: string;
    version: string;
    strategy: string;
    status: string;
    requested_by: string;
    from_version: string | null;
    created_at: string;
    updated_at: string;
    detail: Generated<string>;
  };
  rollbacks: {
    rollback_id: string;
    prompt: string;
    status: string;
    severity: string;
    open: number;
    created_at: string;
    updated_at: string;
    view: string;
    /** JSON of the RollbackInput that starts its workflow (null for rows written before it was kept). */
    input: string | null;
  };
  outbox: {
    id: Generated<number>;
    key: string;
    channel: string;
    kind: string;
    severity: string;
    prompt: string;
    rollback_id: string | null;
    title: string;
    message: string;
    payload: string;
    created_at: string;
    /** When the dispatcher planned its deliveries (null: not yet). */
    routed_at: string | null;
  };
  deliveries: {
    id: Generated<number>;
    /** Outbox key + '/' + channel. */
    delivery_key: string;
    outbox_id: number;
    outbox_key: string;
    channel: string;
    rollback_id: string | null;
    prompt: string;
    kind: string;
    severity: string;
    lifecycle: string | null;
    title: string;
    external_key: string | null;
    /** pending | retrying | sent | failed | skipped */
    status: string;
    attempts: Generated<number>;
    next_attempt_at: string | null;
    lease_owner: string | null;
    lease_until: string | null;
    last_http_status: number | null;
    last_reason: string | null;
    /** JSON array of DeliveryAttempt. */
    history: Generated<string>;
    created_at: string;
    updated_at: string;
    sent_at: string | null;
  };
  monitors: {
    prompt: string;
    workflow_id: string;
    status: string;
    interval_s: number;
    started_by: string;
    started_at: string;
    stopped_by: string | null;
    last_check_at: string | null;
    active_version: string | null;
    last_verdict: string | null;
    last_action: string | null;
    checks: number;
    updated_at: string;
  };
  metric_buckets: {
    prompt: string;
    version: string;
    /** Bucket start, epoch seconds. */
    bucket: number;
    requests: number;
    errors: number;
    quality_sum: number;
    quality_count: number;
    /**
     * The second's latency histogram, packed (adapters/metrics/packed-bins), appended to by each batch's upsert.
     * Null when the second's latency is in metric_latency (rows written before migration 0015).
     */
    latency_bins?: Buffer | null;
  };
  /**
   * The latency histogram of a metric bucket: `count` events fell in log-scale bin `bin` (domain/histogram). Written
   * before migration 0015 only: read and rolled up until none is left.
   */
  metric_latency: {
    prompt: string;
    version: string;
    bucket: number;
    bin: number;
    count: number;
  };
  /** 1-min roll-ups of metric_buckets (bucket = minute start, epoch seconds), kept for the 1-min retention. */
  metric_buckets_1m: {
    prompt: string;
    version: string;
    bucket: number;
    requests: number;
    errors: number;
    quality_sum: number;
    quality_count: number;
    /** JSON {bin: count}: the minute's latency histogram (domain/histogram). */
    latency_hist: string;
  };
}
