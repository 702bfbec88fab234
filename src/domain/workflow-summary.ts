/**
 * What the Temporal Web UI shows of each promptback workflow before anyone opens it: a one-line summary (the
 * list and the workflow page) and static details (Temporal markdown on the workflow page) saying which prompt,
 * which versions, how severe, what decides and what verifies. The changing state is in the search attributes
 * (RollbackState, RollbackSeverity) and the workflow's current details.
 */
import type { RollbackInput, RollbackView } from './rollback';
import type { CanaryPlan, GradualPlan, StageProgress } from './stages';
import type { Verdict } from './verdict';

const pct = (x: number): string => `${Math.round(x * 10_000) / 100} %`;

/** `customer-support: high incident, v2.0.0 → last known-good — Error rate 3.00 % …` (one line). */
export function rollbackSummary(input: RollbackInput): string {
  const to = input.target_version ?? 'last known-good';
  const from = input.incident?.version ? `${input.incident.version} → ${to}` : `→ ${to}`;
  const what = input.incident ? `${input.severity} incident` : `${input.mode} rollback by ${input.requested_by}`;
  return oneLine(`${input.prompt}: ${what}, ${from} — ${input.reason}`);
}

export function rollbackDetails(input: RollbackInput): string {
  const v = input.verification;
  const lines = [
    `**Prompt** ${input.prompt}`,
    `**Versions** ${input.incident?.version ?? 'active version'} → ${input.target_version ?? 'last known-good version'}`,
    `**Severity** ${input.severity}${input.incident ? ` (rule ${input.incident.verdict.rule})` : ''}`,
    `**Reason** ${input.reason}`,
    `**Requested** by ${input.requested_by} at ${input.requested_at}, mode ${input.mode}`,
  ];
  if (input.trigger) {
    const t = input.trigger;
    lines.push(
      `**Trigger** ${t.metric} ${t.observed === null ? 'n/a' : t.observed} vs threshold ${t.threshold} over ${t.samples} requests (${t.window_s} s window)`,
    );
  }
  if (input.incident) {
    const i = input.incident;
    lines.push(
      i.action === 'rollback'
        ? '**Decision** automatic rollback (re-confirmed right before the switch)'
        : `**Decision** ${i.action === 'observe' ? 'observe' : 'on-call decides'} within ${Math.round(i.deadline_s / 60)} min, then ${i.default_action === 'rollback' ? 'roll back' : 'escalate and keep waiting'}`,
    );
  }
  lines.push(`**Verification** a check every ${v.interval_s} s for ${v.duration_s} s; recovered below ${pct(v.max_error_rate)} errors`);
  lines.push(`**API** GET /api/rollbacks/${input.rollback_id} · query \`state\` for the live view`);
  return lines.join('\n\n');
}

export interface GradualSummaryInput {
  prompt: string;
  from_version: string;
  to_version: string;
  plan: GradualPlan;
  reason: string;
}

export function gradualSummary(g: GradualSummaryInput): string {
  return oneLine(
    `${g.prompt}: gradual rollback ${g.from_version} → ${g.to_version}, ${g.plan.stages.map((s) => s.percent_on_bad).join(' / ')} % left on ${g.from_version}`,
  );
}

export function gradualDetails(g: GradualSummaryInput): string {
  return [
    `**Prompt** ${g.prompt}`,
    `**Versions** ${g.from_version} → ${g.to_version}`,
    `**Stages** ${g.plan.stages.map((s) => `${s.percent_on_bad} % for ${s.duration_s} s`).join(', ')}`,
    `**Checks** every ${g.plan.check_interval_s} s; the target above ${pct(g.plan.max_error_rate)} errors pauses and pages`,
    `**Reason** ${g.reason}`,
  ].join('\n\n');
}

export function canarySummary(c: { prompt: string; version: string; from_version: string; plan: CanaryPlan }): string {
  return oneLine(`${c.prompt}: canary ${c.from_version} → ${c.version}, ${c.plan.stages.join(' → ')} %`);
}

export function canaryDetails(c: { prompt: string; version: string; from_version: string; plan: CanaryPlan; actor: string }): string {
  return [
    `**Prompt** ${c.prompt}`,
    `**Versions** ${c.from_version} keeps the rest; ${c.version} gets ${c.plan.stages.join(' → ')} %`,
    `**Each stage** bakes ${c.plan.bake_s} s, then is judged against ${c.from_version} (trigger table + error-rate test, p < ${c.plan.alpha}); at least ${c.plan.min_samples} requests`,
    `**Requested by** ${c.actor}`,
  ].join('\n\n');
}

export const monitorSummary = (prompt: string, interval_s: number): string => `${prompt}: monitor, a check every ${interval_s} s`;

export const monitorDetails = (prompt: string, interval_s: number, by: string): string =>
  [
    `**Prompt** ${prompt}`,
    `**Checks** the active version every ${interval_s} s by the trigger table, and at once when ingest sees a critical error rate`,
    `**Incidents** a breach starts \`rollback/${prompt}/{id}\`; a worse one is signalled to it`,
    `**Started by** ${by}`,
  ].join('\n\n');

/** A rollback now, as a few lines of Temporal markdown (the workflow's current details). */
export function rollbackCurrentDetails(v: RollbackView): string {
  const lines = [`**${v.status}** · severity ${v.severity} · ${v.prompt}: ${v.from_version ?? '?'} → ${v.to_version ?? '?'}`];
  if (v.deadline) lines.push(`decision deadline ${v.deadline} (tier ${v.tier ?? 1}; then ${v.default_action ?? 'escalate'})`);
  if (v.decided_by) lines.push(`decided by ${v.decided_by}`);
  if (v.gradual)
    lines.push(`stage ${v.gradual.stage + 1}/${v.gradual.of}: ${v.gradual.percent} % on ${v.from_version ?? '?'} — ${v.gradual.next_step}`);
  if (v.group)
    lines.push(
      `group: ${v.group.members.map((m) => `${m.prompt} ${m.from_version} → ${m.to_version}${m.switched ? ' (switched)' : ''}`).join(', ')}`,
    );
  const checks = v.verification?.checks ?? [];
  if (v.verification) {
    const last = checks[checks.length - 1];
    lines.push(`verification ${v.verification.result}: ${checks.length} check(s)${last ? `, last: ${last.summary}` : ''}`);
  }
  if (v.outcome) lines.push(`outcome: ${v.outcome}`);
  lines.push(`reason: ${v.reason}`);
  return lines.join('\n\n');
}

/** A staged move now (gradual rollback, canary): stage, share, what comes next. */
export function progressCurrentDetails(p: StageProgress, version: string): string {
  const lines = [`**stage ${p.stage + 1}/${p.of}** · ${p.percent} % on ${version}${p.paused ? ' · **paused**' : ''}`, p.next_step];
  if (p.paused_reason) lines.push(`paused: ${p.paused_reason}`);
  if (p.next_at) lines.push(`next at ${p.next_at}`);
  const last = p.checks[p.checks.length - 1];
  if (last) lines.push(`last check: ${last.errors}/${last.requests} errors on ${last.version ?? 'both versions'}`);
  return lines.join('\n\n');
}

/** A monitor now: the last verdict with its numbers and what it did. */
export function monitorCurrentDetails(s: {
  checks: number;
  active_version?: string | null;
  last_verdict?: Verdict;
  last_action?: string;
}): string {
  const v = s.last_verdict;
  return [
    `**${v?.kind ?? 'not checked yet'}** · active ${s.active_version ?? '?'} · ${s.checks} check(s) by this run`,
    ...(v ? [v.summary] : []),
    ...(s.last_action ? [`last action: ${s.last_action}`] : []),
  ].join('\n\n');
}

/** Temporal shows a summary on one line. */
const oneLine = (s: string): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
};
