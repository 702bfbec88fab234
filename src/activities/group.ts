import { knownGoodTarget } from '../domain/known-good';
import type { Verdict } from '../domain/verdict';
import type { Clock } from '../ports/clock';
import type { MetricsSource } from '../ports/metrics';
import type { Registry, SwitchResult } from '../ports/registry';
import type { RollbackStore } from '../ports/rollbacks';
import { assessPrompt } from './assessment';

export interface GroupMember {
  prompt: string;
  from_version: string;
  to_version: string;
  verdict: Verdict;
}

export interface GroupPlan {
  members: GroupMember[];
  /** Related prompts that do not join, and why (healthy, own rollback open, no known-good version…). */
  not_joining: { prompt: string; why: string }[];
}

/** Coordinated rollbacks: a prompt's related prompts that are breached too roll back with it, all or none. */
export function createGroupActivities(deps: { registry: Registry; rollbacks: RollbackStore; metrics: MetricsSource; clock: Clock }) {
  return {
    /** Assesses the related prompts of `prompt`; the breached ones (medium or worse) become members. */
    async planGroup(input: { prompt: string }): Promise<GroupPlan> {
      const plan: GroupPlan = { members: [], not_joining: [] };
      const prompt = await deps.registry.getPrompt(input.prompt);
      for (const name of prompt?.related ?? []) {
        if (name === input.prompt) continue;
        const a = await assessPrompt(deps, name);
        const v = a.verdict;
        if (a.active_version === null) {
          plan.not_joining.push({ prompt: name, why: v.summary });
          continue;
        }
        if (v.kind !== 'breached' || v.severity === undefined || v.severity === 'low') {
          plan.not_joining.push({ prompt: name, why: v.summary });
          continue;
        }
        const open = await deps.rollbacks.openFor(name);
        if (open !== undefined) {
          plan.not_joining.push({ prompt: name, why: `breached, but rollback ${open} is already open for it` });
          continue;
        }
        const target = knownGoodTarget(await deps.registry.listVersions(name), a.active_version).target;
        if (!target) {
          plan.not_joining.push({ prompt: name, why: `breached (${v.summary}), but has no known-good version` });
          continue;
        }
        plan.members.push({ prompt: name, from_version: a.active_version, to_version: target, verdict: v });
      }
      return plan;
    },

    /** Compensation: puts a prompt back on the version it served before a group switch, once per key. */
    async revertSwitch(input: { prompt: string; to: string; key: string; reason: string }): Promise<SwitchResult> {
      return deps.registry.switchActive({
        prompt: input.prompt,
        to: input.to,
        action: 'compensate',
        key: input.key,
        actor: 'system',
        reason: input.reason,
      });
    },
  };
}
