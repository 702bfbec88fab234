import type { PromptMetrics } from '../domain/metrics-provider';
import type { TrafficShare } from '../domain/traffic';
import type { PromptNotify } from './notifier';

export interface PromptRecord {
  name: string;
  description: string;
  owner: string | null;
  related: string[];
  policy: Record<string, unknown>;
  /** Where its metrics are read from (default: promptback's own ingest). */
  metrics: PromptMetrics;
  /** Its own notification routing; null: the global routes. */
  notify: PromptNotify | null;
  active_version: string | null;
  created_at: string;
  updated_at: string;
}

export type VersionState = 'hot' | 'archived';

export interface VersionRecord {
  prompt: string;
  version: string;
  template: string;
  metadata: Record<string, unknown>;
  created_at: string;
  deployed_at: string | null;
  state: VersionState;
  /** Passed its baseline test (true), failed it (false), or never tested (null). */
  known_good: boolean | null;
  /** A rollback moved traffic away from this version at least once. */
  rolled_back_from: boolean;
}

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  prompt: string;
  from_version: string | null;
  to_version: string | null;
  reason: string;
  /** Unique: one audit row per rollback, whatever the retries. */
  rollback_id: string | null;
  detail: Record<string, unknown>;
}

/** An attributable change to record (who, when, why): an audit row before the store numbers it. */
export type AuditEntry = Omit<AuditRow, 'id' | 'rollback_id'>;

export interface PromptInput {
  name: string;
  description?: string;
  owner?: string | null;
  related?: string[];
  policy?: Record<string, unknown>;
  metrics?: PromptMetrics;
  /** null clears the override (back to the global routes). */
  notify?: PromptNotify | null;
}

export interface VersionRef {
  prompt: string;
  version: string;
}

export interface VersionInput {
  prompt: string;
  version: string;
  template: string;
  metadata?: Record<string, unknown>;
}

export interface SwitchRequest {
  prompt: string;
  to: string;
  /** 'deploy', 'rollback', or 'compensate' (undoing a group switch that could not complete). */
  action: 'deploy' | 'rollback' | 'compensate';
  /** Idempotency key: the rollback id or the deployment id. A second call with it changes nothing. */
  key: string;
  actor: string;
  reason: string;
  detail?: Record<string, unknown>;
  /**
   * Rollbacks: whether the version switched away from is marked rolled back from (never a target again).
   * Only on its own evidence: an operator's rollback, or an incident whose breach was measured on it. Absent → true.
   */
  mark_from_rolled_back?: boolean;
  /**
   * Deploys only (`action: 'deploy'`; ignored otherwise): an immediate deploy's record, written in the switch's
   * transaction with the switch's from_version and time as its own, so that a deploy is switched and recorded, or
   * neither.
   */
  record?: Omit<Deployment, 'from_version' | 'updated_at'>;
}

/** A staged traffic split to set, once per `key` (audited with `action`, e.g. `traffic`, `canary`). */
export interface TrafficRequest {
  prompt: string;
  split: TrafficShare[];
  key: string;
  actor: string;
  reason: string;
  action: string;
  /**
   * A canary stage: the deployment it belongs to (for action `canary` defaults to the key's first segment). Refused
   * with DeploymentAborted once that deployment was aborted (e.g. by a rollback).
   */
  deployment_id?: string;
}

export interface SwitchResult {
  /** False when this key had already switched (a retry): nothing changed this time. */
  switched: boolean;
  from: string | null;
  to: string;
  at: string;
}

export interface Deployment {
  deployment_id: string;
  prompt: string;
  version: string;
  strategy: 'immediate' | 'canary';
  status: string;
  requested_by: string;
  created_at: string;
  updated_at: string;
  from_version: string | null;
  /** Stage history and the reason for the outcome (canary rollouts). */
  detail?: Record<string, unknown>;
}

/** Prompts, versions, the active version and traffic split, and the audit log. */
export interface Registry {
  upsertPrompt(input: PromptInput, actor: string): Promise<{ created: boolean; prompt: PromptRecord }>;
  getPrompt(name: string): Promise<PromptRecord | undefined>;
  listPrompts(): Promise<PromptRecord[]>;

  /** Throws DomainError UnknownPrompt / VersionExists. */
  addVersion(input: VersionInput, actor: string): Promise<VersionRecord>;
  getVersion(prompt: string, version: string): Promise<VersionRecord | undefined>;
  /** Which of these prompt/version pairs do not exist, and whether their prompt does; in one round trip. */
  missingVersions(pairs: readonly VersionRef[]): Promise<(VersionRef & { prompt_exists: boolean })[]>;
  /** Oldest first. */
  listVersions(prompt: string): Promise<VersionRecord[]>;

  getTraffic(prompt: string): Promise<TrafficShare[]>;
  /**
   * Moves all traffic to `to`, records the audit row and, for a rollback, marks the version left as rolled
   * back from — in one transaction, once per `key`. Throws UnknownPrompt / UnknownVersion. A deploy is refused
   * in the same transaction while another change is in flight: ChangeInFlight naming the open rollback or the
   * rolling-out canary; the promotion of a canary whose deployment was aborted is DeploymentAborted.
   */
  switchActive(req: SwitchRequest): Promise<SwitchResult>;

  /**
   * Records a canary deployment as `rolling_out`, unless another change is in flight for the prompt (an open
   * rollback or another rolling-out canary): ChangeInFlight naming it. Checked and written in one transaction.
   */
  beginDeployment(d: Deployment): Promise<void>;

  /**
   * Sets a staged traffic split (gradual rollback, canary), audited, once per `key`. The active version changes
   * only when one version gets 100 %. Throws UnknownPrompt / UnknownVersion / InvalidRequest (shares ≠ 100 %).
   */
  setTraffic(req: TrafficRequest): Promise<{ changed: boolean }>;

  /** Archives (state `archived`, still restorable) and purges (deletes) versions, audited. */
  applyRetention(prompt: string, plan: { archive: string[]; purge: string[] }, actor: string): Promise<void>;

  /** Records a version's baseline-test result (audited). */
  setKnownGood(prompt: string, version: string, knownGood: boolean, actor: string, reason: string): Promise<void>;

  /**
   * Upserts a deployment; a deployment that ended (completed, aborted, failed) keeps its status. With `audit`, the
   * change is written only to a deployment that has not ended (or a new one), with the audit row in the same
   * transaction; else neither.
   */
  recordDeployment(d: Deployment, audit?: AuditEntry): Promise<void>;
  getDeployment(id: string): Promise<Deployment | undefined>;
  /** Canary deployments still rolling out, oldest first. */
  rollingOut(): Promise<Deployment[]>;

  audit(filter: { prompt?: string; rollback_id?: string }): Promise<AuditRow[]>;
  /**
   * Any other attributable change (who, when, why). With `key`, once: a row already written with that key (by a
   * retry, or a second process doing the same) is not written again, and that is not an error.
   */
  appendAudit(row: AuditEntry, opts?: { key?: string }): Promise<void>;
}
