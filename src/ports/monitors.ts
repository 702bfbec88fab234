import type { Verdict } from '../domain/verdict';
import type { AuditEntry } from './registry';

export interface MonitorRecord {
  prompt: string;
  workflow_id: string;
  /** `pending`: wanted (a deploy) while the engine was unreachable; the reconciler starts it. */
  status: 'running' | 'stopped' | 'pending';
  interval_s: number;
  started_by: string;
  started_at: string;
  stopped_by: string | null;
  last_check_at: string | null;
  active_version: string | null;
  last_verdict: Verdict | null;
  /** What the last check did: none, alert, open_incident, signal_incident, suppressed. */
  last_action: string | null;
  checks: number;
  updated_at: string;
}

/** Monitor state as the API shows it, written by the monitor's activities at every check. */
export interface MonitorStore {
  upsert(m: Omit<MonitorRecord, 'last_check_at' | 'last_verdict' | 'last_action' | 'checks' | 'active_version'>): Promise<void>;
  /**
   * The row and its audit row in one transaction, only if the stored row's status is still `expected` (null: there is
   * no row): a change made from an earlier read never overwrites a newer one (an operator's stop). Says whether it wrote.
   */
  record(
    m: Omit<MonitorRecord, 'last_check_at' | 'last_verdict' | 'last_action' | 'checks' | 'active_version'>,
    audit: AuditEntry,
    expected: MonitorRecord['status'] | null,
  ): Promise<boolean>;
  recordCheck(prompt: string, check: { at: string; active_version: string | null; verdict: Verdict; action: string }): Promise<void>;
  get(prompt: string): Promise<MonitorRecord | undefined>;
  list(): Promise<MonitorRecord[]>;
}
