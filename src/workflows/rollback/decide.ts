import { ApplicationFailure, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { SEVERITY_RANK } from '../../domain/policy';
import { DECIDABLE_STATUSES, decisionRefusal, defaultActionText, triggerOf, type Incident } from '../../domain/rollback';
import { approveSignal, approveUpdate, DECISION_REFUSED, rejectSignal, rejectUpdate, type DecisionPayload } from '../messages';
import type { RollbackRun } from './context';

const { assessNow } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
});

/** How the decision phase of an incident ended. */
export type DecideOutcome =
  { kind: 'switch'; automatic: boolean; gradual?: boolean } | { kind: 'rejected' } | { kind: 'cleared'; why: string };

interface Pending {
  kind: 'approve' | 'reject';
  by: string;
  comment?: string;
  via: 'api' | 'slack' | 'temporal-signal';
}

/** Refuses a decision the workflow cannot take now, saying why (the API's 409). */
export function refuse(message: string, fields: Record<string, unknown>): never {
  throw ApplicationFailure.create({ type: DECISION_REFUSED, message, details: [fields], nonRetryable: true });
}

/**
 * Approve / reject, as Updates (the API: validated, answered with the state once acted on) and as signals
 * (Web UI, `temporal workflow signal`: unverified names, a late one recorded as ignored).
 */
export class DecisionDesk {
  /** A person may decide from the moment the incident is visible (the API shows it once it is claimed). */
  deciding: boolean;
  pending: Pending | undefined;

  constructor(private readonly run: RollbackRun) {
    const incident = run.input.incident;
    this.deciding = incident !== undefined && incident.action !== 'rollback';
    const onSignal = (kind: 'approve' | 'reject') => (p: DecisionPayload) => {
      if (this.deciding && this.pending === undefined)
        this.pending = { kind, by: p?.by || 'unknown', ...comment(p), via: 'temporal-signal' };
      else run.event('decision_ignored', { decision: kind, by: p?.by, via: 'temporal-signal', status: run.view.status });
    };
    setHandler(approveSignal, onSignal('approve'));
    setHandler(rejectSignal, onSignal('reject'));
    const validator = (p: DecisionPayload): void => {
      const refusal = decisionRefusal(run.view, Date.now());
      if (refusal) refuse(refusal.message, refusal.fields);
      if (!this.deciding || this.pending !== undefined) {
        refuse(`rollback ${run.view.rollback_id} is ${run.view.status}, not awaiting a decision`, { rollback_status: run.view.status });
      }
      if (typeof p?.by !== 'string' || p.by === '') refuse('a decision needs the deciding actor in `by`', {});
    };
    const onUpdate = (kind: 'approve' | 'reject') => async (p: DecisionPayload) => {
      this.pending = { kind, by: p.by, ...comment(p), via: p.via === 'slack' ? 'slack' : 'api' };
      // Answered once the workflow acted on it and the store shows it: approve → rolling back (or later), reject → rejected.
      await condition(() => !DECIDABLE_STATUSES.includes(run.persistedStatus));
      return run.view;
    };
    setHandler(approveUpdate, onUpdate('approve'), { validator });
    setHandler(rejectUpdate, onUpdate('reject'), { validator });
  }
}

const comment = (p: DecisionPayload | undefined): { comment?: string } => (p?.comment ? { comment: p.comment } : {});

/**
 * The trigger table's decision for a monitor's incident: critical rolls back at once; high pages on-call and
 * waits for approve/reject until the deadline (then escalates a tier and applies the rule's default action);
 * medium observes for the period, then rolls back if still breached or clears. A worse breach while waiting
 * rewrites the incident (reason, severity, trigger) and acts at once.
 */
export async function decide(run: RollbackRun, desk: DecisionDesk, incident: Incident): Promise<DecideOutcome> {
  const { view, input } = run;
  let { action, deadline_s, default_action } = incident;
  let verdict = incident.verdict;
  view.tier = 1;
  // Saved with the next step: awaiting approval / observing, or the automatic rollback once re-confirmed.
  await run.enter(view.status, 'detected', { ...verdict }, { then: 'next_step' });
  // The first deadline counts from detection (as the API already shows it); a worse breach or a new tier from then.
  let deadlineFrom = Date.parse(input.requested_at);
  let announce = true;
  for (;;) {
    if (action === 'rollback') {
      desk.deciding = false;
      return { kind: 'switch', automatic: true };
    }
    const observing = action === 'observe';
    desk.deciding = true;
    const deadlineMs = deadlineFrom + deadline_s * 1000;
    const deadline = new Date(deadlineMs).toISOString();
    if (announce) {
      announce = false;
      view.deadline = deadline;
      view.default_action = defaultActionText({ action, default_action });
      await run.enter(observing ? 'observing' : 'awaiting_approval', observing ? 'observing' : 'awaiting_approval', {
        deadline,
        tier: view.tier,
        default_action: view.default_action,
        verdict: verdict.summary,
      });
      const how = `Approve: POST /api/rollbacks/${input.rollback_id}/approve, or signal "approve" to ${view.workflow_id}. Reject ("investigate"): …/reject.`;
      run.send(
        action === 'page' || (view.tier ?? 1) > 1 ? 'page' : 'alert',
        view.severity,
        observing
          ? `Observing ${input.prompt}: ${verdict.summary}`
          : `${(view.tier ?? 1) > 1 ? `ESCALATION tier ${view.tier}: ` : ''}${action === 'recommend' ? 'Rollback recommended' : 'Decision needed'} for ${input.prompt}`,
        observing
          ? `${verdict.summary}. Watching until ${deadline}; still breached then → rollback.`
          : `${verdict.summary}. Decide by ${deadline}; then: ${view.default_action}. ${how}`,
        { verdict, deadline, tier: view.tier },
      );
    }

    await condition(() => desk.pending !== undefined || run.worse !== undefined, Math.max(1, deadlineMs - Date.now()), {
      summary: observing ? `observation ends (tier ${view.tier ?? 1})` : `decision deadline (tier ${view.tier ?? 1})`,
    });
    if (desk.pending !== undefined) {
      const d = desk.pending;
      desk.deciding = false;
      view.decided_by = d.by;
      view.decision = { kind: d.kind, by: d.by, at: new Date().toISOString(), via: d.via, ...(d.comment ? { comment: d.comment } : {}) };
      run.event(d.kind === 'approve' ? 'approved' : 'rejected', { by: d.by, comment: d.comment ?? null, via: d.via });
      return d.kind === 'approve' ? { kind: 'switch', automatic: false } : { kind: 'rejected' };
    }
    if (run.worse !== undefined) {
      const w = run.worse;
      run.worse = undefined;
      if (w.severity === undefined || SEVERITY_RANK[w.severity] <= SEVERITY_RANK[view.severity]) {
        // Not worse: noted, and the same deadline still stands (no new page).
        run.event('breach_update', { ...w });
        continue;
      }
      // The incident is now the worse breach: what the page, the list and the post-mortem say.
      run.event('worsened', { from: view.severity, from_reason: view.reason, ...w });
      view.severity = w.severity;
      view.reason = w.summary;
      view.trigger = triggerOf(w);
      view.incident_rule = w.rule;
      verdict = w;
      run.verdict = w;
      action = (w.action as Incident['action']) ?? 'page';
      deadline_s = w.deadline_s ?? deadline_s;
      default_action = w.default_action ?? default_action;
      view.tier = 1;
      deadlineFrom = Date.now();
      announce = true;
      continue;
    }
    // The deadline passed with no decision.
    desk.deciding = false;
    if (observing) {
      const now = await assessNow({ prompt: input.prompt });
      run.event('observation_ended', { ...now });
      // A minor regression that persisted: roll back gently (versioned: incidents before this change switched at once).
      if (now.kind === 'breached' && now.severity !== 'low') {
        view.decision = {
          kind: 'deadline',
          by: 'system (observation ended)',
          at: new Date().toISOString(),
          via: 'system',
          deadline,
          default_action: view.default_action ?? 'roll back',
        };
        return { kind: 'switch', automatic: true, gradual: patched('medium-observe-gradual') };
      }
      if (now.kind === 'healthy') return { kind: 'cleared', why: now.summary };
      desk.deciding = true;
      view.tier = (view.tier ?? 1) + 1;
      deadlineFrom = Date.now();
      announce = true;
      continue;
    }
    view.tier = (view.tier ?? 1) + 1;
    run.event('deadline_passed', { tier: view.tier, default_action });
    if (default_action === 'rollback') {
      view.decided_by = 'system (decision deadline)';
      view.decision = {
        kind: 'deadline',
        by: view.decided_by,
        at: new Date().toISOString(),
        via: 'system',
        deadline,
        default_action: 'roll back',
      };
      run.send(
        'page',
        view.severity,
        `ESCALATION tier ${view.tier}: ${input.prompt} rolling back`,
        `No decision by ${deadline}: applying the default action (roll back).`,
        { verdict },
      );
      return { kind: 'switch', automatic: true };
    }
    desk.deciding = true;
    deadlineFrom = Date.now();
    announce = true;
  }
}
