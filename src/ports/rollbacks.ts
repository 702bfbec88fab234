import type { RollbackInput, RollbackStatus, RollbackView } from '../domain/rollback';
import type { AuditEntry } from './registry';

export type ClaimResult = { ok: true } | { ok: false; open_rollback_id: string };

/** Durable record of every rollback, written by the workflow at each step, read by the API. */
export interface RollbackStore {
  /** Records a new open rollback unless the prompt already has one open (then names that one). */
  claim(view: RollbackView, input?: RollbackInput): Promise<ClaimResult>;
  /** The input its workflow starts (or started) with, as given to claim(). */
  startInput(id: string): Promise<RollbackInput | undefined>;
  /**
   * Upserts the latest state; a terminal status releases the prompt for the next rollback. With `audit`, the audit
   * row is written in the same transaction, and only if the state was (a retried, older write changes nothing).
   */
  save(view: RollbackView, audit?: AuditEntry): Promise<void>;
  get(id: string): Promise<RollbackView | undefined>;
  /** The prompt's rollback whose id ends with `-{suffix}` (a monitor check's own part of the ids it claims). */
  getBySuffix(prompt: string, suffix: string): Promise<RollbackView | undefined>;
  list(filter: { prompt?: string; status?: RollbackStatus; limit?: number }): Promise<RollbackView[]>;
  openFor(prompt: string): Promise<string | undefined>;
  /** Every open (non-terminal) rollback, oldest first. */
  listOpen(): Promise<RollbackView[]>;
}
