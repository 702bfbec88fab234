/**
 * The monitor's check activity over a real SQLite store, run in an activity context (as Temporal runs it):
 * a retry of the same check continues the incident its first attempt claimed, and a prompt whose last
 * incident escalated is not paged again within the cool-down.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activityDeps } from '../support/activity-deps';
import { createActivities, type Activities, type MonitorCheck } from '../../src/activities';
import { initialView, type RollbackInput } from '../../src/domain/rollback';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';

let dir: string;
let a: Adapters;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-check-'));
  a = await openAdapters({ databaseUrl: path.join(dir, 'db.sqlite') }, createLogger('silent'));
  await a.registry.upsertPrompt({ name: 'customer-support' }, 'admin');
  for (const v of ['v1.9.0', 'v2.0.0']) {
    await a.registry.addVersion({ prompt: 'customer-support', version: v, template: v }, 'admin');
    await a.registry.switchActive({ prompt: 'customer-support', to: v, action: 'deploy', key: `dep-${v}`, actor: 'admin', reason: '' });
  }
  await a.registry.setKnownGood('customer-support', 'v1.9.0', true, 'admin', 'baseline');
  // 30 % errors on the active version: critical, automatic rollback.
  await a.metrics.ingest(
    Array.from({ length: 200 }, (_, i) => ({
      prompt: 'customer-support',
      version: 'v2.0.0',
      ok: i >= 60,
      latency_ms: 100,
      at: new Date(),
    })),
  );
});
afterEach(async () => {
  await a.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const deps = () => activityDeps(a);
const activities = () => createActivities(deps());

/** One attempt of one scheduled monitor check of customer-support, in the context Temporal gives it. */
const check = (
  activityId: string,
  attempt: number,
  acts: Activities = activities(),
  scheduled = '2026-01-01T00:00:00.000Z',
  isLocal = false,
): Promise<MonitorCheck> =>
  new MockActivityEnvironment({
    activityId,
    attempt,
    isLocal,
    activityType: 'monitorCheck',
    workflowExecution: { workflowId: 'monitor/customer-support', runId: 'run-0001' },
    scheduledTimestampMs: Date.parse(scheduled),
  }).run(() => acts.monitorCheck({ prompt: 'customer-support', source: 'tick' }));

describe('monitorCheck', () => {
  it('a retry after the claim continues the same incident: open_incident with the stored start input, not "none"', async () => {
    const acts = activities();
    const first = await check('7', 1, acts);
    expect(first.action).toBe('open_incident');
    const id = first.incident!.rollback_id;
    expect(await a.rollbacks.openFor('customer-support')).toBe(id);

    // The first attempt's result was lost (worker crash, timeout): Temporal retries the same activity.
    const retry = await check('7', 2, acts);
    expect(retry.action).toBe('open_incident');
    expect(retry.incident).toEqual(first.incident);
    expect(await a.rollbacks.openFor('customer-support')).toBe(id);

    // A later, different check sees the open incident and leaves it alone.
    const later = await check('8', 1, acts);
    expect(later.action).toBe('none');
    expect(later.note).toContain(id);
  });

  it("the check run in the monitor's workflow task and run again after a worker crash (scheduled anew, a later time) continues the incident it claimed", async () => {
    const acts = activities();
    const first = await check('3', 1, acts, '2026-01-01T00:00:00.000Z', true);
    expect(first.action).toBe('open_incident');
    const id = first.incident!.rollback_id;
    // The workflow task timed out with the worker: the replacement task runs the same check (same run, same
    // activity id) again, scheduled 12 s later.
    const again = await check('3', 1, acts, '2026-01-01T00:00:12.000Z', true);
    expect(again.action).toBe('open_incident');
    expect(again.incident).toEqual(first.incident);
    expect(await a.rollbacks.openFor('customer-support')).toBe(id);
    // Another check of the same run leaves it alone.
    const other = await check('4', 1, acts, '2026-01-01T00:00:30.000Z', true);
    expect(other.action).toBe('none');
    expect(other.note).toContain(id);
  });

  it("an incident the fast path claimed but could not start is started by the monitor's next check after 5 s, not left to the reconciler", async () => {
    // The API's fast path runs the same check outside Temporal (a random id) and its start is lost.
    const claimed = await activities().monitorCheck({ prompt: 'customer-support', source: 'fast_path' });
    expect(claimed.action).toBe('open_incident');
    const id = claimed.incident!.rollback_id;
    // A moment later the monitor checks: the claim is young, its starter may still be at it.
    const soon = await check('20', 1);
    expect(soon).toMatchObject({ action: 'none', note: `rollback ${id} is open` });
    // 6 s later, still nothing saved by a workflow: the monitor starts it from the stored input.
    const later = createActivities({ ...deps(), clock: { now: () => new Date(Date.now() + 6_000) } });
    const start = await check('21', 1, later);
    expect(start).toMatchObject({ action: 'open_incident', note: `starting ${id}, claimed but not started` });
    expect(start.incident).toEqual(claimed.incident);
    // Once its workflow saved its state, the monitor leaves it alone.
    const view = (await a.rollbacks.get(id))!;
    await a.rollbacks.save({
      ...view,
      timeline: [{ at: new Date().toISOString(), event: 'detected' } as never],
      updated_at: new Date(Date.now() + 1000).toISOString(),
    });
    expect(await check('22', 1, later)).toMatchObject({ action: 'none', note: `rollback ${id} is open` });
  });

  it("a monitor's claim that its workflow never started (the monitor ended within the check's task) is started by the API's fast path at once", async () => {
    // The monitor's check claimed the incident; its workflow task never completed (terminated from the Web UI, say),
    // so the child was never started and no monitor is left to start it.
    const claimed = await check('40', 1, activities(), new Date().toISOString(), true);
    expect(claimed.action).toBe('open_incident');
    const id = claimed.incident!.rollback_id;
    // A tick would leave a claim this young to its starter.
    expect(await check('41', 1)).toMatchObject({ action: 'none', note: `rollback ${id} is open` });
    // The API's fast path judges the critical breach: it starts the claim now (a start already made is refused).
    const fast = await activities().monitorCheck({ prompt: 'customer-support', source: 'fast_path', unstarted_after_ms: 0 });
    expect(fast).toMatchObject({ action: 'open_incident', note: `starting ${id}, claimed but not started` });
    expect(fast.incident).toEqual(claimed.incident);
    expect(await a.rollbacks.openFor('customer-support')).toBe(id);
  });

  it('a retry that comes after its incident already ran to the end opens nothing again', async () => {
    const acts = activities();
    const first = await check('11', 1, acts);
    expect(first.action).toBe('open_incident');
    const view = (await a.rollbacks.get(first.incident!.rollback_id))!;
    await a.rollbacks.save({ ...view, status: 'completed', updated_at: new Date(Date.now() + 1000).toISOString() });
    const retry = await check('11', 2, acts);
    expect(retry.action).toBe('none');
    expect(retry.note).toContain('already ended');
    expect(await a.rollbacks.openFor('customer-support')).toBeUndefined();
    // The same check re-run in a new workflow task after a worker crash: scheduled at another time, same run + id.
    const rerun = await check('11', 1, acts, '2026-01-01T00:05:00.000Z', true);
    expect(rerun.action).toBe('none');
    expect(rerun.note).toBe(`rollback ${view.rollback_id} from this check already ended (completed)`);
    expect(await a.rollbacks.openFor('customer-support')).toBeUndefined();
  });

  it('after an incident on the prompt escalated, a new critical breach is suppressed within escalation_cooldown_s, naming it', async () => {
    const input: RollbackInput = {
      rollback_id: '20260101-000000-esc00001',
      prompt: 'customer-support',
      reason: 'errors',
      severity: 'critical',
      mode: 'immediate',
      requested_by: 'monitor',
      requested_at: new Date(Date.now() - 60_000).toISOString(),
      verification: DEFAULT_VERIFICATION,
    };
    const view = initialView(input);
    await a.rollbacks.claim(view, input);
    await a.rollbacks.save({ ...view, status: 'escalated', updated_at: new Date().toISOString() });

    const r = await check('9', 1);
    expect(r.action).toBe('suppressed');
    expect(r.note).toContain('20260101-000000-esc00001');
    expect(await a.rollbacks.openFor('customer-support')).toBeUndefined();
    expect((await a.monitors.get('customer-support'))?.last_action ?? 'suppressed').toBe('suppressed');

    // Outside the cool-down the monitor acts again.
    await a.registry.upsertPrompt({ name: 'customer-support', policy: { escalation_cooldown_s: 0 } }, 'admin');
    const again = await check('10', 1);
    expect(again.action).toBe('open_incident');
  });
});
