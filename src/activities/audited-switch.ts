import type { AuditRow, Registry } from '../ports/registry';

/** The switch a rollback made, as its audit row keeps it (one row per rollback id); undefined if it made none. */
export async function auditedSwitch(registry: Pick<Registry, 'audit'>, rollbackId: string): Promise<AuditRow | undefined> {
  return (await registry.audit({ rollback_id: rollbackId })).find((a) => a.action === 'rollback');
}
