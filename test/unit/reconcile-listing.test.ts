/**
 * The reconciler's pass over deployed prompts (src/activities/reconcile.ts) with scripted ports: the monitors the
 * engine lists as running are not described one by one; the others are, and a missing one is started. Without a
 * listing (it failed, or the engine cannot list), every prompt's monitor is described, as before.
 */
import { describe, expect, it } from 'vitest';
import { createReconcileActivities, type ReconcileDeps } from '../../src/activities/reconcile';
import { DomainError } from '../../src/domain/errors';

function deps(listing: (() => Promise<Set<string>>) | undefined) {
  const described: string[] = [];
  const started: string[] = [];
  const prompts = ['alpha', 'beta', 'gamma'].map((name) => ({ name, active_version: 'v1' }));
  const engine = {
    describe: (id: string) => {
      described.push(id);
      return Promise.resolve(id === 'monitor/gamma' ? ('not_found' as const) : ('running' as const));
    },
    startMonitor: (prompt: string) => {
      started.push(prompt);
      return Promise.resolve({ workflow_id: `monitor/${prompt}`, created: true });
    },
    ...(listing ? { runningMonitors: listing } : {}),
  };
  const d = {
    registry: {
      listPrompts: () => Promise.resolve(prompts),
      rollingOut: () => Promise.resolve([]),
      appendAudit: () => Promise.resolve(),
    },
    rollbacks: { listOpen: () => Promise.resolve([]) },
    monitors: { get: () => Promise.resolve(undefined), upsert: () => Promise.resolve() },
    clock: { now: () => new Date('2026-11-26T00:00:00.000Z') },
    engine,
    graceS: 30,
    monitorIntervalS: 30,
  } as unknown as ReconcileDeps;
  const activities = createReconcileActivities(d);
  return { reconcile: () => activities.reconcile(), described, started };
}

describe('reconciler: monitors of deployed prompts', () => {
  it('describes only the monitors the listing does not show running, and starts the missing one', async () => {
    const r = deps(() => Promise.resolve(new Set(['monitor/alpha', 'monitor/beta'])));
    const summary = await r.reconcile();
    expect(r.described).toEqual(['monitor/gamma']);
    expect(r.started).toEqual(['gamma']);
    expect(summary).toMatchObject({ monitors_started: ['gamma'], errors: [] });
  });

  it('a listing that fails is said in the summary, and every monitor is described instead', async () => {
    const r = deps(() => Promise.reject(new Error('visibility query refused')));
    const summary = await r.reconcile();
    expect(r.described).toEqual(['monitor/alpha', 'monitor/beta', 'monitor/gamma']);
    expect(r.started).toEqual(['gamma']);
    expect(summary.errors).toEqual(['listing the running monitors: visibility query refused']);
  });

  it('a listing the engine does not answer (visibility down) still lets the describes decide', async () => {
    const r = deps(() => Promise.reject(new DomainError('EngineUnavailable', 'the workflow engine (Temporal) did not answer')));
    const summary = await r.reconcile();
    expect(r.described).toEqual(['monitor/alpha', 'monitor/beta', 'monitor/gamma']);
    expect(r.started).toEqual(['gamma']);
    expect(summary.errors).toEqual(['listing the running monitors: the workflow engine (Temporal) did not answer']);
  });

  it('an engine that cannot list: every monitor is described', async () => {
    const r = deps(undefined);
    await r.reconcile();
    expect(r.described).toEqual(['monitor/alpha', 'monitor/beta', 'monitor/gamma']);
  });
});
