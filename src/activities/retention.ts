import { retentionPlan, type RetentionPolicy } from '../domain/retention';
import type { Clock } from '../ports/clock';
import type { Registry } from '../ports/registry';
import type { RollbackStore } from '../ports/rollbacks';

export interface RetentionSummary {
  prompts: number;
  archived: { prompt: string; version: string }[];
  purged: { prompt: string; version: string; age_days: number }[];
  kept: { prompt: string; version: string; why: string }[];
}

/** One retention pass over every prompt: archive beyond the hot set, purge the old and unreferenced. */
export function createRetentionActivities(deps: { registry: Registry; rollbacks: RollbackStore; clock: Clock }) {
  return {
    async retentionPass(policy: RetentionPolicy): Promise<RetentionSummary> {
      const now = deps.clock.now();
      const summary: RetentionSummary = { prompts: 0, archived: [], purged: [], kept: [] };
      for (const prompt of await deps.registry.listPrompts()) {
        summary.prompts += 1;
        const [versions, traffic, audit] = await Promise.all([
          deps.registry.listVersions(prompt.name),
          deps.registry.getTraffic(prompt.name),
          deps.registry.audit({ prompt: prompt.name }),
        ]);
        const serving = new Set([...traffic.map((t) => t.version), ...(prompt.active_version ? [prompt.active_version] : [])]);
        const referenced = new Map<string, string>();
        const openId = await deps.rollbacks.openFor(prompt.name);
        if (openId) {
          const open = await deps.rollbacks.get(openId);
          for (const v of [open?.from_version, open?.to_version]) if (v) referenced.set(v, `open incident ${openId}`);
        }
        const auditFrom = now.getTime() - policy.audit_period_s * 1000;
        for (const row of audit) {
          if (Date.parse(row.at) < auditFrom || row.action === 'retention') continue;
          for (const v of [row.from_version, row.to_version]) {
            if (v && !referenced.has(v)) referenced.set(v, `audit row ${row.id} (${row.action}, ${row.at}) is within the audit period`);
          }
        }
        const plan = retentionPlan(versions, referenced, serving, policy, now);
        await deps.registry.applyRetention(prompt.name, { archive: plan.archive, purge: plan.purge.map((p) => p.version) }, 'retention');
        summary.archived.push(...plan.archive.map((version) => ({ prompt: prompt.name, version })));
        summary.purged.push(...plan.purge.map((p) => ({ prompt: prompt.name, ...p })));
        summary.kept.push(...plan.kept.map((k) => ({ prompt: prompt.name, ...k })));
      }
      return summary;
    },
  };
}
