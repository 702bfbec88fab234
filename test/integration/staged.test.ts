import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  // Short stages so a whole staged move takes seconds over real HTTP and a real Temporal server.
  stack = await startStack({
    namespace: 'it-staged',
    env: { CANARY_BAKE_S: '1', CANARY_MIN_SAMPLES: '20', GRADUAL_STAGE_S: '2', GRADUAL_CHECK_S: '1', MONITOR_INTERVAL_S: '3600' },
  });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

const prompt = () => http(stack.url, 'GET', '/api/prompts/customer-support').then((r) => r.body);

describe('staged moves over the API', () => {
  it('gradual rollback: traffic moves in stages, pause and resume by API, ends on the target', async () => {
    const r = await http(stack.url, 'POST', '/api/rollback', {
      prompt: 'customer-support',
      target_version: 'v1.9.0',
      mode: 'gradual',
      reason: 'minor regression',
    });
    expect(r.status).toBe(202);
    const id = r.body.rollback_id;
    const split = await waitFor('a staged split', async () => {
      const p = await prompt();
      return p.traffic.length === 2 ? p.traffic : undefined;
    });
    expect(split).toEqual(expect.arrayContaining([{ version: 'v2.0.0', percent: 75 }]));
    const paused = await http(stack.url, 'POST', `/api/rollbacks/${id}/pause`, {});
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', gradual: { paused: true } });
    // Paused means paused: the split does not move.
    const at = (await prompt()).traffic;
    await new Promise((res) => setTimeout(res, 2500));
    expect((await prompt()).traffic).toEqual(at);
    expect((await http(stack.url, 'POST', `/api/rollbacks/${id}/pause`, {})).status).toBe(200);
    const resumed = await http(stack.url, 'POST', `/api/rollbacks/${id}/resume`, {});
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('rolling_back');
    // Resuming what is not paused is refused by the workflow, saying why.
    const again = await http(stack.url, 'POST', `/api/rollbacks/${id}/resume`, {});
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/is rolling_back, not paused/);
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const done = await waitFor(
      'gradual completion',
      async () => {
        const v = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;
        if (v.status === 'verifying') await sendTraffic(stack.url, 'v1.9.0', 20, 0);
        return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
      },
      60_000,
    );
    expect(done.status).toBe('completed');
    expect((await prompt()).traffic).toEqual([{ version: 'v1.9.0', percent: 100 }]);
    const events = done.timeline.map((t: { event: string }) => t.event);
    expect(events).toEqual(expect.arrayContaining(['gradual_started', 'paused', 'resumed', 'switched']));
    // A finished rollback has nothing to pause: 409 saying so.
    const late = await http(stack.url, 'POST', `/api/rollbacks/${id}/pause`, {});
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ rollback_status: 'completed' });
    expect(late.body.detail).toMatch(/is completed; it cannot pause any more/);
  });

  it('canary: healthy stages promote the new version to 100 %; the deployment records each stage', async () => {
    const d = await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0', strategy: 'canary' });
    expect(d.status).toBe(202);
    expect(d.body).toMatchObject({ strategy: 'canary', status: 'rolling_out', from_version: 'v1.9.0' });
    const done = await waitFor(
      'canary end',
      async () => {
        // Traffic for both versions while the canary bakes (as resolve would route it).
        await sendTraffic(stack.url, 'v2.0.0', 30, 0);
        await sendTraffic(stack.url, 'v1.9.0', 30, 0);
        const dep = (await http(stack.url, 'GET', `/api/deployments/${d.body.deployment_id}`)).body;
        return dep.status === 'rolling_out' ? undefined : dep;
      },
      60_000,
    );
    expect(done.status).toBe('completed');
    expect(done.detail.stages.map((s: { percent: number }) => s.percent)).toEqual([1, 5, 25, 100]);
    expect((await prompt()).active_version).toBe('v2.0.0');
  });

  it('canary: a regression aborts and puts all traffic back, with the reason', async () => {
    await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0' });
    const d = await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0', strategy: 'canary' });
    expect(d.status).toBe(202);
    const done = await waitFor(
      'canary abort',
      async () => {
        await sendTraffic(stack.url, 'v2.0.0', 30, 0.5);
        await sendTraffic(stack.url, 'v1.9.0', 30, 0);
        const dep = (await http(stack.url, 'GET', `/api/deployments/${d.body.deployment_id}`)).body;
        return dep.status === 'rolling_out' ? undefined : dep;
      },
      60_000,
    );
    expect(done.status).toBe('aborted');
    expect(done.detail.reason).toMatch(/stage 1 \(1 %\) failed/);
    expect((await prompt()).traffic).toEqual([{ version: 'v1.9.0', percent: 100 }]);
  });

  it('canary: an operator aborts it by API; all traffic goes back, and a second abort is refused', async () => {
    await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0' });
    const d = await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0', strategy: 'canary' });
    expect(d.status).toBe(202);
    const aborted = await http(stack.url, 'POST', `/api/deployments/${d.body.deployment_id}/abort`, {});
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ status: 'aborted', detail: { reason: expect.stringMatching(/^aborted by anonymous at 1 %/) } });
    expect((await prompt()).traffic).toEqual([{ version: 'v1.9.0', percent: 100 }]);
    const again = await http(stack.url, 'POST', `/api/deployments/${d.body.deployment_id}/abort`, {});
    expect(again).toMatchObject({ status: 409, body: { status: 409, title: 'Cannot abort' } });
  });
});
