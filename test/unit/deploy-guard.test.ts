/**
 * A deploy whose switch is made when the store stops answering, before its monitor is guarded: the answer says the
 * deployment was made and the monitor is pending because of the store (the reconciler starts it), rather than failing
 * a request whose change is already committed (a client would deploy again). The store is a real SQLite file; its
 * monitor rows refuse as a busy database does, which is the one part stood in for.
 *
 * And a deploy whose store fails as the deployment is recorded: the switch, its audit row and the record commit
 * together or not at all, so the failed request changed nothing and its retry deploys once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storeOutage } from '../../src/adapters/sql/db';
import { PromptbackService } from '../../src/api/service';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import type { MonitorStore } from '../../src/ports/monitors';
import type { Workflows } from '../../src/ports/workflows';

let adapters: Adapters | undefined;
afterEach(async () => {
  await adapters?.db.close();
  adapters = undefined;
});

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

/**
 * A real SQLite store holding prompt `support` with versions v1 and v2, and the service over it; the monitor rows and
 * the engine's monitor start are the test's (`wrapMonitors` wraps the store's; what the engine was asked to start is in `started`).
 */
async function serviceOnSqlite(wrapMonitors: (m: MonitorStore) => MonitorStore = (m) => m) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-guard-'));
  const config = loadConfig({ DATA_DIR: dir, DATABASE_URL: path.join(dir, 'promptback.db') });
  const a = (adapters = await openAdapters(config, createLogger('silent')));
  await a.registry.upsertPrompt({ name: 'support', description: 'x' }, 'alice');
  for (const version of ['v1', 'v2']) await a.registry.addVersion({ prompt: 'support', version, template: version, metadata: {} }, 'alice');
  const started: string[] = [];
  const workflows = {
    startMonitor: (prompt: string) => {
      started.push(prompt);
      return Promise.resolve({ workflow_id: `monitor/${prompt}`, created: true });
    },
  } as unknown as Workflows;
  const service = new PromptbackService({
    registry: a.registry,
    rollbacks: a.rollbacks,
    metrics: a.metrics,
    workflows,
    monitors: wrapMonitors(a.monitors),
    routes: a.routes,
    clock: a.clock,
    publicUrl: config.publicUrl,
    verification: config.verification,
    monitorIntervalS: config.monitorIntervalS,
    gradualPlan: config.gradual,
    canaryPlan: config.canary,
    storeOutage,
  });
  return { a, service, started };
}

describe('a deploy whose monitor cannot be guarded because the store stopped answering', () => {
  it('answers the deployment made, its monitor pending until the store answers; the switch stands', async () => {
    // From the switch on, the monitor rows cannot be read or written (SQLite busy beyond its timeout).
    const { a, service, started } = await serviceOnSqlite(
      (m) =>
        new Proxy(m, {
          get: (target, prop, receiver) =>
            prop === 'get' || prop === 'upsert' ? () => Promise.reject(busy()) : (Reflect.get(target, prop, receiver) as unknown),
        }),
    );
    const d = await service.deploy('support', 'v2', 'immediate', 'alice');
    expect(d).toMatchObject({ prompt: 'support', version: 'v2', status: 'completed', requested_by: 'alice' });
    expect(d.monitor).toEqual({
      workflow_id: 'monitor/support',
      status: 'pending',
      error:
        'monitor not started yet: the store cannot be used (the database file cannot be used now (SQLITE_BUSY)); once the store answers, the reconciler starts it unless someone had stopped it (GET /api/monitors/support says)',
    });
    expect((await a.registry.getPrompt('support'))?.active_version).toBe('v2');
    expect(started).toEqual([]);
  });
});

describe('a deploy whose record cannot be written', () => {
  it('switches nothing: the request fails whole, and its retry deploys once', async () => {
    const { a, service } = await serviceOnSqlite();
    await service.deploy('support', 'v1', 'immediate', 'alice');
    // The store refuses the next deployment's row (the one part stood in for: a real SQLite trigger).
    a.db.sqlite!.exec(`CREATE TRIGGER refuse_deployment BEFORE INSERT ON deployments BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    await expect(service.deploy('support', 'v2', 'immediate', 'bob')).rejects.toThrow(/disk I\/O error/);
    // Nothing of it stands: v1 serves, and no switch to v2 is on record.
    expect((await a.registry.getPrompt('support'))?.active_version).toBe('v1');
    expect((await a.registry.audit({ prompt: 'support' })).filter((r) => r.action === 'deploy').map((r) => r.to_version)).toEqual(['v1']);
    a.db.sqlite!.exec('DROP TRIGGER refuse_deployment');
    const d = await service.deploy('support', 'v2', 'immediate', 'bob');
    expect(d).toMatchObject({ version: 'v2', from_version: 'v1', status: 'completed', requested_by: 'bob' });
    expect((await a.registry.getPrompt('support'))?.active_version).toBe('v2');
    expect(await a.registry.getDeployment(d.deployment_id)).toMatchObject({ version: 'v2', from_version: 'v1', updated_at: d.updated_at });
    const deploys = (await a.registry.audit({ prompt: 'support' })).filter((r) => r.action === 'deploy');
    expect(deploys.map((r) => [r.actor, r.from_version, r.to_version])).toEqual([
      ['alice', null, 'v1'],
      ['bob', 'v1', 'v2'],
    ]);
  });
});
