import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  // The API runs in-process; workers run as their own OS processes so they can be killed for real.
  stack = await startStack({ namespace: 'it-crash', worker: false, env: { VERIFY_DURATION_S: '30' } });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

describe('durability', () => {
  it('a worker killed with SIGKILL mid-rollback: a new worker finishes it, with exactly one switch and one audit row', async () => {
    const first = stack.spawnWorker();
    const r = await http(stack.url, 'POST', '/api/rollback', {
      prompt: 'customer-support',
      target_version: 'v1.9.0',
      reason: 'crash drill',
    });
    expect(r.status).toBe(202);
    const id: string = r.body.rollback_id;

    // Mid-rollback: switched and verifying, timers pending on the server.
    await waitFor(
      'verifying',
      async () => ((await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body.status === 'verifying' ? true : undefined),
      60_000,
    );
    first.kill('SIGKILL');
    await once(first, 'exit');

    const second = stack.spawnWorker();
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const done = await waitFor(
      'completion by the second worker',
      async () => {
        const v = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;
        return v.status === 'completed' ? v : undefined;
      },
      60_000,
    );
    second.kill('SIGTERM');
    await once(second, 'exit');

    expect(done.verification.result).toBe('recovered');
    expect(await stack.adapters.registry.audit({ rollback_id: id })).toHaveLength(1);
    const switches = (await stack.adapters.registry.audit({ prompt: 'customer-support' })).filter((a) => a.action === 'rollback');
    expect(switches).toHaveLength(1);
    expect(done.timeline.filter((t: { event: string }) => t.event === 'switched')).toHaveLength(1);
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support/resolve?key=k')).body.version).toBe('v1.9.0');
    // Verification now runs its whole 30-s window (it used to stop at the first healthy check), plus two worker starts.
  }, 150_000);

  it('a rollback requested while no worker runs waits durably and completes once one starts', async () => {
    await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' });
    const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'customer-support', target_version: 'v1.9.0' });
    expect(r.status).toBe(202);
    await new Promise((res) => setTimeout(res, 1000));
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v2.0.0');
    const worker = stack.spawnWorker();
    await waitFor(
      'switch',
      async () => ((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version === 'v1.9.0' ? true : undefined),
      60_000,
    );
    worker.kill('SIGTERM');
    await once(worker, 'exit');
    expect(await stack.adapters.registry.audit({ rollback_id: r.body.rollback_id })).toHaveLength(1);
  });
});
