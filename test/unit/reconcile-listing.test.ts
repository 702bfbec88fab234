/**
 * The reconciler's pass over deployed prompts (src/activities/reconcile.ts) with scripted ports: the monitors the
 * engine lists as running are not described one by one; the others are, and a missing one is started. Without a
 * listing (it failed, or the engine cannot list), every prompt's monitor is described, as before.
 */
import { describe, expect, it } from 'vitest';
import { createReconcileActivities, type ReconcileDeps } from '../../src/activities/reconcile';
import { DomainError } from '../../src/domain/errors';
import type { MonitorRecord } from '../../src/ports/monitors';
import type { AuditEntry } from '../../src/ports/registry';

/** A monitor row as the store keeps it. */
const row = (prompt: string, status: MonitorRecord['status']): MonitorRecord => ({
  prompt,
  workflow_id: `monitor/${prompt}`,
  status,
  interval_s: 60,
  started_by: 'alice',
  started_at: '2026-11-25T00:00:00.000Z',
  stopped_by: null,
  last_check_at: null,
  active_version: null,
  last_verdict: null,
  last_action: null,
  checks: 0,
  updated_at: '2026-11-25T00:00:00.000Z',
});

function deps(
  listing: (() => Promise<Set<string>>) | undefined,
  rows: MonitorRecord[] = ['alpha', 'beta', 'gamma'].map((p) => row(p, 'running')),
  /** The rows as a later read finds them (default: as the pass read them). */
  current: MonitorRecord[] = rows,
) {
  const described: string[] = [];
  const started: string[] = [];
  const written: { row: Partial<MonitorRecord>; audit: AuditEntry; expected: MonitorRecord['status'] | null }[] = [];
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
    monitors: {
      list: () => Promise.resolve(rows),
      get: (prompt: string) => Promise.resolve(current.find((r) => r.prompt === prompt)),
      record: (r: Partial<MonitorRecord>, audit: AuditEntry, expected: MonitorRecord['status'] | null) => {
        written.push({ row: r, audit, expected });
        return Promise.resolve(true);
      },
    },
    clock: { now: () => new Date('2026-11-26T00:00:00.000Z') },
    engine,
    graceS: 30,
    monitorIntervalS: 30,
  } as unknown as ReconcileDeps;
  const activities = createReconcileActivities(d);
  return { reconcile: () => activities.reconcile(), described, started, written };
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

  it('a running monitor whose row is missing or pending is recorded as running, with its audit row; a stopped one is left', async () => {
    const r = deps(
      () => Promise.resolve(new Set(['monitor/alpha', 'monitor/beta', 'monitor/gamma'])),
      [row('beta', 'pending'), row('gamma', 'stopped')],
    );
    const summary = await r.reconcile();
    expect(r.started).toEqual([]);
    expect(summary).toMatchObject({ monitors_started: [], monitors_recorded: ['alpha', 'beta'], errors: [] });
    expect(r.written).toEqual([
      {
        row: expect.objectContaining({ prompt: 'alpha', status: 'running', started_by: 'system:reconciler', interval_s: 30 }),
        audit: expect.objectContaining({
          action: 'monitor.recorded',
          actor: 'system:reconciler',
          reason: expect.stringContaining('recorded as missing'),
        }),
        expected: null,
      },
      {
        row: expect.objectContaining({ prompt: 'beta', status: 'running', started_by: 'alice', interval_s: 60 }),
        audit: expect.objectContaining({ action: 'monitor.recorded', reason: expect.stringContaining('recorded as pending') }),
        expected: 'pending',
      },
    ]);
  });

  it('a monitor to start is read again first: one stopped since the pass read it stays stopped, and is not started', async () => {
    const read = ['alpha', 'beta', 'gamma'].map((p) => row(p, 'running'));
    // The operator's stop of gamma lands after the pass read the rows.
    const r = deps(() => Promise.resolve(new Set(['monitor/alpha', 'monitor/beta'])), read, [...read.slice(0, 2), row('gamma', 'stopped')]);
    const summary = await r.reconcile();
    expect(r.described).toEqual(['monitor/gamma']);
    expect(r.started).toEqual([]);
    expect(r.written).toEqual([]);
    expect(summary).toMatchObject({ monitors_started: [], monitors_recorded: [], errors: [] });
  });

  it('an engine that cannot list: every monitor is described', async () => {
    const r = deps(undefined);
    await r.reconcile();
    expect(r.described).toEqual(['monitor/alpha', 'monitor/beta', 'monitor/gamma']);
  });
});
