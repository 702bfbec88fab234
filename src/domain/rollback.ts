import type { Verdict } from './verdict';
import type { VerificationResult } from './verification';

export const ROLLBACK_STATUSES = [
  'observing',
  'awaiting_approval',
  'rolling_back',
  'paused',
  'verifying',
  'completed',
  'escalated',
  'rejected',
  'failed',
  'cleared',
] as const;
export type RollbackStatus = (typeof ROLLBACK_STATUSES)[number];

/** Statuses after which a rollback no longer blocks a new one for the same prompt. */
export const TERMINAL_STATUSES: readonly RollbackStatus[] = ['completed', 'escalated', 'rejected', 'failed', 'cleared'];
export const isTerminal = (s: RollbackStatus): boolean => TERMINAL_STATUSES.includes(s);

export type Severity = 'critical' | 'high' | 'medium' | 'low';
export type RollbackMode = 'immediate' | 'gradual';

export interface Trigger {
  metric: string;
  threshold: number;
  observed: number | null;
  window_s: number;
  samples: number;
}

export interface TimelineEntry {
  at: string;
  event: string;
  detail: Record<string, unknown>;
}

/** What `GET /api/rollbacks/{id}` and the workflow's `state` query show. */
export interface RollbackView {
  rollback_id: string;
  workflow_id: string;
  prompt: string;
  from_version: string | null;
  to_version: string | null;
  reason: string;
  severity: Severity;
  trigger?: Trigger;
  mode: RollbackMode;
  status: RollbackStatus;
  requested_by: string;
  requested_at: string;
  decided_by?: string;
  deadline?: string;
  timeline: TimelineEntry[];
  verification?: { checks: Verdict[]; result: VerificationResult | 'pending' };
  post_mortem?: Record<string, unknown>;
  updated_at: string;
}

/** A short, sortable, URL-safe id: the `{id}` in `rollback/{prompt}/{id}`. */
export function formatRollbackId(at: Date, random: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${random}`;
}
