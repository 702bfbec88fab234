/**
 * What the Temporal Web UI shows of an incident: a history short enough to read (the view is saved on state
 * changes, not on every check), and timers named for what they wait for.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleAction } from '../../src/domain/policy';
import { triggerOf, type RollbackInput, type RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { approveUpdate } from '../../src/workflows/messages';
import type { rollbackWorkflow } from '../../src/workflows/rollback';
import { fakeWorld } from '../support/fake-activities';
import { withRollback } from '../support/rollback-run';
import { timeSkippingEnv } from '../support/time-skipping';
import { judge, win } from '../support/verdicts';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const HIGH_ERRORS = judge(win({ requests: 400, errors: 12 })); // 3 % errors: page on-call, 5-min deadline

function incident(v: Verdict, requestedAt: string): RollbackInput {
  return {
    rollback_id: `inc-${randomUUID().slice(0, 8)}`,
    prompt: 'customer-support',
    reason: v.summary,
    severity: v.severity!,
    mode: 'immediate',
    trigger: triggerOf(v),
    requested_by: 'monitor',
    requested_at: requestedAt,
    // The default: a check every 5 s for 60 s (12 checks).
    verification: { ...DEFAULT_VERIFICATION },
    incident: { verdict: v, action: v.action as RuleAction, deadline_s: v.deadline_s!, default_action: v.default_action! },
  };
}

type Handle = WorkflowHandle<typeof rollbackWorkflow>;

async function until(h: Handle, pred: (v: RollbackView) => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!pred(await h.query<RollbackView>('state'))) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the incident');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A high incident: paged, approved by alice through the API two minutes in, switched, verified over 12 checks. */
async function typicalIncident() {
  const w = fakeWorld({});
  return withRollback(
    env,
    w,
    (at) => incident(HIGH_ERRORS, at),
    async (h) => {
      await until(h, (v) => v.timeline.some((t) => t.event === 'paged'));
      // What the Web UI shows as the workflow's current details while on-call decides.
      const details = (await h.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
      await env.sleep('2 minutes');
      await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
      const view = await h.result();
      const history = await h.fetchHistory();
      return { w, view, details, events: history.events ?? [] };
    },
  );
}

/** The summaries the Web UI shows beside timers and (local) activities, in history order. */
function summaries(events: temporal.api.history.v1.IHistoryEvent[], kind: 'timer' | 'local activity'): string[] {
  return events
    .filter((e) =>
      kind === 'timer' ? e.timerStartedEventAttributes : e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    )
    .map((e) => {
      const data = e.userMetadata?.summary?.data;
      return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : '(none)';
    });
}

describe('an incident in the Temporal Web UI', () => {
  it('keeps a typical incident (page, approval, switch, 12 verification checks) under 150 history events', async () => {
    const { w, view, events } = await typicalIncident();

    expect(view.status).toBe('completed');
    expect(view.outcome).toBe('recovered');
    expect(view.verification?.checks).toHaveLength(12);
    // What GET /api/rollbacks/{id} reads: the stored record holds every check once the rollback ended.
    expect(w.saved.at(-1)?.verification?.checks).toHaveLength(12);
    expect(w.saved.at(-1)?.status).toBe('completed');
    expect(events.length).toBeLessThanOrEqual(150);
  });

  it('names every timer for what it waits for, and every save for the state it records', async () => {
    const { events } = await typicalIncident();

    expect(summaries(events, 'timer')).toEqual([
      'decision deadline (tier 1)',
      ...Array.from({ length: 12 }, (_, i) => `verification check ${i + 1}/12`),
    ]);
    const saves = summaries(events, 'local activity').filter((s) => s.startsWith('save: '));
    expect(saves[0]).toBe('save: awaiting_approval (awaiting_approval)');
    expect(saves).toContain('save: rolling_back (rolling_back)');
    expect(saves).toContain('save: verifying (switched)');
    expect(saves.at(-1)).toBe('save: completed (recovered)');
  });

  it("shows the incident's state, severity, versions and deadline as the workflow's current details", async () => {
    const { details, view } = await typicalIncident();

    expect(details).toContain('**awaiting_approval** · severity high · customer-support');
    expect(details).toMatch(/decision deadline \S+ \(tier 1; then roll back\)/);
    expect(details).toContain(`reason: ${view.reason}`);
  });
});
