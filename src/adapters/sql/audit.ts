import type { Insertable, Kysely } from 'kysely';
import type { AuditRow } from '../../ports/registry';
import { json } from './db';
import type { Database } from './schema';

/** An audit row to write: a switch's carries its rollback and its key (each unique). */
export type AuditInput = Omit<AuditRow, 'id' | 'rollback_id' | 'detail'> & {
  rollback_id?: string | null;
  switch_key?: string | null;
  detail: unknown;
};

/** An audit row as stored. */
export function auditValues(row: AuditInput): Insertable<Database['audit_log']> {
  return {
    at: row.at,
    actor: row.actor,
    action: row.action,
    prompt: row.prompt,
    from_version: row.from_version,
    to_version: row.to_version,
    reason: row.reason,
    rollback_id: row.rollback_id ?? null,
    switch_key: row.switch_key ?? null,
    detail: json(row.detail),
  };
}

/**
 * Writes an audit row on `db`: a connection, or the transaction of the change it records, so that a store writing a
 * change and its audit row (the reconciler's) writes both or neither.
 */
export async function insertAudit(db: Kysely<Database>, row: AuditInput): Promise<void> {
  await db.insertInto('audit_log').values(auditValues(row)).execute();
}

/**
 * Runs a change; with `audit`, in one transaction with its audit row, written only if the change wrote a row (an upsert
 * whose condition refused it changes nothing, and so records nothing). Says whether the change wrote.
 */
export async function changeWithAudit(
  db: Kysely<Database>,
  change: (db: Kysely<Database>) => Promise<{ numInsertedOrUpdatedRows?: bigint }>,
  audit?: AuditInput,
): Promise<boolean> {
  const wrote = (r: { numInsertedOrUpdatedRows?: bigint }) => Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  if (!audit) return wrote(await change(db));
  return db.transaction().execute(async (tx) => {
    if (!wrote(await change(tx))) return false;
    await insertAudit(tx, audit);
    return true;
  });
}
