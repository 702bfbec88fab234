import type { Kysely, Selectable } from 'kysely';
import type { Verdict } from '../../domain/verdict';
import type { MonitorRecord, MonitorStore } from '../../ports/monitors';
import type { AuditEntry } from '../../ports/registry';
import { changeWithAudit } from '../sql/audit';
import { json, parseJson } from '../sql/db';
import type { Database } from '../sql/schema';

const toRecord = (r: Selectable<Database['monitors']>): MonitorRecord => ({
  prompt: r.prompt,
  workflow_id: r.workflow_id,
  status: r.status === 'stopped' || r.status === 'pending' ? r.status : 'running',
  interval_s: Number(r.interval_s),
  started_by: r.started_by,
  started_at: r.started_at,
  stopped_by: r.stopped_by,
  last_check_at: r.last_check_at,
  active_version: r.active_version,
  last_verdict: parseJson<Verdict | null>(r.last_verdict, null),
  last_action: r.last_action,
  checks: Number(r.checks),
  updated_at: r.updated_at,
});

/** What an upsert changes in a stored row (its check counters and last verdict stay). */
const changed = (m: Omit<MonitorRecord, 'last_check_at' | 'last_verdict' | 'last_action' | 'checks' | 'active_version'>) => ({
  workflow_id: m.workflow_id,
  status: m.status,
  interval_s: m.interval_s,
  started_by: m.started_by,
  started_at: m.started_at,
  stopped_by: m.stopped_by,
  updated_at: m.updated_at,
});

export class SqlMonitorStore implements MonitorStore {
  constructor(private readonly db: Kysely<Database>) {}

  async upsert(m: Omit<MonitorRecord, 'last_check_at' | 'last_verdict' | 'last_action' | 'checks' | 'active_version'>): Promise<void> {
    await this.db
      .insertInto('monitors')
      .values({ ...m, checks: 0, last_check_at: null, last_verdict: null, last_action: null, active_version: null })
      .onConflict((oc) => oc.column('prompt').doUpdateSet(changed(m)))
      .execute();
  }

  async record(
    m: Omit<MonitorRecord, 'last_check_at' | 'last_verdict' | 'last_action' | 'checks' | 'active_version'>,
    audit: AuditEntry,
    expected: MonitorRecord['status'] | null,
  ): Promise<boolean> {
    const insert = (db: Kysely<Database>) =>
      db
        .insertInto('monitors')
        .values({ ...m, checks: 0, last_check_at: null, last_verdict: null, last_action: null, active_version: null });
    return changeWithAudit(
      this.db,
      (db) =>
        (expected === null
          ? insert(db).onConflict((oc) => oc.column('prompt').doNothing())
          : insert(db).onConflict((oc) => oc.column('prompt').doUpdateSet(changed(m)).where('monitors.status', '=', expected))
        ).executeTakeFirst(),
      audit,
    );
  }

  async recordCheck(prompt: string, check: { at: string; active_version: string | null; verdict: Verdict; action: string }): Promise<void> {
    await this.db
      .updateTable('monitors')
      .set((eb) => ({
        last_check_at: check.at,
        active_version: check.active_version,
        last_verdict: json(check.verdict),
        last_action: check.action,
        checks: eb('checks', '+', 1),
        updated_at: check.at,
      }))
      .where('prompt', '=', prompt)
      .execute();
  }

  async get(prompt: string): Promise<MonitorRecord | undefined> {
    const r = await this.db.selectFrom('monitors').selectAll().where('prompt', '=', prompt).executeTakeFirst();
    return r && toRecord(r);
  }

  async list(): Promise<MonitorRecord[]> {
    const rows = await this.db.selectFrom('monitors').selectAll().orderBy('prompt').execute();
    return rows.map(toRecord);
  }
}
