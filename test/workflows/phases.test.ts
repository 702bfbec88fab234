/**
 * The v2 rollback's phases as a user sees them, on the time-skipping server with fake activities: decisions as
 * Updates (refusals saying why), notifications that never hold up a switch, a worse breach in every phase,
 * gradual checks that judge the target, verification across the whole window, no rollback cascades.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { RuleAction } from '../../src/domain/policy';
import { triggerOf, type RollbackInput, type RollbackView } from '../../src/domain/rollback';
import { DEFAULT_GRADUAL } from '../../src/domain/stages';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { approveUpdate, breachSignal, pauseUpdate, rejectUpdate, resumeUpdate } from '../../src/workflows/messages';
import type { rollbackWorkflow } from '../../src/workflows/rollback';
import { withRollback as runRollback } from '../support/rollback-run';
import { judge, win } from '../support/verdicts';
import { fakeWorld, type FakeWorld } from '../support/fake-activities';
import { timeSkippingEnv } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const PROMPT = 'customer-support';
const MIN = 60_000;

const CRITICAL = judge(win({ requests: 400, errors: 48 })); // 12 % errors
const HIGH_ERRORS = judge(win({ requests: 400, errors: 12 })); // 3 %
const HIGH_LATENCY = judge(win({ requests: 400, errors: 2, latency_ms: { p50: 150, p95: 500, p99: 900 } })); // 2.25× p99
const INCONCLUSIVE = judge(win({ requests: 3, errors: 0 }));

type Handle = WorkflowHandle<typeof rollbackWorkflow>;

function incidentInput(v: Verdict, requestedAt: string, over: Partial<RollbackInput['incident']> = {}): RollbackInput {
  return {
    rollback_id: `inc-${randomUUID().slice(0, 8)}`,
    prompt: PROMPT,
    reason: v.summary,
    severity: v.severity!,
    mode: 'immediate',
    trigger: triggerOf(v),
    requested_by: 'monitor',
    requested_at: requestedAt,
    verification: { ...DEFAULT_VERIFICATION },
    incident: {
      version: 'v2.0.0',
      verdict: v,
      action: v.action as RuleAction,
      deadline_s: v.deadline_s!,
      default_action: v.default_action!,
      ...over,
    },
  };
}
const operatorInput = (requestedAt: string, over: Partial<RollbackInput> = {}): RollbackInput => ({
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

const withRollback = <T>(
  w: FakeWorld,
  makeInput: (requestedAt: string) => RollbackInput,
  body: (h: Handle, input: RollbackInput) => Promise<T>,
): Promise<T> => runRollback(env, w, makeInput, body);

async function waitFor(h: Handle, what: string, pred: (v: RollbackView) => boolean, timeoutMs = 5_000): Promise<RollbackView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const last = await h.query<RollbackView>('state');
    if (pred(last)) return last;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; status ${last.status}, timeline: ${events(last).join(', ')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
const events = (v: RollbackView): string[] => v.timeline.map((t) => t.event);
const entry = (v: RollbackView, name: string) => v.timeline.find((t) => t.event === name);
const at = (v: RollbackView, name: string): number => Date.parse(entry(v, name)!.at);
const asked = (h: Handle) => waitFor(h, 'the decision request', (v) => events(v).some((e) => e === 'paged' || e === 'notified'));

/** The refusal an update answered with: its ApplicationFailure (type, message, details). */
async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (e as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('decisions are Updates with validators', () => {
  it('approve answers with the state the workflow acted on (rolling back or later), recorded via the API', async () => {
    const w = fakeWorld({ assessments: [HIGH_ERRORS] });
    const { answer, view } = await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        const answer = await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', comment: 'go' }] });
        return { answer, view: await h.result() };
      },
    );
    expect(['rolling_back', 'verifying', 'completed']).toContain(answer.status);
    expect(answer.decided_by).toBe('alice');
    expect(answer.decision).toMatchObject({ kind: 'approve', by: 'alice', via: 'api', comment: 'go' });
    expect(entry(view, 'approved')?.detail).toMatchObject({ by: 'alice', via: 'api' });
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
  });

  it('reject answers `rejected`; a second decision is refused, naming who decided', async () => {
    const w = fakeWorld({ assessments: [HIGH_ERRORS] });
    await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        const answer = await h.executeUpdate(rejectUpdate, { args: [{ by: 'bob' }] });
        expect(answer.status).toBe('rejected');
        await h.result();
        expect(w.switches).toEqual([]);
      },
    );
  });

  it('an approve after the deadline is refused saying what happened instead (no `approved`, no second switch)', async () => {
    const w = fakeWorld({ assessments: [HIGH_ERRORS], checks: [{ requests: 3, errors: 0 }] });
    await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        await env.sleep(5 * MIN + 1000);
        const v = await waitFor(h, 'the default action', (s) => events(s).includes('deadline_passed'));
        const f = await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }));
        expect(f.type).toBe('DecisionRefused');
        expect(f.message).toMatch(/^deadline passed at \d\d:\d\d:\d\d UTC; the default action \*roll back\* was taken/);
        expect(f.details?.[0]).toMatchObject({ decided_by: 'system (decision deadline)', deadline: v.decision?.deadline });
        const view = await h.result();
        expect(events(view)).not.toContain('approved');
        expect(view.decided_by).toBe('system (decision deadline)');
        expect(w.switches).toHaveLength(1);
      },
    );
  });

  it('a decision on an operator rollback is refused: not awaiting a decision', async () => {
    const w = fakeWorld({ checks: [{ requests: 3, errors: 0 }] });
    await withRollback(w, operatorInput, async (h) => {
      const f = await refusal(h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }));
      expect(f.type).toBe('DecisionRefused');
      expect(f.message).toMatch(/not awaiting a decision/);
      await h.result();
    });
  });

  it('pause / resume of a gradual rollback are Updates on the rollback; an immediate one refuses them', async () => {
    const w = fakeWorld();
    await withRollback(
      w,
      (t) => operatorInput(t, { mode: 'gradual', gradual_plan: { ...DEFAULT_GRADUAL } }),
      async (h) => {
        await waitFor(h, 'the stages', (v) => v.gradual !== undefined);
        const paused = await h.executeUpdate(pauseUpdate, { args: [{ by: 'carol' }] });
        expect(paused).toMatchObject({ status: 'paused', gradual: { paused: true, paused_reason: 'paused by carol' } });
        const resumed = await h.executeUpdate(resumeUpdate, { args: [{ by: 'carol' }] });
        expect(resumed.status).toBe('rolling_back');
        const f = await refusal(h.executeUpdate(resumeUpdate, { args: [{ by: 'carol' }] }));
        expect(f.message).toMatch(/not paused/);
        expect((await h.result()).status).toBe('completed');
      },
    );
    await withRollback(fakeWorld({ checks: [{ requests: 3, errors: 0 }] }), operatorInput, async (h) => {
      const f = await refusal(h.executeUpdate(pauseUpdate, { args: [{ by: 'carol' }] }));
      expect(f.type).toBe('DecisionRefused');
      expect(f.message).toMatch(/immediate rollback/);
      await h.result();
    });
  });
});

describe('notifications never hold up a switch', () => {
  it('a critical incident switches within its 2 min while the outbox is failing (the page is queued later)', async () => {
    // 6 failures with 2-s…1-min backoff: over 1 min of retries before anything is queued.
    const w = fakeWorld({ assessments: [CRITICAL], notifyFailures: 6 });
    const view = await withRollback(
      w,
      (t) => incidentInput(CRITICAL, t),
      (h) => h.result(),
    );
    expect(view.status).toBe('completed');
    expect(at(view, 'switched') - Date.parse(view.requested_at)).toBeLessThan(10_000);
    expect(w.notifications.length).toBeGreaterThan(0);
  });

  it('the deadline default action switches at the deadline even when the escalation page cannot be queued yet', async () => {
    const w = fakeWorld({ assessments: [HIGH_ERRORS] });
    const view = await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        w.notifyFailures = 6;
        return h.result();
      },
    );
    expect(at(view, 'switched') - at(view, 'deadline_passed')).toBeLessThan(10_000);
  });

  it("a rollback's notifications enter the outbox in the order it raised them, even when an earlier one takes longer to queue", async () => {
    const w = fakeWorld({ assessments: [HIGH_ERRORS] });
    const view = await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        // The escalation page's first attempt fails (retried 2 s later); the switch's alert comes right after it.
        w.notifyFailures = 1;
        return h.result();
      },
    );
    expect(at(view, 'switched') - at(view, 'deadline_passed')).toBeLessThan(2_000);
    // The outbox order is the delivery order of each channel: what the on-call and #incidents read, in order.
    expect(w.notifications.map((n) => n.title.replace(/:.*$/, ''))).toEqual([
      'Decision needed for customer-support',
      'ESCALATION tier 2',
      'ROLLBACK',
    ]);
    // The timeline lists them in the same order.
    expect(view.timeline.filter((t) => t.event === 'paged' || t.event === 'notified').map((t) => t.detail.outbox_id)).toEqual([
      '1',
      '2',
      '3',
    ]);
  });
});

describe('a worse breach acts in every phase', () => {
  it('during a gradual rollback: a critical breach ends the stages and switches all traffic now', async () => {
    const w = fakeWorld();
    const view = await withRollback(
      w,
      (t) => operatorInput(t, { mode: 'gradual', gradual_plan: { ...DEFAULT_GRADUAL } }),
      async (h) => {
        await waitFor(h, 'stage 1', (v) => v.gradual !== undefined);
        await h.signal(breachSignal, CRITICAL);
        return h.result();
      },
    );
    expect(w.switches).toEqual([{ to: 'v1.9.0', rollback_id: view.rollback_id }]);
    expect(events(view)).toEqual(expect.arrayContaining(['gradual_cut_short', 'switched']));
    // Still in stage 1 (10 min): the switch did not wait for the stages.
    expect(at(view, 'switched') - at(view, 'gradual_cut_short')).toBeLessThan(MIN);
    expect(view.gradual?.cut_short).toBe(CRITICAL.summary);
  });

  it('during verification: a critical breach of the version now serving stops (not a prompt regression), no further switch', async () => {
    const w = fakeWorld({ checks: [{ requests: 3, errors: 0 }] });
    const view = await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
        await waitFor(h, 'verification', (v) => v.status === 'verifying');
        await h.signal(breachSignal, CRITICAL);
        return h.result();
      },
    );
    expect(view).toMatchObject({ status: 'escalated', escalation: 'not_a_prompt_regression' });
    expect(w.switches).toHaveLength(1);
  });
});

describe('gradual rollback judges the target', () => {
  it('a 3 % regression on the bad version does not pause the stages when the target is healthy; both rates are shown', async () => {
    // Both versions together: 3 % × 75 % ≈ 2.25 % > 2 % — the old judgement paused at every check of stage 1.
    const w = fakeWorld({ combined: [{ requests: 400, errors: 9 }], windows: { 'v1.9.0': [{ requests: 100, errors: 0 }] } });
    const view = await withRollback(
      w,
      (t) => operatorInput(t, { mode: 'gradual', gradual_plan: { ...DEFAULT_GRADUAL } }),
      (h) => h.result(),
    );
    expect(view.status).toBe('completed');
    expect(events(view)).not.toContain('paused');
    expect(view.gradual?.checks[0]).toMatchObject({ version: 'v1.9.0', error_rate: 0, blended: { error_rate: 9 / 400 } });
    expect(w.notifications.some((n) => n.title.includes('PAUSED'))).toBe(false);
  });
});

describe('no rollback cascades', () => {
  it('the known-good target fails the same way (error rate > 5 % there too): escalated, not a prompt regression, one switch', async () => {
    const w = fakeWorld({ assessments: [CRITICAL], checks: [{ requests: 100, errors: 20 }] });
    const view = await withRollback(
      w,
      (t) => incidentInput(CRITICAL, t),
      (h) => h.result(),
    );
    expect(view).toMatchObject({ status: 'escalated', escalation: 'not_a_prompt_regression', outcome: 'not_a_prompt_regression' });
    expect(w.switches).toHaveLength(1);
    const page = w.notifications.find((n) => n.kind === 'page');
    expect(page?.message).toMatch(/not a prompt regression — the known-good version v1\.9\.0 fails the same way \(provider outage\?\)/);
    expect(w.active).toBe('v1.9.0');
  });

  it('marks the from-version rolled back from only on its own evidence', async () => {
    const own = fakeWorld({ assessments: [CRITICAL] });
    await withRollback(
      own,
      (t) => incidentInput(CRITICAL, t),
      (h) => h.result(),
    );
    // The incident was measured on v2.0.0, but by the switch v2.1.0 serves: no evidence against v2.1.0.
    const other = fakeWorld({ assessments: [CRITICAL], active: 'v2.1.0', versions: ['v1.9.0', 'v2.0.0', 'v2.1.0'] });
    await withRollback(
      other,
      (t) => incidentInput(CRITICAL, t),
      (h) => h.result(),
    );
    const manual = fakeWorld({ checks: [{ requests: 3, errors: 0 }] });
    await withRollback(manual, operatorInput, (h) => h.result());
    expect([own.marks, other.marks, manual.marks]).toEqual([[true], [false], [true]]);
  });
});

describe('verification as the contract says', () => {
  it('one healthy check is not recovery: a breached check later in the window means not recovered', async () => {
    const w = fakeWorld({
      checks: [
        { requests: 100, errors: 0 },
        { requests: 100, errors: 3 },
        { requests: 100, errors: 0 },
      ],
    });
    const view = await withRollback(w, operatorInput, (h) => h.result());
    expect(view).toMatchObject({ status: 'escalated', outcome: 'not_recovered' });
    expect(view.verification?.checks).toHaveLength(12);
  });

  it('a latency incident is recovered only when p99 is back within its alert threshold too', async () => {
    const slow = {
      ...HIGH_LATENCY,
      kind: 'breached' as const,
      summary: 'not recovered: p99 latency ratio 1.60× > 1.20× over 400 samples',
      same_breach: false,
    };
    const w = fakeWorld({ assessments: [HIGH_LATENCY], incidentMetric: [slow] });
    const view = await withRollback(
      w,
      (t) => incidentInput(HIGH_LATENCY, t, { default_action: 'rollback' }),
      async (h) => {
        await asked(h);
        await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
        return h.result();
      },
    );
    expect(view).toMatchObject({ status: 'escalated', outcome: 'not_recovered' });
    expect(entry(view, 'not_recovered')?.detail.summary).toMatch(/p99 latency ratio 1\.60×/);
  });
});

describe('the 2-minute budget of the critical rule', () => {
  it('an inconclusive re-check does not cancel a critical breach measured on enough samples; target chosen as critical', async () => {
    const w = fakeWorld({ assessments: [INCONCLUSIVE] });
    const view = await withRollback(
      w,
      (t) => incidentInput(CRITICAL, t),
      (h) => h.result(),
    );
    expect(view.status).toBe('completed');
    expect(w.switches).toHaveLength(1);
    expect(entry(view, 'reconfirmed')?.detail).toMatchObject({ kind: 'inconclusive' });
    expect(w.targetCalls).toEqual([{ critical: true }]);
  });
});

describe('truthful records', () => {
  it('a worsening to critical rewrites the reason the page and the list show', async () => {
    const w = fakeWorld({ assessments: [CRITICAL] });
    const view = await withRollback(
      w,
      (t) => incidentInput(HIGH_ERRORS, t),
      async (h) => {
        await asked(h);
        await h.signal(breachSignal, CRITICAL);
        return h.result();
      },
    );
    expect(view.reason).toBe(CRITICAL.summary);
    expect(w.notifications.find((n) => n.title.startsWith('ROLLBACK:'))?.message).toContain(CRITICAL.summary);
    expect(w.saved.at(-1)?.reason).toBe(CRITICAL.summary);
  });
});
