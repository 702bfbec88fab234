import { rollbackWorkflowId } from './names';
import type { Severity } from './severity';
import type { GradualPlan, StageProgress } from './stages';
import type { DefaultAction, RuleAction } from './policy';
import type { RollbackMode } from './modes';
import type { TimelineEntry } from './timeline';
import type { Verdict } from './verdict';
import type { VerificationPolicy, VerificationResult } from './verification';

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

export type { Severity, RollbackMode };

export interface Trigger {
  metric: string;
  threshold: number;
  observed: number | null;
  window_s: number;
  samples: number;
}

export type { TimelineEntry };

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
  /** The trigger-table rule of a monitor's incident (a reject cools down re-paging for this rule). */
  incident_rule?: string;
  mode: RollbackMode;
  status: RollbackStatus;
  requested_by: string;
  requested_at: string;
  decided_by?: string;
  deadline?: string;
  /** What happens at the deadline with no decision. */
  default_action?: string;
  /** Escalation tier reached (1 = the first page). */
  tier?: number;
  timeline: TimelineEntry[];
  verification?: { checks: Verdict[]; result: VerificationResult | 'pending' };
  /** Coordinated rollbacks: related prompts that rolled back with this one (all or none), and those that did not join. */
  group?: {
    members: { prompt: string; from_version: string; to_version: string; summary: string; switched: boolean }[];
    not_joining: { prompt: string; why: string }[];
  };
  /** Gradual rollbacks: the current stage and the next step. */
  gradual?: StageProgress;
  /** The decision that ended the wait: a person's approve/reject, or the deadline's default action. */
  decision?: DecisionRecord;
  /**
   * How a finished rollback ended, beyond its status: `completed` is `recovered` or `unverified` (the switch
   * happened, recovery could not be shown); `escalated` says why in `escalation`.
   */
  outcome?: RollbackOutcome;
  /** Why it escalated: `not_recovered`, `not_a_prompt_regression`, `switch_failed`, `group_failed`. */
  escalation?: EscalationReason;
  post_mortem?: Record<string, unknown>;
  updated_at: string;
}

export type RollbackOutcome =
  | 'recovered'
  | 'unverified'
  | 'not_recovered'
  | 'not_a_prompt_regression'
  | 'switch_failed'
  | 'group_failed'
  | 'rejected'
  | 'cleared'
  | 'aborted'
  | 'failed';
export type EscalationReason = 'not_recovered' | 'not_a_prompt_regression' | 'switch_failed' | 'group_failed';

/** Who decided, how, and when; `via` tells an authenticated API decision from a Temporal signal's unverified name. */
export interface DecisionRecord {
  kind: 'approve' | 'reject' | 'deadline';
  by: string;
  at: string;
  via: 'api' | 'slack' | 'temporal-signal' | 'system';
  comment?: string;
  /** For `deadline`: the deadline that passed and the default action taken. */
  deadline?: string;
  default_action?: string;
}

/** Statuses in which a person's approve/reject is awaited. */
export const DECIDABLE_STATUSES: readonly RollbackStatus[] = ['awaiting_approval', 'observing'];

const clockTime = (iso: string): string => iso.slice(11, 19);

/**
 * Why a decision cannot be taken now, in words a person can act on, or undefined when it can. Shared by the
 * workflow's update validators and the API (for a rollback whose workflow has already ended).
 */
export function decisionRefusal(view: RollbackView, nowMs: number): { message: string; fields: Record<string, unknown> } | undefined {
  const fields = {
    rollback_id: view.rollback_id,
    rollback_status: view.status,
    decided_by: view.decision?.by ?? view.decided_by ?? null,
    deadline: view.decision?.deadline ?? view.deadline ?? null,
  };
  const d = view.decision;
  if (d?.kind === 'deadline') {
    return {
      message: `deadline passed at ${clockTime(d.deadline ?? d.at)} UTC; the default action *${d.default_action ?? 'escalate'}* was taken (rollback ${view.rollback_id} is ${view.status})`,
      fields,
    };
  }
  if (d) {
    return {
      message: `already ${d.kind === 'approve' ? 'approved' : 'rejected'} by ${d.by} at ${d.at} (rollback ${view.rollback_id} is ${view.status})`,
      fields,
    };
  }
  if (!DECIDABLE_STATUSES.includes(view.status)) {
    return { message: `rollback ${view.rollback_id} is ${view.status}, not awaiting a decision`, fields };
  }
  // The deadline's own action is under way (it is taken in the same instant); a late click does not race it.
  if (view.deadline !== undefined && nowMs >= Date.parse(view.deadline) && view.default_action !== 'escalate and keep waiting') {
    return {
      message: `deadline passed at ${clockTime(view.deadline)} UTC; the default action *${view.default_action ?? 'roll back'}* is being taken`,
      fields,
    };
  }
  return undefined;
}

/** A short, sortable, URL-safe id: the `{id}` in `rollback/{prompt}/{id}`. */
export function formatRollbackId(at: Date, random: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${random}`;
}

/** Set when a monitor opened the rollback: the breach and what the trigger table says to do about it. */
/**
 * Whether a rollback marks its from-version rolled back from: only on that version's own evidence, an operator's
 * rollback (no incident) or a breach measured on it (an incident without a version predates the field).
 */
export const marksFromVersion = (incident: { version?: string } | undefined, from: string | null): boolean =>
  incident === undefined || incident.version === undefined || incident.version === from;

export interface Incident {
  verdict: Verdict;
  /** The version that breached (active when the incident opened). */
  version?: string;
  action: RuleAction;
  deadline_s: number;
  default_action: DefaultAction;
}

/** What starts a rollback workflow, from the API (an operator) or from a monitor (an incident). */
export interface RollbackInput {
  rollback_id: string;
  prompt: string;
  target_version?: string;
  reason: string;
  severity: Severity;
  mode: RollbackMode;
  trigger?: Trigger;
  requested_by: string;
  requested_at: string;
  verification: VerificationPolicy;
  incident?: Incident;
  /** Stages of a gradual rollback (mode `gradual`, and medium-severity incidents); defaults to the seed's. */
  gradual_plan?: GradualPlan;
}

export const triggerOf = (v: Verdict): Trigger => ({
  metric: v.metric,
  threshold: v.threshold,
  observed: v.observed,
  window_s: v.window_s,
  samples: v.samples,
});

/** The view a rollback has before its workflow's first step: what the store holds from the moment it is claimed. */
export function initialView(input: RollbackInput): RollbackView {
  return {
    rollback_id: input.rollback_id,
    workflow_id: rollbackWorkflowId(input.prompt, input.rollback_id),
    prompt: input.prompt,
    from_version: input.incident?.version ?? null,
    to_version: input.target_version ?? null,
    reason: input.reason,
    severity: input.severity,
    ...(input.trigger ? { trigger: input.trigger } : {}),
    ...(input.incident ? { incident_rule: input.incident.verdict.rule } : {}),
    mode: input.mode,
    status:
      input.incident && input.incident.action !== 'rollback'
        ? input.incident.action === 'observe'
          ? 'observing'
          : 'awaiting_approval'
        : 'rolling_back',
    ...(input.incident && input.incident.action !== 'rollback'
      ? {
          deadline: new Date(Date.parse(input.requested_at) + input.incident.deadline_s * 1000).toISOString(),
          default_action: defaultActionText(input.incident),
          tier: 1,
        }
      : {}),
    requested_by: input.requested_by,
    requested_at: input.requested_at,
    timeline: [],
    updated_at: input.requested_at,
  };
}

/** What happens at an incident's deadline with no decision, as people read it. */
export function defaultActionText(incident: Pick<Incident, 'action' | 'default_action'>): string {
  if (incident.action === 'observe') return 'roll back if still breached, else clear';
  return incident.default_action === 'rollback' ? 'roll back' : 'escalate and keep waiting';
}
