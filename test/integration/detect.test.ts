import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  // Monitor ticks every 60 s here, so a rollback within seconds can only come from the ingest fast path.
  stack = await startStack({ namespace: 'it-detect', env: { MONITOR_INTERVAL_S: '60' } });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

describe('detect and act, with no human call', () => {
  it('deploy starts the monitor; critical error rate on v2.0.0 → automatic rollback → verified → completed', async () => {
    const monitor = await waitFor('monitor first check', async () => {
      const m = (await http(stack.url, 'GET', '/api/monitors/customer-support')).body;
      return m.checks >= 1 ? m : undefined;
    });
    expect(monitor).toMatchObject({ status: 'running', workflow_id: 'monitor/customer-support', active_version: 'v2.0.0' });
    expect(monitor.last_verdict.kind).toBe('inconclusive');

    const breachAt = Date.now();
    await sendTraffic(stack.url, 'v2.0.0', 200, 0.3);
    const switched = await waitFor(
      'automatic switch',
      async () => {
        const p = (await http(stack.url, 'GET', '/api/prompts/customer-support')).body;
        return p.active_version === 'v1.9.0' ? Date.now() : undefined;
      },
      20_000,
    );
    // Fast path: well within the 2-minute budget, and long before the 60-s tick.
    expect(switched - breachAt).toBeLessThan(10_000);

    const list = (await http(stack.url, 'GET', '/api/rollbacks?prompt=customer-support')).body.rollbacks;
    expect(list).toHaveLength(1);
    const id = list[0].rollback_id;
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const done = await waitFor('completed', async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;
      return v.status === 'completed' ? v : undefined;
    });
    expect(done).toMatchObject({
      requested_by: 'monitor',
      severity: 'critical',
      from_version: 'v2.0.0',
      to_version: 'v1.9.0',
      trigger: { metric: 'error_rate', threshold: 0.05, samples: 200, window_s: 300 },
    });
    expect(done.trigger.observed).toBeCloseTo(0.3);
    const events = done.timeline.map((t: { event: string }) => t.event);
    expect(events).toEqual(expect.arrayContaining(['detected', 'reconfirmed', 'switched', 'recovered']));
    expect(events).not.toContain('awaiting_approval');
    const audit = await stack.adapters.registry.audit({ rollback_id: id });
    expect(audit).toMatchObject([{ action: 'rollback', actor: 'monitor', to_version: 'v1.9.0' }]);

    // The Web UI sees the incident by its search attributes.
    const found: string[] = [];
    for await (const wf of stack.api.client.workflow.list({ query: `PromptName = "customer-support" AND RollbackSeverity = "critical"` }))
      found.push(wf.workflowId);
    expect(found).toContain(`rollback/customer-support/${id}`);
  });
});
