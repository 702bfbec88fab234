/**
 * The reconciler starting a claimed rollback whose workflow never started (src/activities/reconcile.ts), over a real
 * SQLite store: the start is on record exactly once whichever of the two writes fails — the audit row (the store
 * refuses it once: a real SQLite trigger) or the start (the engine refuses it once). The engine is scripted: it starts
 * a workflow and says which ones run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createReconcileActivities, RECONCILER } from '../../src/activities/reconcile';
import { initialView, type RollbackInput } from '../../src/domain/rollback';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import type { Workflows } from '../../src/ports/workflows';

let adapters: Adapters | undefined;
afterEach(async () => {
  await adapters?.db.close();
  adapters = undefined;
});

const ID = '20261127-000000-recstart';

/** A store holding prompt `support` (v1, then v2 deployed) and a rollback claimed 60 s ago whose workflow never started. */
async function claimedNeverStarted() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-reconcile-'));
  const config = loadConfig({ DATA_DIR: dir, DATABASE_URL: path.join(dir, 'promptback.db') });
  const a = (adapters = await openAdapters(config, createLogger('silent')));
  await a.registry.upsertPrompt({ name: 'support', description: 'x' }, 'alice');
  for (const version of ['v1', 'v2']) {
    await a.registry.addVersion({ prompt: 'support', version, template: version, metadata: {} }, 'alice');
    await a.registry.switchActive({ prompt: 'support', to: version, action: 'deploy', key: `dep-${version}`, actor: 'alice', reason: '' });
  }
  const input: RollbackInput = {
    rollback_id: ID,
    prompt: 'support',
    target_version: 'v1',
    reason: 'error rate 30 % > 5 %',
    severity: 'critical',
    mode: 'immediate',
    requested_by: 'ops@example.com',
    requested_at: new Date(Date.now() - 60_000).toISOString(),
    verification: DEFAULT_VERIFICATION,
  };
  expect((await a.rollbacks.claim(initialView(input), input)).ok).toBe(true);
  return a;
}

/**
 * The engine: runs what it started (a second start of one running is refused as already started); `refuseFirstStart`
 * fails the first start as an engine that did not answer would.
 */
function scriptedEngine(opts: { refuseFirstStart?: boolean } = {}) {
  const running = new Set<string>();
  const starts: string[] = [];
  let refused = !opts.refuseFirstStart;
  const engine = {
    describe: (id: string) => Promise.resolve(running.has(id) ? ('running' as const) : ('not_found' as const)),
    startRollback: (input: RollbackInput) => {
      if (!refused) {
        refused = true;
        return Promise.reject(new Error('the engine did not answer in time'));
      }
      const id = `rollback/${input.prompt}/${input.rollback_id}`;
      if (running.has(id))
        return Promise.reject(Object.assign(new Error(`${id} already started`), { name: 'WorkflowExecutionAlreadyStartedError' }));
      starts.push(input.rollback_id);
      running.add(id);
      return Promise.resolve({ workflow_id: `rollback/${input.prompt}/${input.rollback_id}` });
    },
    startMonitor: (prompt: string) => Promise.resolve({ workflow_id: `monitor/${prompt}`, created: true }),
  };
  return { engine: engine as unknown as Workflows, starts };
}

const reconcilerOver = (a: Adapters, engine: Workflows) =>
  createReconcileActivities({
    registry: a.registry,
    rollbacks: a.rollbacks,
    monitors: a.monitors,
    clock: a.clock,
    engine,
    graceS: 30,
    monitorIntervalS: 30,
  });

const startRows = async (a: Adapters) => (await a.registry.audit({ prompt: 'support' })).filter((r) => r.action === 'rollback.start');

describe('the reconciler starting a rollback that never started', () => {
  it('puts the start on record even when the store refused its audit row the first time', async () => {
    const a = await claimedNeverStarted();
    const { engine, starts } = scriptedEngine();
    const reconciler = reconcilerOver(a, engine);
    a.db.sqlite!.exec(
      `CREATE TRIGGER refuse_start BEFORE INSERT ON audit_log WHEN NEW.action = 'rollback.start' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    );
    const first = await reconciler.reconcile();
    expect(first.errors).toEqual([expect.stringContaining('disk I/O error')]);
    a.db.sqlite!.exec('DROP TRIGGER refuse_start');
    await reconciler.reconcile();
    await reconciler.reconcile();
    expect(starts).toEqual([ID]);
    const rows = await startRows(a);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: RECONCILER, from_version: 'v2', to_version: 'v1', detail: { rollback_id: ID } });
  });

  it('two reconcilers running the same pass at once put the start on record once', async () => {
    const a = await claimedNeverStarted();
    const { engine, starts } = scriptedEngine();
    const [one, two] = [reconcilerOver(a, engine), reconcilerOver(a, engine)];
    const passes = await Promise.all([one.reconcile(), two.reconcile()]);
    expect(passes.flatMap((p) => p.errors)).toEqual([]);
    expect(starts).toEqual([ID]);
    const rows = await startRows(a);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.reason).toMatch(/^claimed \d+ s ago and its workflow had not started; starting it from the stored input$/);
  });

  it('writes the row once when the engine refused the first start', async () => {
    const a = await claimedNeverStarted();
    const { engine, starts } = scriptedEngine({ refuseFirstStart: true });
    const reconciler = reconcilerOver(a, engine);
    expect((await reconciler.reconcile()).errors).toEqual([expect.stringContaining('the engine did not answer')]);
    expect((await reconciler.reconcile()).started).toEqual([ID]);
    await reconciler.reconcile();
    expect(starts).toEqual([ID]);
    expect(await startRows(a)).toHaveLength(1);
  });
});
