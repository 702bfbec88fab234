/**
 * A metrics provider that cannot answer (Prometheus down) during a rollback's verification, a gradual rollback's
 * stage checks and a canary's stage judgements: each check says `error` and counts for nothing; a whole window
 * without readable metrics ends unverified with the on-call paged; a staged move holds (never advancing, never
 * rolling back on no evidence) and after a bound pauses or pages. Time-skipping server, fake activities.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleAction } from '../../src/domain/policy';
import { triggerOf, type RollbackInput, type RollbackView } from '../../src/domain/rollback';
import { DEFAULT_CANARY, DEFAULT_GRADUAL, judgeCanary, canaryUnreadable, type CanaryJudgement } from '../../src/domain/stages';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION, unreadableCheck } from '../../src/domain/verification';
import type { CanaryInput, CanaryResult } from '../../src/workflows/canary';
import { approveUpdate, breachSignal, resumeSignal } from '../../src/workflows/messages';
import { fakeActivities, fakeWorld, UNREADABLE, type FakeWorld } from '../support/fake-activities';
import { withRollback, type RollbackHandle } from '../support/rollback-run';
import { testWorker, timeSkippingEnv } from '../support/time-skipping';
import { judge, win } from '../support/verdicts';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const PROMPT = 'customer-support';
const events = (v: RollbackView) => v.timeline.map((t) => t.event);
const checksOf = (v: RollbackView) => v.timeline.filter((t) => t.event === 'verification_check').map((t) => t.detail as unknown as Verdict);

const operatorInput =
  (over: Partial<RollbackInput> = {}) =>
  (requestedAt: string): RollbackInput => ({
    rollback_id: `op-${randomUUID().slice(0, 8)}`,
    prompt: PROMPT,
    target_version: 'v1.9.0',
    reason: 'bad answers',
    severity: 'manual',
    mode: 'immediate',
    requested_by: 'erin',
    requested_at: requestedAt,
    verification: { ...DEFAULT_VERIFICATION },
    ...over,
  });

async function until(h: RollbackHandle, what: string, ok: (v: RollbackView) => boolean): Promise<RollbackView> {
  for (let n = 0; n < 300; n++) {
    const v = await h.query<RollbackView>('state');
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('verification when metrics cannot be read', () => {
  it('unreadable for the whole window: completed but unverified, result `error`, each check recorded as such, on-call paged that the rollback is blind', async () => {
    const w = fakeWorld({ checks: [UNREADABLE] });
    const view = await withRollback(env, w, operatorInput(), (h) => h.result());

    expect(view).toMatchObject({ status: 'completed', outcome: 'unverified' });
    expect(view.verification?.result).toBe('error');
    expect(view.verification?.checks).toHaveLength(12);
    expect(view.verification?.checks.every((c) => c.kind === 'error')).toBe(true);
    expect(checksOf(view)).toHaveLength(12);
    expect(checksOf(view)[0]!.summary).toMatch(/^error: metrics could not be read/);
    expect(events(view)).not.toContain('recovered');
    expect(view.timeline.find((t) => t.event === 'verification_inconclusive')?.detail.summary).toMatch(/metrics could not be read/);
    const pages = w.notifications.filter((n) => n.kind === 'page');
    expect(pages).toHaveLength(1);
    expect(pages[0]!.title).toBe(`ROLLBACK UNVERIFIED, MONITOR IS BLIND: ${PROMPT}`);
    expect(pages[0]!.message).toMatch(/switched to v1\.9\.0.*recovery could not be verified in 60 s because metrics could not be read/i);
    expect(pages[0]!.message).toContain('ECONNREFUSED');
  });

  it('unreadable for part of the window: those checks are `error` and count for nothing; the readable ones decide', async () => {
    const w = fakeWorld({ checks: [UNREADABLE, UNREADABLE, { requests: 100, errors: 0 }] });
    const view = await withRollback(env, w, operatorInput(), (h) => h.result());

    expect(view).toMatchObject({ status: 'completed', outcome: 'recovered' });
    expect(view.verification?.result).toBe('recovered');
    expect(view.verification?.checks.map((c) => c.kind)).toEqual(['error', 'error', ...Array(10).fill('healthy')]);
    expect(w.notifications.filter((n) => n.kind === 'page')).toEqual([]);
  });

  it('too little traffic, then the provider goes down mid-window: nothing was judged and metrics could not be read, so the result is `error`', async () => {
    const w = fakeWorld({ checks: [{ requests: 0, errors: 0 }, { requests: 2, errors: 0 }, UNREADABLE] });
    const view = await withRollback(env, w, operatorInput(), (h) => h.result());

    expect(view).toMatchObject({ status: 'completed', outcome: 'unverified' });
    expect(view.verification?.result).toBe('error');
    expect(view.verification?.checks.map((c) => c.kind)).toEqual(['inconclusive', 'inconclusive', ...Array(10).fill('error')]);
    expect(w.notifications.filter((n) => n.kind === 'page').map((n) => n.title)).toEqual([
      `ROLLBACK UNVERIFIED, MONITOR IS BLIND: ${PROMPT}`,
    ]);
  });

  it("a latency incident whose own metric cannot be read after the error rate recovered: unverified, result `error`, never 'recovered'", async () => {
    const HIGH_LATENCY = judge(win({ requests: 400, errors: 2, latency_ms: { p50: 150, p95: 500, p99: 900 } }));
    const blindMetric = {
      ...unreadableCheck(
        { rule: 'verification.latency_p99.page', metric: 'latency_p99_ratio', threshold: 1.2, window_s: 300 },
        'prometheus could not answer: connect ECONNREFUSED',
      ),
      same_breach: false,
    };
    const w = fakeWorld({ assessments: [HIGH_LATENCY], incidentMetric: [blindMetric] });
    const view = await withRollback(
      env,
      w,
      (t) => ({
        rollback_id: `inc-${randomUUID().slice(0, 8)}`,
        prompt: PROMPT,
        reason: HIGH_LATENCY.summary,
        severity: HIGH_LATENCY.severity!,
        mode: 'immediate',
        trigger: triggerOf(HIGH_LATENCY),
        requested_by: 'monitor',
        requested_at: t,
        verification: { ...DEFAULT_VERIFICATION },
        incident: {
          version: 'v2.0.0',
          verdict: HIGH_LATENCY,
          action: HIGH_LATENCY.action as RuleAction,
          deadline_s: HIGH_LATENCY.deadline_s!,
          default_action: 'rollback',
        },
      }),
      async (h) => {
        await until(h, 'the decision request', (v) => v.status === 'awaiting_approval');
        await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
        return h.result();
      },
    );
    expect(view).toMatchObject({ status: 'completed', outcome: 'unverified' });
    expect(view.verification?.result).toBe('error');
    expect(view.verification?.checks.at(-1)).toMatchObject({ kind: 'error', metric: 'latency_p99_ratio' });
    expect(w.notifications.some((n) => n.kind === 'page' && n.title.startsWith('ROLLBACK UNVERIFIED, MONITOR IS BLIND'))).toBe(true);
  });
});

describe('gradual rollback stages when metrics cannot be read', () => {
  const gradual = operatorInput({ mode: 'gradual', severity: 'medium', gradual_plan: { ...DEFAULT_GRADUAL } });
  const percentsOnBad = (w: FakeWorld) => (w.splits ?? []).map((s) => s.split.find((x) => x.version === 'v2.0.0')?.percent ?? 0);

  it('a check that cannot read holds the stage (it judges nothing and does not count toward the stage); fewer than 3 in a row pause nothing', async () => {
    const ok = { requests: 100, errors: 0 };
    const w = fakeWorld({ windows: { 'v1.9.0': [ok, UNREADABLE, UNREADABLE, ok] } });
    const view = await withRollback(env, w, gradual, (h) => h.result());

    expect(view.status).toBe('completed');
    expect(percentsOnBad(w)).toEqual([75, 50, 25]);
    const checks = view.gradual?.checks ?? [];
    // Every stage still had its 10 readable checks; the two unreadable ones are shown, with the provider's reason.
    expect(checks.filter((c) => c.error === undefined)).toHaveLength(30);
    expect(checks.filter((c) => c.error !== undefined).map((c) => c.error)).toEqual([
      expect.stringContaining('ECONNREFUSED'),
      expect.stringContaining('ECONNREFUSED'),
    ]);
    expect(events(view)).not.toContain('paused');
    expect(w.notifications.filter((n) => n.kind === 'page')).toEqual([]);
  });

  it('3 checks in a row that cannot read: the stage pauses (no advance, no rollback of the rollback) and pages; resume → checks start again and it completes', async () => {
    const ok = { requests: 100, errors: 0 };
    const w = fakeWorld({ windows: { 'v1.9.0': [ok, UNREADABLE, UNREADABLE, UNREADABLE, ok] } });
    await withRollback(env, w, gradual, async (h) => {
      await env.sleep(5 * 60_000);
      const paused = await until(h, 'the pause', (v) => v.status === 'paused');
      expect(paused.gradual).toMatchObject({ paused: true, stage: 0, percent: 75 });
      expect(paused.gradual?.paused_reason).toMatch(/metrics could not be read for 3 checks in a row/);
      const pages = w.notifications.filter((n) => n.kind === 'page');
      expect(pages).toHaveLength(1);
      expect(pages[0]!.title).toBe(`GRADUAL ROLLBACK PAUSED, METRICS UNREADABLE: ${PROMPT}`);
      // Held, however long: no further stage, no switch, traffic not put back either.
      await env.sleep(3_600_000);
      expect((await h.query<RollbackView>('state')).status).toBe('paused');
      expect(percentsOnBad(w)).toEqual([75]);
      expect(w.switches).toEqual([]);

      await env.client.workflow.getHandle(`${h.workflowId}/gradual`).signal(resumeSignal, { by: 'bob' });
      const view = await h.result();
      expect(view.status).toBe('completed');
      expect(percentsOnBad(w)).toEqual([75, 50, 25]);
      expect(view.gradual?.checks.filter((c) => c.error === undefined)).toHaveLength(30);
      expect(w.switches).toHaveLength(1);
    });
  });
});

describe('canary stages when metrics cannot be read', () => {
  const plan = { ...DEFAULT_CANARY };
  const promote = judgeCanary({ requests: 500, errors: 2 }, { requests: 5000, errors: 20 }, plan);
  const blind = canaryUnreadable('prometheus could not answer: connect ECONNREFUSED 127.0.0.1:9090');

  async function run(canary: CanaryJudgement[]): Promise<{ w: FakeWorld; r: CanaryResult }> {
    const w: FakeWorld = { ...fakeWorld({ active: 'v1.9.0', checks: [] }), canary };
    const taskQueue = `tq-${randomUUID()}`;
    const worker = await testWorker(env, taskQueue, fakeActivities(w));
    const id = `dep-${randomUUID().slice(0, 8)}`;
    const input: CanaryInput = {
      deployment_id: id,
      prompt: PROMPT,
      version: 'v2.0.0',
      from_version: 'v1.9.0',
      plan,
      actor: 'alice',
      created_at: new Date().toISOString(),
    };
    const r = await worker.runUntil(
      env.client.workflow.execute('canaryWorkflow', { taskQueue, workflowId: `deploy/${PROMPT}/${id}`, args: [input] }),
    );
    return { w, r: r as CanaryResult };
  }

  it('a stage that cannot be judged holds (more than the extra bakes allow, yet no abort on no evidence), pages once after 3 in a row, and goes on when metrics are back', async () => {
    const { w, r } = await run([promote, blind, blind, blind, blind, promote]);

    expect(r.status).toBe('completed');
    expect((w.splits ?? []).map((s) => s.split.find((x) => x.version === 'v2.0.0')?.percent ?? 0)).toEqual([1, 5, 25, 100]);
    expect(r.stages.filter((s) => s.judgement?.outcome === 'error')).toHaveLength(4);
    expect(r.stages.find((s) => s.judgement?.outcome === 'error')).toMatchObject({ percent: 5 });
    const pages = w.notifications.filter((n) => n.kind === 'page');
    expect(pages).toHaveLength(1);
    expect(pages[0]!.title).toBe(`CANARY HOLDING, METRICS UNREADABLE: ${PROMPT} v2.0.0`);
    expect(pages[0]!.message).toMatch(/5 %/);
    expect(w.notifications.some((n) => n.title.startsWith('CANARY ABORTED'))).toBe(false);
    // While it held, the deployment said so.
    const held = (w.deployments ?? []).find((d) => (d.detail as { progress?: { paused?: boolean } }).progress?.paused === true);
    expect((held?.detail as { progress: { paused_reason?: string } } | undefined)?.progress.paused_reason).toMatch(
      /metrics could not be read for 3 checks in a row/,
    );
  });
});

describe('the re-check before an automatic switch when metrics cannot be read', () => {
  const HIGH_ERRORS = judge(win({ requests: 400, errors: 12 })); // 3 % errors: page, default roll back at 5 min
  const CRITICAL = judge(win({ requests: 400, errors: 48 })); // 12 % errors: automatic rollback
  const MEDIUM_QUALITY = judge(win({ requests: 400, errors: 2, quality_mean: 0.68 })); // −15 % quality: observe 1 h
  const HEALTHY = judge(win({ requests: 400, errors: 1, quality_mean: 0.8, latency_ms: { p50: 100, p95: 200, p99: 350 } }));
  /** What `assessNow` answers when the metrics provider cannot answer (src/activities/assessment.ts). */
  const BLIND: Verdict = {
    kind: 'error',
    rule: 'metrics_provider',
    metric: 'requests',
    threshold: 100,
    observed: null,
    window_s: 300,
    samples: 0,
    summary: 'error: metrics could not be read, nothing judged and no action taken (prometheus could not answer: connect ECONNREFUSED)',
  };
  const incidentInput =
    (v: Verdict) =>
    (t: string): RollbackInput => ({
      rollback_id: `inc-${randomUUID().slice(0, 8)}`,
      prompt: PROMPT,
      reason: v.summary,
      severity: v.severity!,
      mode: 'immediate',
      trigger: triggerOf(v),
      requested_by: 'monitor',
      requested_at: t,
      verification: { ...DEFAULT_VERIFICATION },
      incident: { verdict: v, action: v.action as RuleAction, deadline_s: v.deadline_s!, default_action: v.default_action! },
    });
  const reconfirmations = (v: RollbackView) =>
    v.timeline.filter((t) => t.event === 'reconfirmed').map((t) => t.detail as unknown as Verdict & { note?: string });
  const blindPages = (w: FakeWorld) => w.notifications.filter((n) => n.kind === 'page' && n.title.startsWith('CANNOT RE-CONFIRM'));

  it('high, deadline passed: an unreadable re-check neither clears nor switches; re-checked 3 times, then on-call is paged that the monitor is blind and the incident waits for a decision; approve → rolled back', async () => {
    const w = fakeWorld({ assessments: [BLIND] });
    const view = await withRollback(env, w, incidentInput(HIGH_ERRORS), async (h) => {
      await until(h, 'the decision request', (v) => v.status === 'awaiting_approval');
      await env.sleep(5 * 60_000 + 5 * 60_000);
      const held = await until(h, 'the blind page', () => blindPages(w).length > 0);
      // Still open, nothing switched, nothing resolved: the breach stands.
      expect(held.status).toBe('awaiting_approval');
      expect(events(held)).not.toContain('cleared');
      expect(w.switches).toEqual([]);
      expect(reconfirmations(held).map((r) => r.kind)).toEqual(['error', 'error', 'error']);
      expect(reconfirmations(held)[0]!.note).toMatch(/metrics could not be read.*the high breach \(high: error rate 3\.00 %.*\) stands/);
      expect(held.tier).toBe(3);
      expect(held.deadline).toBeDefined();
      const page = blindPages(w)[0]!;
      expect(page.title).toBe(`CANNOT RE-CONFIRM, MONITOR IS BLIND: ${PROMPT}`);
      expect(page.severity).toBe('high');
      expect(page.message).toContain(HIGH_ERRORS.summary);
      expect(page.message).toContain('ECONNREFUSED');
      expect(page.message).toMatch(/nothing was switched/i);
      await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      return h.result();
    });
    expect(view.status).toBe('completed');
    expect(view.decided_by).toBe('alice');
    expect(w.switches).toHaveLength(1);
    expect(blindPages(w)).toHaveLength(1);
  });

  it('high: metrics readable again at the second re-check and still breached → rolled back automatically, without a blind page', async () => {
    const w = fakeWorld({ assessments: [BLIND, HIGH_ERRORS] });
    const view = await withRollback(env, w, incidentInput(HIGH_ERRORS), (h) => h.result());
    expect(view.status).toBe('completed');
    expect(w.switches).toHaveLength(1);
    expect(reconfirmations(view).map((r) => r.kind)).toEqual(['error', 'breached']);
    expect(blindPages(w)).toEqual([]);
  });

  it('high, blind and nobody decides: at the next deadline the breach is re-checked again — still breached → rolled back; healthy → cleared', async () => {
    const breached = fakeWorld({ assessments: [BLIND, BLIND, BLIND, HIGH_ERRORS] });
    const rolled = await withRollback(env, breached, incidentInput(HIGH_ERRORS), (h) => h.result());
    expect(rolled.status).toBe('completed');
    expect(breached.switches).toHaveLength(1);
    expect(blindPages(breached)).toHaveLength(1);
    expect(reconfirmations(rolled).map((r) => r.kind)).toEqual(['error', 'error', 'error', 'breached']);

    const healthy = fakeWorld({ assessments: [BLIND, BLIND, BLIND, HEALTHY] });
    const cleared = await withRollback(env, healthy, incidentInput(HIGH_ERRORS), (h) => h.result());
    expect(cleared.status).toBe('cleared');
    expect(healthy.switches).toEqual([]);
    expect(String(cleared.timeline.find((t) => t.event === 'cleared')?.detail.why)).toContain(HEALTHY.summary);
  });

  it('high: a worse breach the monitor measures while the re-check cannot read is the evidence: the incident becomes critical and rolls back at once', async () => {
    const w = fakeWorld({ assessments: [BLIND] });
    const view = await withRollback(env, w, incidentInput(HIGH_ERRORS), async (h) => {
      await until(h, 'the decision request', (v) => v.status === 'awaiting_approval');
      await env.sleep(5 * 60_000 + 1_000);
      await until(h, 'the first unreadable re-check', (v) => reconfirmations(v).length === 1);
      await h.signal(breachSignal, CRITICAL);
      return h.result();
    });
    expect(view).toMatchObject({ status: 'completed', outcome: 'recovered', severity: 'critical' });
    expect(w.switches).toHaveLength(1);
    expect(reconfirmations(view).map((r) => [r.kind, r.severity])).toEqual([
      ['error', undefined],
      ['breached', 'critical'],
    ]);
    expect(blindPages(w)).toEqual([]);
  });

  it('medium, observation ended breached: an unreadable re-check does not clear it either', async () => {
    const w = fakeWorld({ assessments: [MEDIUM_QUALITY, BLIND] });
    await withRollback(env, w, incidentInput(MEDIUM_QUALITY), async (h) => {
      await until(h, 'observing', (v) => v.status === 'observing');
      await env.sleep(60 * 60_000 + 5 * 60_000);
      const held = await until(h, 'the blind page', () => blindPages(w).length > 0);
      expect(held.status).toBe('awaiting_approval');
      expect(events(held)).not.toContain('cleared');
      expect(w.switches).toEqual([]);
    });
  });

  it('critical: an unreadable re-check keeps the breach measured on enough samples and switches at once (as before)', async () => {
    const w = fakeWorld({ assessments: [BLIND] });
    const view = await withRollback(env, w, incidentInput(CRITICAL), (h) => h.result());
    expect(view.status).toBe('completed');
    expect(w.switches).toHaveLength(1);
    expect(w.assessNowCalls).toBe(1);
    expect(blindPages(w)).toEqual([]);
  });
});
