/**
 * The trigger table, row by row, as a user sees it: a monitor's incident (a `rollbackWorkflow` with `incident`
 * set) on the time-skipping test server. Decision deadlines of 5 min … 1 h take milliseconds of wall time.
 * Verdicts are produced by the real `assess()` with DEFAULT_POLICY, so each row's numbers are the table's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import type { RuleAction } from '../../src/domain/policy';
import { triggerOf, type RollbackInput, type RollbackView, type TimelineEntry } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { approveSignal, breachSignal, rejectSignal } from '../../src/workflows/messages';
import type { rollbackWorkflow } from '../../src/workflows/rollback';
import { withRollback as runRollback } from '../support/rollback-run';
import { judge, win } from '../support/verdicts';
import { fakeWorld, type FakeWorld } from '../support/fake-activities';
import { switchStep, timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const PROMPT = 'customer-support';
const MIN = 60_000;

// ---------------------------------------------------------------------------------------------------------------
// Verdicts, from window stats through the real trigger table.

const CRITICAL = judge(win({ requests: 400, errors: 48 })); // 12 % errors
const HIGH_ERRORS = judge(win({ requests: 400, errors: 12 })); // 3 % errors
const HIGH_QUALITY = judge(win({ requests: 400, errors: 2, quality_mean: 0.6 })); // −25 % quality
const HIGH_LATENCY = judge(win({ requests: 400, errors: 2, latency_ms: { p50: 150, p95: 500, p99: 900 } })); // 2.25× p99
const MEDIUM_QUALITY = judge(win({ requests: 400, errors: 2, quality_mean: 0.68 })); // −15 % quality
const HEALTHY = judge(win({ requests: 400, errors: 1, quality_mean: 0.8, latency_ms: { p50: 100, p95: 200, p99: 350 } }));

// ---------------------------------------------------------------------------------------------------------------
// Harness.

// Verification recovers at the first check unless a test says otherwise.
const world = (over: Partial<FakeWorld> = {}): FakeWorld => fakeWorld(over);

type Handle = WorkflowHandle<typeof rollbackWorkflow>;

/** What the monitor's `monitorCheck` activity builds for a breach: the incident the trigger table asks for. */
function incidentInput(v: Verdict, requestedAt: string): RollbackInput {
  const id = `inc-${randomUUID().slice(0, 8)}`;
  return {
    rollback_id: id,
    prompt: PROMPT,
    reason: v.summary,
    severity: v.severity!,
    mode: 'immediate',
    trigger: triggerOf(v),
    requested_by: 'monitor',
    requested_at: requestedAt,
    verification: { ...DEFAULT_VERIFICATION },
    incident: {
      verdict: v,
      action: v.action as RuleAction,
      deadline_s: v.deadline_s!,
      default_action: v.default_action!,
    },
  };
}

const withRollback = <T>(
  w: FakeWorld,
  makeInput: (requestedAt: string) => RollbackInput,
  body: (h: Handle, input: RollbackInput) => Promise<T>,
): Promise<T> => runRollback(env, w, makeInput, body);
const withIncident = <T>(w: FakeWorld, v: Verdict, body: (h: Handle, input: RollbackInput) => Promise<T>): Promise<T> =>
  withRollback(w, (at) => incidentInput(v, at), body);

/** Polls the `state` query (wall clock, time locked) until `pred` holds. */
async function waitFor(h: Handle, what: string, pred: (v: RollbackView) => boolean, timeoutMs = 5_000): Promise<RollbackView> {
  const until = Date.now() + timeoutMs;
  let last: RollbackView | undefined;
  for (;;) {
    last = await h.query<RollbackView>('state');
    if (pred(last)) return last;
    if (Date.now() > until) {
      throw new Error(`timed out waiting for ${what}; status ${last.status}, timeline: ${events(last).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the first decision request went out: the `awaiting_approval`/`observing` step and its page/alert. */
const firstRequest = (h: Handle): Promise<RollbackView> =>
  waitFor(h, 'the first page/alert', (v) => count(v, 'paged') + count(v, 'notified') >= 1);

const events = (v: RollbackView): string[] => v.timeline.map((t) => t.event);
const count = (v: RollbackView, name: string): number => v.timeline.filter((t) => t.event === name).length;
const entry = (v: RollbackView, name: string): TimelineEntry => {
  const e = v.timeline.find((t) => t.event === name);
  if (!e) throw new Error(`no ${name} in the timeline: ${events(v).join(', ')}`);
  return e;
};
const at = (v: RollbackView, name: string): number => Date.parse(entry(v, name).at);
const pages = (w: FakeWorld) => w.notifications.filter((n) => n.kind === 'page');
const alerts = (w: FakeWorld) => w.notifications.filter((n) => n.kind === 'alert');

// ---------------------------------------------------------------------------------------------------------------

describe('trigger-table verdicts used by these tests', () => {
  it('each scripted window lands in its row of the table', () => {
    expect([CRITICAL, HIGH_ERRORS, HIGH_QUALITY, HIGH_LATENCY, MEDIUM_QUALITY].map((v) => [v.rule, v.severity, v.action])).toEqual([
      ['error_rate_critical', 'critical', 'rollback'],
      ['error_rate_high', 'high', 'page'],
      ['quality_drop_high', 'high', 'recommend'],
      ['latency_p99_high', 'high', 'page'],
      ['quality_drop_medium', 'medium', 'observe'],
    ]);
    expect(HEALTHY.kind).toBe('healthy');
  });
});

describe('critical: error rate > 5 % → automatic rollback', () => {
  it('re-confirms the breach and switches within 2 min, with no human involved', async () => {
    const w = world({ assessments: [CRITICAL] });
    const view = await withIncident(w, CRITICAL, (h) => h.result());

    expect(view.status).toBe('completed');
    expect(view.severity).toBe('critical');
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(w.switchCalls?.[0]?.actor).toBe('monitor');
    // No person decided, nobody was asked to, and there was nothing to wait for.
    expect(view.decided_by ?? 'system').toMatch(/^system/);
    expect(view.deadline).toBeUndefined();
    expect(events(view)).not.toContain('awaiting_approval');
    expect(events(view)).not.toContain('approved');
    expect(w.saved.every((s) => s.deadline === undefined)).toBe(true);
    // The breach is re-judged right before the switch, and the switch happens inside the 2-minute budget.
    expect(events(view)).toEqual(expect.arrayContaining(['detected', 'reconfirmed', 'rolling_back', 'switched', 'recovered']));
    expect(events(view).indexOf('reconfirmed')).toBeLessThan(events(view).indexOf('switched'));
    expect(entry(view, 'reconfirmed').detail).toMatchObject({ kind: 'breached', rule: 'error_rate_critical' });
    expect(at(view, 'switched') - Date.parse(view.requested_at)).toBeLessThan(2 * MIN);
    expect(view.trigger).toMatchObject({ metric: 'error_rate', threshold: 0.05, observed: 0.12, samples: 400 });
    // The switch is announced with the incident's severity.
    expect(alerts(w).find((n) => n.title.startsWith('ROLLBACK:'))).toMatchObject({ severity: 'critical', prompt: PROMPT });
  });

  it('switches from the first workflow task: no save or step waits for an engine round trip before the switch', async () => {
    const w = world({ assessments: [CRITICAL] });
    const history = await withIncident(w, CRITICAL, async (h) => {
      await h.result();
      return (await h.fetchHistory()).events ?? [];
    });
    expect(w.switches).toHaveLength(1);
    // The switch runs inside the run's first workflow task (before: an activity task that task scheduled; earlier
    // still, after the requested and detected saves, the re-check, the rolling_back save, the target and the group
    // plan, one task each): no activity task to schedule, dispatch and poll before the switch.
    expect(switchStep(history)).toEqual({ kind: 'in_task', tasksBefore: 1 });
  });

  it('does not switch when the breach no longer holds right before the switch: cleared', async () => {
    const w = world({ assessments: [HEALTHY] });
    const view = await withIncident(w, CRITICAL, (h) => h.result());

    expect(view.status).toBe('cleared');
    expect(w.switches).toEqual([]);
    expect(w.assessNowCalls).toBe(1);
    expect(events(view)).not.toContain('switched');
    expect(entry(view, 'reconfirmed').detail).toMatchObject({ kind: 'healthy' });
    expect(String(entry(view, 'cleared').detail.why)).toContain('did not re-confirm');
    expect(String(entry(view, 'cleared').detail.why)).toContain(HEALTHY.summary);
    expect(w.saved.at(-1)?.status).toBe('cleared');
  });
});

describe('high: error rate 2–5 % → page on-call, decide within 5 min (default: roll back)', () => {
  it('pages with the numbers, shows the deadline while waiting, and switches when alice approves', async () => {
    const w = world();
    const { waiting, view } = await withIncident(w, HIGH_ERRORS, async (h, input) => {
      const waiting = await firstRequest(h);
      await h.signal(approveSignal, { by: 'alice', comment: 'bad deploy, go' });
      return { waiting, view: await h.result(), input };
    });

    // While waiting: what `GET /api/rollbacks/{id}` and the Web UI query show.
    expect(waiting.status).toBe('awaiting_approval');
    expect(waiting.deadline).toBeDefined();
    expect(Date.parse(waiting.deadline!) - Date.parse(waiting.requested_at)).toBe(5 * MIN);
    expect(waiting.default_action).toBe('roll back');
    expect(waiting.decided_by).toBeUndefined();
    expect(waiting.tier).toBe(1);
    // The page: on-call, high, with the observed numbers, the deadline and how to decide.
    expect(pages(w)).toHaveLength(1);
    const page = pages(w)[0]!;
    expect(page).toMatchObject({ severity: 'high', prompt: PROMPT, rollback_id: view.rollback_id });
    expect(page.title).toContain('Decision needed');
    expect(page.message).toContain('3.00 %');
    expect(page.message).toContain(waiting.deadline);
    expect(page.message).toContain('approve');
    expect(page.data).toMatchObject({ tier: 1, deadline: waiting.deadline, verdict: { observed: 0.03, samples: 400 } });

    // After the decision.
    expect(view.status).toBe('completed');
    expect(view.decided_by).toBe('alice');
    expect(view.deadline).toBeUndefined();
    // A signal's name is not authenticated: the record says it came that way.
    expect(entry(view, 'approved').detail).toMatchObject({ by: 'alice', comment: 'bad deploy, go', via: 'temporal-signal' });
    expect(view.decision).toMatchObject({ kind: 'approve', by: 'alice', via: 'temporal-signal' });
    expect(at(view, 'approved')).toBeLessThan(Date.parse(waiting.deadline!));
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(w.switchCalls?.[0]?.actor).toBe('alice');
    expect(events(view)).not.toContain('deadline_passed');
    expect(pages(w)).toHaveLength(1); // no escalation
  });

  it('records a reject ("investigate"): rejected, nothing switched, who decided', async () => {
    const w = world();
    const view = await withIncident(w, HIGH_ERRORS, async (h) => {
      await firstRequest(h);
      await h.signal(rejectSignal, { by: 'bob', comment: 'known upstream blip' });
      return h.result();
    });

    expect(view.status).toBe('rejected');
    expect(view.decided_by).toBe('bob');
    expect(view.deadline).toBeUndefined();
    expect(w.switches).toEqual([]);
    expect(entry(view, 'rejected').detail).toMatchObject({ by: 'bob', comment: 'known upstream blip' });
    expect(events(view)).not.toContain('switched');
    expect(alerts(w).find((n) => n.title.includes('rejected'))?.message).toContain('bob');
    expect(w.saved.at(-1)).toMatchObject({ status: 'rejected', decided_by: 'bob' });
  });

  it('with no decision: escalates to tier 2 at the 5-min deadline and rolls back by default, in well under 5 s of wall time', async () => {
    const w = world({ assessments: [HIGH_ERRORS] });
    const started = Date.now();
    const { view, input } = await withIncident(w, HIGH_ERRORS, async (h, input) => ({ view: await h.result(), input }));
    const wallMs = Date.now() - started;

    expect(view.status).toBe('completed');
    expect(view.decided_by).toBe('system (decision deadline)');
    expect(view.tier).toBe(2);
    const deadline = Date.parse(String(entry(view, 'awaiting_approval').detail.deadline));
    expect(deadline - Date.parse(input.requested_at)).toBe(5 * MIN);
    // Server time: nothing happened before the deadline, and the switch followed it.
    expect(at(view, 'deadline_passed')).toBeGreaterThanOrEqual(deadline);
    expect(at(view, 'deadline_passed') - deadline).toBeLessThan(MIN);
    expect(entry(view, 'deadline_passed').detail).toMatchObject({ tier: 2, default_action: 'rollback' });
    expect(at(view, 'switched')).toBeGreaterThanOrEqual(deadline);
    // Two pages, both high: the first ask, then the tier-2 escalation saying what it does.
    expect(pages(w).map((p) => [p.severity, p.title])).toEqual([
      ['high', `Decision needed for ${PROMPT}`],
      ['high', `ESCALATION tier 2: ${PROMPT} rolling back`],
    ]);
    expect(pages(w)[1]!.message).toContain('No decision by');
    // Automatic, so the breach was re-confirmed first.
    expect(events(view).indexOf('reconfirmed')).toBeLessThan(events(view).indexOf('switched'));
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(w.switchCalls?.[0]?.actor).toBe('system (decision deadline)');
    expect(wallMs).toBeLessThan(5_000);
  });

  it('the store down from the page on: the page about the wait goes out while it is still down, not behind the pages the outbox could not take', async () => {
    // The outbox is in the store: nothing the run raises can be queued until the store is back. Nobody decides; at the
    // deadline the run rolls back by default and waits for the store (44 failed calls of the target choice: about
    // 6 min), and its page at 5 min of waiting must not wait behind the pages raised before it.
    const w = world({ assessments: [HIGH_ERRORS], storeDownCalls: 44, outboxInStore: true });
    const view = await withIncident(w, HIGH_ERRORS, (h) => h.result());
    expect(view.status).toBe('completed');
    const attempts = w.notifyAttempts!;
    const page = attempts.findIndex((a) => a.title.startsWith('ROLLBACK WAITING FOR THE STORE'));
    // Before it: the decision page, tried again and again (the escalation page is queued after it, in order).
    const before = [...new Set(attempts.slice(0, page).map((a) => a.title))];
    expect(before).toHaveLength(1);
    // Its first attempt came while the store was down (the worker sends it directly then), before anything was queued.
    expect(attempts[page]!.queued).toBe(false);
    expect(attempts.slice(0, page).every((a) => !a.queued)).toBe(true);
    // What the run raised after it waits for it: queued after it. (The escalation page was raised before it, behind
    // the decision page: its place beside the wait page is free.)
    const queuedAt = (title: string) => w.notifications.findIndex((n) => n.title === title);
    const after = [...new Set(attempts.slice(page + 1).map((a) => a.title))].filter(
      (t) => !before.includes(t) && !t.startsWith('ESCALATION') && t !== attempts[page]!.title,
    );
    expect(after.length).toBeGreaterThan(0);
    for (const t of after) expect(queuedAt(t)).toBeGreaterThan(queuedAt(attempts[page]!.title));
    // Everything is queued in the end, the page with the PagerDuty tier the run is at (escalated at the deadline).
    expect(w.notifications.map((n) => n.title)).toEqual(expect.arrayContaining([...before, expect.stringMatching(/^ROLLBACK WAITING/)]));
    expect(w.notifications.find((n) => n.title.startsWith('ROLLBACK WAITING FOR THE STORE'))).toMatchObject({
      kind: 'page',
      data: { tier: 2, incident: 'store-wait' },
    });
  });

  it('rolls back at once when the breach worsens to critical while waiting, without waiting for the deadline', async () => {
    const w = world({ assessments: [CRITICAL] });
    const started = Date.now();
    const { waiting, view } = await withIncident(w, HIGH_ERRORS, async (h) => {
      const waiting = await firstRequest(h);
      await h.signal(breachSignal, CRITICAL);
      return { waiting, view: await h.result() };
    });

    expect(view.status).toBe('completed');
    expect(entry(view, 'worsened').detail).toMatchObject({ from: 'high', severity: 'critical', rule: 'error_rate_critical' });
    expect(view.severity).toBe('critical');
    expect(view.trigger).toMatchObject({ metric: 'error_rate', threshold: 0.05, observed: 0.12 });
    expect(at(view, 'switched')).toBeLessThan(Date.parse(waiting.deadline!));
    expect(events(view)).not.toContain('deadline_passed');
    expect(events(view)).not.toContain('approved');
    expect(events(view).indexOf('reconfirmed')).toBeGreaterThan(events(view).indexOf('worsened'));
    expect(events(view).indexOf('reconfirmed')).toBeLessThan(events(view).indexOf('switched'));
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(view.deadline).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  // Regression: after a worsening to critical, a late decision used to vanish without a trace.
  it('a decision arriving after the worsened incident already switched is recorded as ignored, not silently swallowed', async () => {
    // Verification sees too little traffic for a while so the approve lands during it. (It used to script 20 %
    // errors on the target; that is now, intentionally, "not a prompt regression": the target fails the same way.)
    const w = world({
      assessments: [CRITICAL],
      checks: [
        { requests: 3, errors: 0 },
        { requests: 3, errors: 0 },
        { requests: 200, errors: 0 },
      ],
    });
    const view = await withIncident(w, HIGH_ERRORS, async (h) => {
      await firstRequest(h);
      await h.signal(breachSignal, CRITICAL);
      await waitFor(h, 'the switch', (v) => events(v).includes('switched'));
      await h.signal(approveSignal, { by: 'alice' });
      return h.result();
    });

    expect(view.status).toBe('completed');
    expect(view.decided_by ?? 'system').not.toBe('alice');
    expect(entry(view, 'decision_ignored').detail).toMatchObject({ decision: 'approve', by: 'alice' });
  });
});

describe('high: quality drop > 20 % → recommend rollback, 30 min (default: escalate and keep waiting)', () => {
  it('escalates at 30 min (tier 2) and 60 min (tier 3) while still waiting, then switches on approval', async () => {
    const w = world();
    const r = await withIncident(w, HIGH_QUALITY, async (h) => {
      const tier1 = await firstRequest(h);
      const firstNotice = [...w.notifications];

      await env.sleep(30 * MIN + 1_000);
      const tier2 = await waitFor(h, 'the tier-2 escalation page', (v) => count(v, 'paged') >= 1);
      const now2 = await env.currentTimeMs();

      await env.sleep(30 * MIN + 1_000);
      const tier3 = await waitFor(h, 'the tier-3 escalation page', (v) => count(v, 'paged') >= 2);

      await h.signal(approveSignal, { by: 'carol' });
      return { tier1, firstNotice, tier2, now2, tier3, view: await h.result() };
    });

    // Tier 1: the owner is told a rollback is recommended (an alert, not yet a page), with the numbers.
    expect(r.tier1).toMatchObject({ status: 'awaiting_approval', tier: 1, default_action: 'escalate and keep waiting' });
    expect(Date.parse(r.tier1.deadline!) - Date.parse(r.tier1.requested_at)).toBe(30 * MIN);
    expect(r.firstNotice).toHaveLength(1);
    expect(r.firstNotice[0]).toMatchObject({ kind: 'alert', severity: 'high', title: `Rollback recommended for ${PROMPT}` });
    expect(r.firstNotice[0]!.message).toContain('25.00 %');

    // 30 min, no decision: tier-2 page, still waiting, nothing switched, a fresh deadline 30 min on.
    expect(r.tier2.status).toBe('awaiting_approval');
    expect(r.tier2.tier).toBe(2);
    expect(r.tier2.decided_by).toBeUndefined();
    expect(entry(r.tier2, 'deadline_passed').detail).toMatchObject({ tier: 2, default_action: 'wait' });
    expect(at(r.tier2, 'deadline_passed')).toBeGreaterThanOrEqual(Date.parse(r.tier1.deadline!));
    expect(Date.parse(r.tier2.deadline!)).toBeGreaterThan(r.now2);
    expect(Date.parse(r.tier2.deadline!) - at(r.tier2, 'deadline_passed')).toBeGreaterThanOrEqual(30 * MIN - 1_000);
    expect(Date.parse(r.tier2.deadline!) - at(r.tier2, 'deadline_passed')).toBeLessThanOrEqual(30 * MIN + 5_000);

    // 60 min: tier 3, still waiting.
    expect(r.tier3).toMatchObject({ status: 'awaiting_approval', tier: 3 });
    expect(Date.parse(r.tier3.deadline!)).toBeGreaterThan(Date.parse(r.tier2.deadline!));

    const escalations = pages(w);
    expect(escalations.map((p) => [p.severity, p.title])).toEqual([
      ['high', `ESCALATION tier 2: Rollback recommended for ${PROMPT}`],
      ['high', `ESCALATION tier 3: Rollback recommended for ${PROMPT}`],
    ]);
    expect(escalations[0]!.data).toMatchObject({ tier: 2 });

    // Then carol approves: the switch, by carol.
    expect(r.view.status).toBe('completed');
    expect(r.view.decided_by).toBe('carol');
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: r.view.rollback_id }]);
    expect(w.switchCalls?.[0]?.actor).toBe('carol');
  });
});

describe('high: p99 latency ≥ 2× baseline → page on-call, 10 min (default: roll back)', () => {
  it('pages with the latency ratio and rolls back at the 10-min deadline', async () => {
    const w = world({ assessments: [HIGH_LATENCY] });
    const { view, input } = await withIncident(w, HIGH_LATENCY, async (h, input) => ({ view: await h.result(), input }));

    expect(view.status).toBe('completed');
    expect(view.decided_by).toBe('system (decision deadline)');
    const deadline = Date.parse(String(entry(view, 'awaiting_approval').detail.deadline));
    expect(deadline - Date.parse(input.requested_at)).toBe(10 * MIN);
    expect(at(view, 'deadline_passed')).toBeGreaterThanOrEqual(deadline);
    expect(pages(w).map((p) => [p.severity, p.title])).toEqual([
      ['high', `Decision needed for ${PROMPT}`],
      ['high', `ESCALATION tier 2: ${PROMPT} rolling back`],
    ]);
    expect(pages(w)[0]!.message).toContain('2.25× baseline');
    expect(view.trigger).toMatchObject({ metric: 'latency_p99_ratio', threshold: 2, observed: 2.25 });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
  });
});

describe('medium: quality drop 10–20 % → alert, observe for 1 h', () => {
  it('rolls back (gradually: 75/50/25/0 % left on the bad version) when still breached at the end of the hour', async () => {
    const w = world({ assessments: [MEDIUM_QUALITY] });
    const { observing, view } = await withIncident(w, MEDIUM_QUALITY, async (h) => {
      const observing = await firstRequest(h);
      return { observing, view: await h.result() };
    });

    expect(observing.status).toBe('observing');
    expect(Date.parse(observing.deadline!) - Date.parse(observing.requested_at)).toBe(60 * MIN);
    expect(observing.default_action).toBe('roll back if still breached, else clear');
    // An alert, not a page.
    expect(w.notifications[0]).toMatchObject({
      kind: 'alert',
      severity: 'medium',
      title: `Observing ${PROMPT}: ${MEDIUM_QUALITY.summary}`,
    });
    expect(w.notifications[0]!.message).toContain('15.00 %');
    expect(pages(w)).toEqual([]);

    expect(view.status).toBe('completed');
    expect(entry(view, 'observation_ended').detail).toMatchObject({ kind: 'breached', severity: 'medium' });
    expect(at(view, 'observation_ended')).toBeGreaterThanOrEqual(Date.parse(observing.deadline!));
    expect(at(view, 'switched')).toBeGreaterThanOrEqual(Date.parse(observing.deadline!));
    // A minor regression is rolled back in stages, then the audited switch moves the last of the traffic.
    expect(view.mode).toBe('gradual');
    expect(events(view)).toContain('gradual_started');
    expect(w.splits?.map((s) => s.split.find((x) => x.version === 'v2.0.0')?.percent)).toEqual([75, 50, 25]);
    expect(at(view, 'switched') - at(view, 'gradual_started')).toBeGreaterThanOrEqual(30 * MIN);
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(view.deadline).toBeUndefined();
  });

  it('clears without a switch when the version recovered by the end of the hour', async () => {
    const w = world({ assessments: [HEALTHY] });
    const { observing, view } = await withIncident(w, MEDIUM_QUALITY, async (h) => {
      const observing = await firstRequest(h);
      return { observing, view: await h.result() };
    });

    expect(view.status).toBe('cleared');
    expect(w.switches).toEqual([]);
    expect(events(view)).not.toContain('switched');
    expect(at(view, 'cleared')).toBeGreaterThanOrEqual(Date.parse(observing.deadline!));
    expect(entry(view, 'cleared').detail).toMatchObject({ why: HEALTHY.summary });
    expect(view.deadline).toBeUndefined();
    expect(w.saved.at(-1)?.status).toBe('cleared');
  });

  // Regression: a worse breach used to inherit the first deadline (already past) and roll back at once.
  it('when it worsens to high while observing, pages on-call and gives them the high row’s 5 minutes from then', async () => {
    const w = world({ assessments: [HIGH_ERRORS] });
    const r = await withIncident(w, MEDIUM_QUALITY, async (h) => {
      await firstRequest(h);
      await env.sleep(30 * MIN);
      const worsenedAt = await env.currentTimeMs();
      await h.signal(breachSignal, HIGH_ERRORS);
      const waiting = await waitFor(h, 'the page after worsening', (v) => count(v, 'paged') >= 1 || v.status !== 'observing');
      await h.signal(approveSignal, { by: 'dave' });
      return { worsenedAt, waiting, view: await h.result() };
    });

    expect(r.waiting.status).toBe('awaiting_approval');
    expect(r.waiting.severity).toBe('high');
    expect(Date.parse(r.waiting.deadline!) - r.worsenedAt).toBeGreaterThanOrEqual(5 * MIN - 1_000);
    expect(events(r.waiting)).not.toContain('deadline_passed');
    expect(pages(w)[0]).toMatchObject({ severity: 'high', title: `Decision needed for ${PROMPT}` });
    expect(r.view.decided_by).toBe('dave');
  });
});

describe('verification after an incident switch', () => {
  // The target at 3 %: above the 1 % recovery line, below the incident's own 5 % (20 % there would be "not a
  // prompt regression", tested in phases.test.ts).
  it('escalates with a critical page when the error rate does not recover on the target version', async () => {
    const w = world({ assessments: [CRITICAL], checks: [{ requests: 100, errors: 3 }] });
    const view = await withIncident(w, CRITICAL, (h) => h.result());

    expect(w.switches).toHaveLength(1);
    expect(view.status).toBe('escalated');
    expect(view.severity).toBe('critical');
    expect(view.verification?.result).toBe('not_recovered');
    expect(view.verification?.checks).toHaveLength(12);
    expect(events(view)).toContain('not_recovered');
    expect(pages(w)).toHaveLength(1);
    expect(pages(w)[0]).toMatchObject({ severity: 'critical', prompt: PROMPT, rollback_id: view.rollback_id });
    expect(pages(w)[0]!.title).toContain('NOT RECOVERING');
    expect(pages(w)[0]!.message).toContain('3.00 %');
    expect(w.saved.at(-1)?.status).toBe('escalated');
    expect(view).toMatchObject({ outcome: 'not_recovered', escalation: 'not_recovered' });
  });
});

describe('operator rollback (no incident)', () => {
  it('ignores an `approve` signal and records it as decision_ignored', async () => {
    const w = world();
    const view = await withRollback(
      w,
      (requested_at) => ({
        rollback_id: `op-${randomUUID().slice(0, 8)}`,
        prompt: PROMPT,
        target_version: 'v1.9.0',
        reason: 'bad answers',
        severity: 'high',
        mode: 'immediate',
        requested_by: 'erin',
        requested_at,
        verification: { ...DEFAULT_VERIFICATION },
      }),
      async (h) => {
        await h.signal(approveSignal, { by: 'alice' });
        return h.result();
      },
    );

    expect(view.status).toBe('completed');
    expect(entry(view, 'decision_ignored').detail).toMatchObject({ decision: 'approve', by: 'alice' });
    expect(view.decided_by).toBeUndefined();
    expect(events(view)).not.toContain('approved');
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(w.switchCalls?.[0]?.actor).toBe('erin');
  });
});
