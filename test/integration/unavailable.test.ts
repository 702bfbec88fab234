/**
 * Temporal unreachable: the API starts anyway, every route that needs the engine answers 503 problem+json
 * within 2 s (no hangs, no 500s), ingest stays 202 and fast, and a deploy still goes through with its monitor
 * pending. When a worker reaches a live engine again, the reconciler guards the deployed prompt.
 */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApi } from '../../src/main/api';
import { createLogger } from '../../src/main/logger';
import { startWorker, type WorkerHandle } from '../../src/main/worker';
import { freePort } from '../support/ports';
import { http, startStack, waitFor, type Reply, type Stack } from '../support/stack';

let stack: Stack;
let worker: WorkerHandle | undefined;
beforeAll(async () => {
  // Nothing listens on this port: every engine call is refused.
  const dead = await freePort();
  stack = await startStack({
    namespace: 'it-unavailable',
    worker: false,
    env: { TEMPORAL_ADDRESS: `127.0.0.1:${dead}`, RECONCILE_EVERY_S: '2' },
  });
});
afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
});

async function timed(method: string, path: string, body?: unknown): Promise<Reply & { ms: number }> {
  const t = Date.now();
  const r = await http(stack.url, method, path, body);
  return { ...r, ms: Date.now() - t };
}

const expectEngineDown = (r: Reply & { ms: number }) => {
  expect(r.status, JSON.stringify(r.body)).toBe(503);
  expect(r.type).toContain('application/problem+json');
  expect(r.body.title).toBe('Workflow engine unavailable');
  expect(r.body.detail).toMatch(/Temporal/);
  expect(r.ms).toBeLessThan(2_000);
};

describe('with Temporal unreachable', () => {
  it('deploys still succeed (202) and say the monitor is pending', async () => {
    expect((await http(stack.url, 'PUT', '/api/prompts/customer-support', { description: 'x' })).status).toBe(201);
    for (const version of ['v1.9.0', 'v2.0.0']) {
      expect((await http(stack.url, 'POST', '/api/prompts/customer-support/versions', { version, template: version })).status).toBe(201);
      const d = await timed('POST', '/api/prompts/customer-support/deploy', { version });
      expect(d.status).toBe(202);
      expect(d.ms).toBeLessThan(2_000);
      expect(d.body.monitor).toMatchObject({ status: 'pending', workflow_id: 'monitor/customer-support' });
    }
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v2.0.0');
    expect((await http(stack.url, 'GET', '/api/monitors/customer-support')).body.status).toBe('pending');
  });

  it('rollback, monitor start/stop and canary deploys answer 503 problem+json within 2 s; the prompt is not left blocked', async () => {
    expectEngineDown(await timed('POST', '/api/rollback', { prompt: 'customer-support', target_version: 'v1.9.0' }));
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.open_rollback_id).toBeNull();
    expectEngineDown(await timed('POST', '/api/monitors', { prompt: 'customer-support' }));
    expectEngineDown(await timed('DELETE', '/api/monitors/customer-support'));
    expectEngineDown(await timed('POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0', strategy: 'canary' }));
    await stack.adapters.registry.recordDeployment({
      deployment_id: 'dep-before-outage',
      prompt: 'other',
      version: 'v2',
      strategy: 'canary',
      status: 'rolling_out',
      requested_by: 'alice',
      from_version: 'v1',
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
    expectEngineDown(await timed('POST', '/api/deployments/dep-before-outage/abort'));
    // Nothing was changed by the refused requests.
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v2.0.0');
  });

  it('/readyz is 503 and says the engine is down while the store is fine; /healthz stays 200', async () => {
    const r = await timed('GET', '/readyz');
    expect(r.status).toBe(503);
    expect(r.ms).toBeLessThan(2_000);
    expect(JSON.stringify(r.body)).toMatch(/temporal/i);
    expect(JSON.stringify(r.body)).toMatch(/down/);
    expect((await http(stack.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('ingest stays 202 and fast, even when its fast path wants the monitor to check now', async () => {
    const m = (await stack.adapters.monitors.get('customer-support'))!;
    await stack.adapters.monitors.upsert({ ...m, status: 'running' }); // as if it ran before the engine went away
    const events = Array.from({ length: 200 }, (_, i) => ({ prompt: 'customer-support', version: 'v2.0.0', ok: i >= 60, latency_ms: 100 }));
    const r = await timed('POST', '/api/metrics', { events });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(200);
    expect(r.ms).toBeLessThan(500);
  });
});

describe('stopping while the engine is unreachable', () => {
  it('an API stopped right after its fast path gave up on the engine stops cleanly (no retry fires on a closed connection)', async () => {
    const api = await startApi(stack.config, stack.adapters, stack.config.temporal.address!, createLogger('silent'));
    const events = Array.from({ length: 200 }, (_, i) => ({ prompt: 'customer-support', version: 'v2.0.0', ok: i >= 60, latency_ms: 100 }));
    expect((await http(api.url, 'POST', '/api/metrics', { events })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 300)); // the fast path's engine calls are failing and being retried
    const t = Date.now();
    await api.stop();
    expect(Date.now() - t).toBeLessThan(4_000);
    // A retry timer left behind would fire on the closed channel within this and fail the run ("Channel has been shut down").
    await new Promise((r) => setTimeout(r, 3_000));
  });
});

describe('when the engine is back', () => {
  it('the reconciler starts the deployed prompt’s missing monitor within one interval', async () => {
    const live = inject('temporalAddress');
    const config = { ...stack.config, temporal: { ...stack.config.temporal, address: live } };
    worker = await startWorker(config, stack.adapters, live, {
      workflowBundle: { codePath: inject('workflowBundlePath') },
      workflowsPath: undefined,
    });
    const connection = await Connection.connect({ address: live });
    try {
      const client = new Client({ connection, namespace: 'it-unavailable' });
      const d = await waitFor(
        'the monitor to run',
        async () => {
          try {
            const x = await client.workflow.getHandle('monitor/customer-support').describe();
            return x.status.name === 'RUNNING' ? x : undefined;
          } catch {
            return undefined;
          }
        },
        10_000,
      );
      expect(d.type).toBe('monitorWorkflow');
      // The reconciler starts the workflow, then records the monitor and its audit row: wait for those writes rather
      // than read them the moment the workflow runs (a loaded machine read the audit between the two).
      const row = await waitFor(
        'the audit row of the start',
        async () => (await stack.adapters.registry.audit({ prompt: 'customer-support' })).find((a) => a.action === 'monitor.start'),
        10_000,
      );
      expect(row).toMatchObject({ actor: 'system:reconciler' });
      expect((await stack.adapters.monitors.get('customer-support'))?.status).toBe('running');
    } finally {
      await connection.close();
    }
  });
});
