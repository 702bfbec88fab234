import { ApplicationFailure, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { SEVERITY_RANK } from '../../domain/policy';
import { DECIDABLE_STATUSES, decisionRefusal, defaultActionText, triggerOf, type Incident } from '../../domain/rollback';
import type { Verdict } from '../../domain/verdict';
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

/** Re-checks of a breach that could not be read before on-call is asked instead, and the wait between them. */
export const BLIND_RECHECKS = 3;
const RECHECK_INTERVAL_S = 60;

/**
 * The trigger table's decision for a monitor's incident: critical rolls back at once; high pages on-call and
 * waits for approve/reject until the deadline (then escalates a tier and applies the rule's default action);
 * medium observes for the period, then rolls back if still breached or clears. A worse breach while waiting
 * rewrites the incident (reason, severity, trigger) and acts at once.
 */
export class IncidentDecision {
  private action: Incident['action'];
  private deadline_s: number;
  private default_action: Incident['default_action'];
  private verdict: Verdict;
  private deadlineFrom = 0;
  private announce = true;
  /** Set while on-call is asked because the breach could not be re-checked (metrics unreadable): why, and how the switch would go. */
  private blind: { verdict: Verdict; gradual: boolean | undefined } | undefined;

  constructor(
    private readonly run: RollbackRun,
    private readonly desk: DecisionDesk,
    incident: Incident,
  ) {
    ({ action: this.action, deadline_s: this.deadline_s, default_action: this.default_action, verdict: this.verdict } = incident);
  }

  async decide(): Promise<DecideOutcome> {
    const { view, input } = this.run;
    view.tier = 1;
    // Saved with the next step: awaiting approval / observing, or the automatic rollback once re-confirmed.
    await this.run.enter(view.status, 'detected', { ...this.verdict }, { then: 'next_step' });
    // The first deadline counts from detection (as the API already shows it); a worse breach or a new tier from then.
    this.deadlineFrom = Date.parse(input.requested_at);
    return this.loop();
  }

  /**
   * Re-confirms the breach right before an automatic switch. Only a healthy re-check clears a critical breach
   * measured on enough samples (too little data does not). A re-check that cannot read metrics is not a recovery:
   * the breach stands, it is read again (BLIND_RECHECKS times, RECHECK_INTERVAL_S apart), and if it still cannot be
   * read on-call is paged that the monitor is blind and asked to decide — nothing is switched without evidence and
   * nothing is cleared. A critical breach keeps switching at once on a re-check that is not healthy.
   */
  async reconfirm(outcome: Extract<DecideOutcome, { kind: 'switch' }>, first?: Verdict): Promise<DecideOutcome> {
    const { run } = this;
    const { view, input } = run;
    // `first`: a re-check already made (the one-step switch's, which switches only on a confirmed breach).
    let signalled: Verdict | undefined = first;
    for (let attempt = 1; ; attempt++) {
      const now = signalled ?? (await assessNow({ prompt: input.prompt }));
      signalled = undefined;
      const critical = view.severity === 'critical';
      // Versioned: incidents started before this change cleared on an unreadable re-check.
      if (now.kind === 'error' && !critical && patched('metrics-unreadable')) {
        const last = attempt >= BLIND_RECHECKS;
        run.event('reconfirmed', {
          ...now,
          note: `metrics could not be read (re-check ${attempt} of ${BLIND_RECHECKS}): the ${view.severity} breach (${run.verdict?.summary ?? ''}) stands; ${last ? 'asking on-call' : `reading again in ${RECHECK_INTERVAL_S} s`}`,
        });
        if (!last) {
          await condition(() => run.worse !== undefined, RECHECK_INTERVAL_S * 1000, {
            summary: `re-check ${attempt + 1} of ${BLIND_RECHECKS} (metrics could not be read)`,
          });
          if (run.worse !== undefined) {
            // The monitor measured the breach meanwhile: that is the reading the re-check could not make.
            signalled = run.worse;
            run.worse = undefined;
            if (this.isWorse(signalled)) this.worsen(signalled);
            else run.event('breach_update', { ...signalled });
          }
          continue;
        }
        this.blind = { verdict: now, gradual: outcome.gradual };
        // The deadline's default action could not be taken: the decision is on-call's again.
        delete view.decision;
        delete view.decided_by;
        view.tier = (view.tier ?? 1) + 1;
        this.deadlineFrom = Date.now();
        this.announce = true;
        const next = await this.loop();
        if (next.kind !== 'switch' || !next.automatic) return next;
        outcome = next;
        attempt = 0;
        continue;
      }
      const holds = now.kind === 'breached' && now.severity !== 'low';
      const keepCritical = critical && now.kind !== 'healthy';
      run.event('reconfirmed', {
        ...now,
        ...(keepCritical && !holds ? { note: `not a healthy re-check: the critical breach (${run.verdict?.summary ?? ''}) stands` } : {}),
      });
      if (!holds && !keepCritical) return { kind: 'cleared', why: `breach did not re-confirm: ${now.summary}` };
      return outcome;
    }
  }

  private isWorse(w: Verdict): boolean {
    return w.severity !== undefined && SEVERITY_RANK[w.severity] > SEVERITY_RANK[this.run.view.severity];
  }

  /** The incident is now the worse breach: what the page, the list and the post-mortem say. */
  private worsen(w: Verdict): void {
    const { view } = this.run;
    this.run.event('worsened', { from: view.severity, from_reason: view.reason, ...w });
    view.severity = w.severity ?? view.severity;
    view.reason = w.summary;
    view.trigger = triggerOf(w);
    view.incident_rule = w.rule;
    this.verdict = w;
    this.run.verdict = w;
    this.action = (w.action as Incident['action']) ?? 'page';
    this.deadline_s = w.deadline_s ?? this.deadline_s;
    this.default_action = w.default_action ?? this.default_action;
    this.blind = undefined;
  }

  private async loop(): Promise<DecideOutcome> {
    const { run, desk } = this;
    const { view, input } = run;
    for (;;) {
      const { action, deadline_s, default_action, verdict, blind } = this;
      if (action === 'rollback') {
        desk.deciding = false;
        return { kind: 'switch', automatic: true };
      }
      // Asked because the breach could not be re-checked: a person decides, whatever the rule's own action.
      const observing = action === 'observe' && blind === undefined;
      desk.deciding = true;
      const deadlineMs = this.deadlineFrom + deadline_s * 1000;
      const deadline = new Date(deadlineMs).toISOString();
      if (this.announce) {
        this.announce = false;
        view.deadline = deadline;
        view.default_action = blind ? BLIND_DEFAULT : defaultActionText({ action, default_action });
        await run.enter(observing ? 'observing' : 'awaiting_approval', observing ? 'observing' : 'awaiting_approval', {
          deadline,
          tier: view.tier,
          default_action: view.default_action,
          verdict: verdict.summary,
        });
        const how = `Approve: POST /api/rollbacks/${input.rollback_id}/approve, or signal "approve" to ${view.workflow_id}. Reject ("investigate"): …/reject.`;
        if (blind) {
          run.send(
            'page',
            // A blind incident wakes someone even when its breach was medium.
            SEVERITY_RANK[view.severity] >= SEVERITY_RANK.high ? view.severity : 'high',
            `CANNOT RE-CONFIRM, MONITOR IS BLIND: ${input.prompt}`,
            `The ${view.severity} breach (${verdict.summary}) was due to be rolled back automatically, but it could not be re-confirmed: metrics could not be read ${BLIND_RECHECKS} times in a row (${blind.verdict.summary}). Nothing was switched and the incident stays open. Check the metrics provider, then decide by ${deadline}; then: ${view.default_action}. ${how}`,
            { verdict, recheck: blind.verdict, deadline, tier: view.tier },
          );
        } else {
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
        return d.kind === 'approve' ? { kind: 'switch', automatic: false, ...(blind ? gradualOf(blind) : {}) } : { kind: 'rejected' };
      }
      if (run.worse !== undefined) {
        const w = run.worse;
        run.worse = undefined;
        if (!this.isWorse(w)) {
          // Not worse: noted, and the same deadline still stands (no new page).
          run.event('breach_update', { ...w });
          continue;
        }
        this.worsen(w);
        view.tier = 1;
        this.deadlineFrom = Date.now();
        this.announce = true;
        continue;
      }
      // The deadline passed with no decision.
      desk.deciding = false;
      if (blind) {
        // Still no evidence either way: read the breach again (it switches only if it re-confirms).
        view.tier = (view.tier ?? 1) + 1;
        run.event('deadline_passed', { tier: view.tier, default_action: BLIND_DEFAULT });
        view.decided_by = 'system (decision deadline)';
        view.decision = {
          kind: 'deadline',
          by: view.decided_by,
          at: new Date().toISOString(),
          via: 'system',
          deadline,
          default_action: BLIND_DEFAULT,
        };
        this.blind = undefined;
        return { kind: 'switch', automatic: true, ...gradualOf(blind) };
      }
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
        this.deadlineFrom = Date.now();
        this.announce = true;
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
      this.deadlineFrom = Date.now();
      this.announce = true;
    }
  }
}

/** What happens at the deadline of a decision asked for because the breach could not be re-checked. */
const BLIND_DEFAULT = 're-check the breach: roll back if it still holds, clear if healthy, ask again if metrics still cannot be read';

const gradualOf = (blind: { gradual: boolean | undefined }): { gradual?: boolean } =>
  blind.gradual !== undefined ? { gradual: blind.gradual } : {};
