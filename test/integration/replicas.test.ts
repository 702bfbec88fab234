/**
 * Production shape: two API processes and two workers on one Postgres against one Temporal server (the dev server in
 * the default run; the production server on Postgres persistence in `npm run test:cluster`). One worker and one API
 * are killed with SIGKILL in the middle of a gradual rollback; what a user relies on must still hold.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDb, type Db } from '../../src/adapters/sql/db';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { systemClock } from '../../src/ports/clock';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { spawnApi, spawnWorker, type Proc } from '../support/processes';
import { http, waitFor } from '../support/stack';

const available = findPostgres() !== undefined || process.env.CI === 'true';
const NAMESPACE = 'it-replicas';

describe.runIf(available)('replicas on one Postgres and one Temporal server', () => {
  let pg: PgInstance;
  let db: Db;
  let env: Record<string, string>;
  const procs: Proc[] = [];
  let temporal: Client;

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.newDatabase();
    env = {
      DATABASE_URL: url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: `replicas-${randomUUID()}`,
      MONITOR_INTERVAL_S: '2',
      VERIFY_INTERVAL_S: '1',
      VERIFY_DURATION_S: '5',
      MIN_SAMPLES: '5',
      GRADUAL_STAGES: '50',
      GRADUAL_STAGE_S: '6',
      GRADUAL_CHECK_S: '1',
      RETENTION_EVERY_S: '3600',
      LOG_LEVEL: 'error',
    };
    db = await openDb(url); // migrations applied before the processes race to apply them
    temporal = new Client({ connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS! }), namespace: NAMESPACE });
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) await p.kill();
    await temporal?.connection.close();
    await db?.close();
    pg?.stop();
  });

  it('kill one worker and one API mid-rollback: one switch, one audit row, both APIs serve the new version, one monitor, nothing stuck', async () => {
    const [apiA, apiB] = await Promise.all([spawnApi(env), spawnApi(env)]);
    procs.push(apiA, apiB);
    const [worker1, worker2] = [spawnWorker(env), spawnWorker(env)];
    procs.push(worker1, worker2);

    // Registered and deployed through replica A, as a CI pipeline would.
    const seed: [string, string, unknown][] = [
      ['PUT', '/api/prompts/customer-support', { owner: 'support-team' }],
      ['POST', '/api/prompts/customer-support/versions', { version: 'v1.9.0', template: 'You are a helpful support agent.' }],
      ['POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0' }],
      ['POST', '/api/prompts/customer-support/versions', { version: 'v2.0.0', template: 'You are a very concise support agent.' }],
      ['POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' }],
    ];
    for (const [m, p, b] of seed) expect((await http(apiA.url, m, p, b)).status).toBeLessThan(300);
    expect((await http(apiB.url, 'GET', '/api/prompts/customer-support/resolve?key=k')).body.version).toBe('v2.0.0');

    // A gradual rollback requested through replica B.
    const r = await http(apiB.url, 'POST', '/api/rollback', {
      prompt: 'customer-support',
      target_version: 'v1.9.0',
      mode: 'gradual',
      reason: 'replica drill',
    });
    expect(r.status).toBe(202);
    const id: string = r.body.rollback_id;

    // In the middle: half the traffic moved, the stage timer pending.
    await waitFor(
      'first gradual stage',
      async () => {
        const v = (await http(apiB.url, 'GET', `/api/rollbacks/${id}`)).body;
        return v.status === 'rolling_back' && v.gradual?.percent === 50 ? true : undefined;
      },
      90_000,
    );
    await worker1.kill('SIGKILL');
    await apiA.kill('SIGKILL');

    // Healthy traffic on the target so verification can judge it, through the surviving replica.
    const traffic = setInterval(() => {
      const events = Array.from({ length: 20 }, (_, i) => ({
        prompt: 'customer-support',
        version: 'v1.9.0',
        ok: true,
        latency_ms: 100 + i,
      }));
      void http(apiB.url, 'POST', '/api/metrics', { events }).catch(() => undefined);
    }, 500);
    let done: any;
    try {
      done = await waitFor(
        'the rollback to finish on the surviving worker',
        async () => {
          const v = (await http(apiB.url, 'GET', `/api/rollbacks/${id}`)).body;
          return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
        },
        120_000,
      );
    } finally {
      clearInterval(traffic);
    }
    expect(done.status).toBe('completed');

    // Replica A comes back (a restarted pod): both replicas serve the new version for every key.
    const apiA2 = await spawnApi(env, apiA.port);
    procs.push(apiA2);
    for (const api of [apiA2, apiB]) {
      const versions = await Promise.all(
        Array.from(
          { length: 100 },
          async (_, i) => (await http(api.url, 'GET', `/api/prompts/customer-support/resolve?key=user-${i}`)).body.version,
        ),
      );
      expect(new Set(versions)).toEqual(new Set(['v1.9.0']));
    }

    // Exactly one switch and one audit row for the rollback.
    const registry = new SqlRegistry(db.kysely, systemClock);
    expect(await registry.audit({ rollback_id: id })).toHaveLength(1);
    expect(done.timeline.filter((t: { event: string }) => t.event === 'switched')).toHaveLength(1);

    // One monitor per prompt, nothing stuck: no open rollback, no rollback workflow still running.
    const count = async (query: string) => (await temporal.workflow.count(query)).count;
    await waitFor('visibility to settle', async () =>
      (await count(`WorkflowId = 'monitor/customer-support' AND ExecutionStatus = 'Running'`)) === 1 ? true : undefined,
    );
    expect(await count(`WorkflowType = 'rollbackWorkflow' AND ExecutionStatus = 'Running'`)).toBe(0);
    expect(
      (await http(apiB.url, 'GET', '/api/prompts')).body.prompts.find((p: any) => p.name === 'customer-support').open_rollback_id,
    ).toBeNull();
  }, 420_000);
});
