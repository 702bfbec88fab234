import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlMonitorStore } from '../../src/adapters/monitors/sql';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { SqlRollbackStore } from '../../src/adapters/rollbacks/sql';
import { openDb, type Db } from '../../src/adapters/sql/db';
import { SqlTelemetryReader } from '../../src/adapters/telemetry/sql';
import type { RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { advancingClock } from '../support/clock';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';

const verdict = (kind: Verdict['kind'], severity?: Verdict['severity']): Verdict => ({
  kind,
  rule: 'error_rate',
  metric: 'error_rate',
  threshold: 0.05,
  observed: 0.3,
  window_s: 300,
  samples: 200,
  summary: `${kind}`,
  ...(severity ? { severity } : {}),
});

const view = (over: Partial<RollbackView> & Pick<RollbackView, 'rollback_id' | 'prompt' | 'status' | 'severity'>): RollbackView => ({
  workflow_id: `rollback/${over.prompt}/${over.rollback_id}`,
  from_version: 'v2',
  to_version: 'v1',
  reason: 'bad',
  mode: 'immediate',
  requested_by: 'alice',
  requested_at: '2025-01-01T00:00:00.000Z',
  timeline: [],
  updated_at: '2025-01-01T00:10:00.000Z',
  ...over,
});

/** What /metrics reads from the store, on each dialect: the same answers from the same rows. */
function telemetryReaderContract(name: string, open: () => Promise<Db>): void {
  describe(`telemetry reader: ${name}`, () => {
    let db: Db;
    let reader: SqlTelemetryReader;
    let switchedAt: Record<string, string>;
    beforeAll(async () => {
      db = await open();
      reader = new SqlTelemetryReader(db.kysely);
      // The registry's clock starts at 00:00 and moves a second per read: the switches land a little after.
      const registry = new SqlRegistry(db.kysely, advancingClock(Date.parse('2025-01-01T00:01:00.000Z')));
      const rollbacks = new SqlRollbackStore(db.kysely);
      const monitors = new SqlMonitorStore(db.kysely);
      for (const p of ['cs', 'triage', 'faq']) {
        await registry.upsertPrompt({ name: p }, 'admin');
        for (const v of ['v1', 'v2']) await registry.addVersion({ prompt: p, version: v, template: v }, 'admin');
        await registry.switchActive({ prompt: p, to: 'v2', action: 'deploy', key: `deploy-${p}`, actor: 'admin', reason: 'release' });
      }
      await rollbacks.claim(
        view({
          rollback_id: 'r-op',
          prompt: 'cs',
          status: 'completed',
          severity: 'high',
          timeline: [{ at: '2025-01-01T00:00:00.000Z', event: 'requested', detail: {} }],
        }),
      );
      await rollbacks.claim(
        view({
          rollback_id: 'r-inc',
          prompt: 'triage',
          status: 'escalated',
          // Raised to critical after a failed verification; the breach was judged high.
          severity: 'critical',
          incident_rule: 'error_rate',
          requested_by: 'monitor',
          requested_at: '2025-01-01T00:00:30.000Z',
          timeline: [{ at: '2025-01-01T00:00:31.000Z', event: 'detected', detail: { ...verdict('breached', 'high') } }],
        }),
      );
      await rollbacks.claim(
        view({
          rollback_id: 'r-wait',
          prompt: 'faq',
          status: 'awaiting_approval',
          severity: 'high',
          requested_at: '2025-01-01T00:02:00.000Z',
          deadline: '2025-01-01T00:07:00.000Z',
          timeline: [{ at: '2025-01-01T00:02:01.000Z', event: 'awaiting_approval', detail: {} }],
        }),
      );
      switchedAt = {};
      for (const [id, prompt] of [
        ['r-op', 'cs'],
        ['r-inc', 'triage'],
      ] as const) {
        const r = await registry.switchActive({ prompt, to: 'v1', action: 'rollback', key: id, actor: 'x', reason: 'bad' });
        switchedAt[id] = r.at;
        // A retried switch writes nothing new.
        await registry.switchActive({ prompt, to: 'v1', action: 'rollback', key: id, actor: 'x', reason: 'bad' });
      }
      // A group member's switch is keyed `{id}/{prompt}`: not a rollback of its own.
      await registry.switchActive({ prompt: 'faq', to: 'v1', action: 'rollback', key: 'r-op/faq', actor: 'x', reason: 'group' });

      const started = { workflow_id: 'm', status: 'running' as const, interval_s: 30, started_by: 'a', stopped_by: null };
      await monitors.upsert({ ...started, prompt: 'cs', started_at: '2025-01-01T00:00:00.000Z', updated_at: '2025-01-01T00:00:00.000Z' });
      await monitors.recordCheck('cs', { at: '2025-01-01T00:05:00.000Z', active_version: 'v1', verdict: verdict('error'), action: 'none' });
      await monitors.upsert({
        ...started,
        prompt: 'triage',
        started_at: '2025-01-01T00:04:00.000Z',
        updated_at: '2025-01-01T00:04:00.000Z',
      });
      await monitors.upsert({
        ...started,
        prompt: 'faq',
        status: 'stopped',
        stopped_by: 'a',
        started_at: '2025-01-01T00:00:00.000Z',
        updated_at: '2025-01-01T00:00:00.000Z',
      });
    });
    afterAll(async () => {
      await db?.close();
    });

    it('counts rollbacks by status and severity', async () => {
      const counts = await reader.rollbackCounts();
      expect(counts.sort((a, b) => a.status.localeCompare(b.status))).toEqual([
        { status: 'awaiting_approval', severity: 'high', count: 1 },
        { status: 'completed', severity: 'high', count: 1 },
        { status: 'escalated', severity: 'critical', count: 1 },
      ]);
    });

    it('lists pending decisions from when they started waiting, with their deadlines', async () => {
      expect(await reader.pendingApprovals()).toEqual([
        { rollback_id: 'r-wait', since: '2025-01-01T00:02:01.000Z', deadline: '2025-01-01T00:07:00.000Z' },
      ]);
    });

    it('lists running monitors with their last verdict (none before the first check); stopped ones are left out', async () => {
      const m = await reader.runningMonitors();
      expect(m.sort((a, b) => a.started_at.localeCompare(b.started_at))).toEqual([
        { verdict: 'error', last_check_at: '2025-01-01T00:05:00.000Z', started_at: '2025-01-01T00:00:00.000Z' },
        { verdict: 'none', last_check_at: null, started_at: '2025-01-01T00:04:00.000Z' },
      ]);
    });

    it("times each switched rollback from its request (and an incident's detection) to its audit row; other keys are left out", async () => {
      const ids = await reader.switchedRollbackIds();
      expect(ids.sort()).toEqual(['r-inc', 'r-op', 'r-op/faq']);
      const timings = await reader.switchTimings(ids);
      expect(timings.sort((a, b) => a.rollback_id.localeCompare(b.rollback_id))).toEqual([
        {
          rollback_id: 'r-inc',
          severity: 'high',
          trigger: 'incident',
          requested_at: '2025-01-01T00:00:30.000Z',
          detected_at: '2025-01-01T00:00:30.000Z',
          switched_at: switchedAt['r-inc'],
        },
        {
          rollback_id: 'r-op',
          severity: 'high',
          trigger: 'operator',
          requested_at: '2025-01-01T00:00:00.000Z',
          detected_at: null,
          switched_at: switchedAt['r-op'],
        },
      ]);
      expect(Date.parse(switchedAt['r-op']!)).toBeGreaterThan(Date.parse('2025-01-01T00:01:00.000Z'));
    });
  });
}

telemetryReaderContract('sqlite', async () =>
  openDb(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-telemetry-')), 'db.sqlite')),
);

describe.runIf(findPostgres() !== undefined)('on PostgreSQL', () => {
  let instance: PgInstance;
  beforeAll(async () => {
    instance = await startPostgres();
  }, 60_000);
  afterAll(() => instance?.stop());
  telemetryReaderContract('postgres', async () => openDb(await instance.newDatabase()));
});
