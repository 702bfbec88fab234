import type { Kysely } from 'kysely';
import type { RollbackView } from '../../domain/rollback';
import { switchCommittedAt } from '../../domain/timeline';
import type { VerdictKind } from '../../domain/verdict';
import { parseJson } from '../sql/db';
import type { Database } from '../sql/schema';

/** When a rollback moved traffic, measured from what asked for it. */
export interface SwitchTiming {
  rollback_id: string;
  severity: string;
  /** `incident`: a monitor detected a breach; `operator`: someone asked (API, CLI, runbook curl). */
  trigger: 'incident' | 'operator';
  requested_at: string;
  /** The breach's detection (incidents only). */
  detected_at: string | null;
  switched_at: string;
}

/** Running monitors with the kind of their last verdict (`none`: no check yet). */
export interface MonitorSummary {
  verdict: VerdictKind | 'none';
  last_check_at: string | null;
  started_at: string;
}

export interface PendingApproval {
  rollback_id: string;
  /** When the wait for a decision started. */
  since: string;
  deadline: string | null;
}

/** What promptback's own /metrics reads from the store at scrape time, so every process shows the same truth. */
export class SqlTelemetryReader {
  constructor(private readonly db: Kysely<Database>) {}

  async rollbackCounts(): Promise<{ status: string; severity: string; count: number }[]> {
    const rows = await this.db
      .selectFrom('rollbacks')
      .select(['status', 'severity', (eb) => eb.fn.countAll().as('count')])
      .groupBy(['status', 'severity'])
      .execute();
    return rows.map((r) => ({ status: r.status, severity: r.severity, count: Number(r.count) }));
  }

  async pendingApprovals(): Promise<PendingApproval[]> {
    const rows = await this.db.selectFrom('rollbacks').select(['rollback_id', 'view']).where('status', '=', 'awaiting_approval').execute();
    return rows.map((r) => {
      const v = parseJson<Partial<RollbackView>>(r.view, {});
      const waiting = v.timeline?.find((e) => e.event === 'awaiting_approval')?.at;
      return { rollback_id: r.rollback_id, since: waiting ?? v.requested_at ?? '', deadline: v.deadline ?? null };
    });
  }

  async runningMonitors(): Promise<MonitorSummary[]> {
    const rows = await this.db
      .selectFrom('monitors')
      .select(['last_verdict', 'last_check_at', 'started_at'])
      .where('status', '=', 'running')
      .execute();
    return rows.map((r) => ({
      verdict: parseJson<{ kind?: VerdictKind } | null>(r.last_verdict, null)?.kind ?? 'none',
      last_check_at: r.last_check_at,
      started_at: r.started_at,
    }));
  }

  /** Ids of rollbacks whose switch the audit log holds (the audit row is written in the switch's transaction). */
  async switchedRollbackIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('audit_log')
      .select('rollback_id')
      .distinct()
      .where('action', '=', 'rollback')
      .where('rollback_id', 'is not', null)
      .execute();
    return rows.map((r) => r.rollback_id!);
  }

  /**
   * Switch timings of the given rollbacks: the first audit row of the switch (the moment traffic moved), else the
   * `switched` timeline entry. Ids that are not rollbacks (a group member's switch key) are left out.
   */
  async switchTimings(ids: readonly string[]): Promise<SwitchTiming[]> {
    const out: SwitchTiming[] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      const views = await this.db.selectFrom('rollbacks').select(['rollback_id', 'view']).where('rollback_id', 'in', chunk).execute();
      if (views.length === 0) continue;
      const audit = await this.db
        .selectFrom('audit_log')
        .select(['rollback_id', (eb) => eb.fn.min('at').as('at')])
        .where('action', '=', 'rollback')
        .where(
          'rollback_id',
          'in',
          views.map((v) => v.rollback_id),
        )
        .groupBy('rollback_id')
        .execute();
      const auditAt = new Map(audit.map((a) => [a.rollback_id, String(a.at)]));
      for (const r of views) {
        const v = parseJson<RollbackView>(r.view, undefined as unknown as RollbackView);
        const switched = auditAt.get(r.rollback_id) ?? switchCommittedAt(v.timeline);
        if (switched === undefined) continue;
        // A monitor's incident is requested the moment it detects the breach; the `detected` entry follows it.
        const detection = v.timeline.find((e) => e.event === 'detected');
        const detected = detection?.at;
        const incident = detected !== undefined || v.incident_rule !== undefined;
        // The severity the breach was judged at (a failed verification later raises the rollback's own to critical).
        const judged = detection?.detail.severity;
        out.push({
          rollback_id: r.rollback_id,
          severity: typeof judged === 'string' ? judged : v.severity,
          trigger: incident ? 'incident' : 'operator',
          requested_at: v.requested_at,
          detected_at: incident ? [v.requested_at, detected].filter((x): x is string => x !== undefined).sort()[0]! : null,
          switched_at: switched,
        });
      }
    }
    return out;
  }
}
