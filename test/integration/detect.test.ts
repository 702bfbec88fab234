import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type MonitorCheck } from '../../src/activities';
import { activityDeps } from '../support/activity-deps';
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

/** A prompt with v1 then v2 deployed (v2 active, its monitor started), as an operator sets it up. */
async function deployTwoVersions(name: string, topic: string): Promise<void> {
  for (const [m, p, b] of [
    ['PUT', `/api/prompts/${name}`, { description: `${topic} questions` }],
    ['POST', `/api/prompts/${name}/versions`, { version: 'v1', template: `Answer ${topic} questions.` }],
    ['POST', `/api/prompts/${name}/deploy`, { version: 'v1' }],
    ['POST', `/api/prompts/${name}/versions`, { version: 'v2', template: `Answer ${topic} questions briefly.` }],
    ['POST', `/api/prompts/${name}/deploy`, { version: 'v2' }],
  ] as const) {
    const r = await http(stack.url, m, p, b);
    expect(r.status, `${m} ${p}`).toBeLessThan(300);
  }
}

describe('detect and act, with no human call', () => {
  it('a critical breach is switched from the ingest fast path even when the monitor cannot take it (its workflow is gone)', async () => {
    const name = 'billing-faq';
    await deployTwoVersions(name, 'billing');
    // The monitor's workflow is terminated by hand (its row still says running, until the reconciler's next pass):
    // nothing is there to take a check-now.
    await stack.api.client.workflow.getHandle(`monitor/${name}`).terminate('test: the monitor is gone');

    const breachAt = Date.now();
    const events = Array.from({ length: 200 }, (_, i) => ({ prompt: name, version: 'v2', ok: i >= 60, latency_ms: 120 }));
    expect((await http(stack.url, 'POST', '/api/metrics', { events })).status).toBe(202);
    const switched = await waitFor(
      'automatic switch',
      async () => ((await http(stack.url, 'GET', `/api/prompts/${name}`)).body.active_version === 'v1' ? Date.now() : undefined),
      20_000,
    );
    expect(switched - breachAt).toBeLessThan(5_000);
    // The list is saved by the workflow a moment after its switch.
    const rb = await waitFor('the rollback listed with its target', async () => {
      const [r] = (await http(stack.url, 'GET', `/api/rollbacks?prompt=${name}`)).body.rollbacks;
      return r?.to_version ? r : undefined;
    });
    expect(rb).toMatchObject({ requested_by: 'monitor', severity: 'critical', from_version: 'v2', to_version: 'v1' });
    const audit = await stack.adapters.registry.audit({ rollback_id: rb.rollback_id });
    expect(audit).toMatchObject([{ action: 'rollback', actor: 'monitor', to_version: 'v1' }]);
    // On the rollbacks' own task queue, served by their own worker.
    const d = await stack.api.client.workflow.getHandle(`rollback/${name}/${rb.rollback_id}`).describe();
    expect(d.taskQueue).toBe(`${stack.config.temporal.taskQueue}-rollbacks`);
  });

  it('a monitor that claimed the incident and ended before starting it: the fast path starts the claim at once', async () => {
    const name = 'refund-policy';
    await deployTwoVersions(name, 'refund');
    // The real monitor has made its first check (nothing to judge yet) and is terminated: from here on only the
    // check below, run as the monitor's would be, touches the prompt.
    await waitFor("the monitor's first check", async () =>
      (await http(stack.url, 'GET', `/api/monitors/${name}`)).body.checks >= 1 ? true : undefined,
    );
    await stack.api.client.workflow.getHandle(`monitor/${name}`).terminate('test: the monitor ended within its check');
    // The monitor's check ran on the breach (it reads the store directly, as the worker does) and claimed the incident,
    // then its workflow was terminated before that task completed: the child was never started.
    const breach = (n: number, at: Date) =>
      Array.from({ length: n }, (_, i) => ({ prompt: name, version: 'v2', ok: i % 10 >= 3, latency_ms: 120, at }));
    await stack.adapters.metrics.ingest(breach(100, new Date()));
    const claim: MonitorCheck = await new MockActivityEnvironment({
      activityId: '1',
      isLocal: true,
      activityType: 'monitorCheck',
      workflowExecution: { workflowId: `monitor/${name}`, runId: 'run-terminated' },
      scheduledTimestampMs: Date.now(),
    }).run(() => createActivities(activityDeps(stack.adapters)).monitorCheck({ prompt: name, source: 'tick' }));
    expect(claim.action).toBe('open_incident');

    // More of the same errors reach the API: its fast path trips on the prompt.
    const breachAt = Date.now();
    expect((await http(stack.url, 'POST', '/api/metrics', { events: breach(100, new Date()).map(({ at: _, ...e }) => e) })).status).toBe(
      202,
    );
    const switched = await waitFor(
      'automatic switch',
      async () => ((await http(stack.url, 'GET', `/api/prompts/${name}`)).body.active_version === 'v1' ? Date.now() : undefined),
      20_000,
    );
    // Before, nothing started it until the reconciler restarted the monitor (up to a minute, plus 5 s).
    expect(switched - breachAt).toBeLessThan(5_000);
    const [rb] = (await http(stack.url, 'GET', `/api/rollbacks?prompt=${name}`)).body.rollbacks;
    expect(rb).toMatchObject({ rollback_id: claim.incident!.rollback_id, requested_by: 'monitor', severity: 'critical' });
  });

  it('deploy starts the monitor; critical error rate on v2.0.0 → automatic rollback → verified → completed', async () => {
    const monitor = await waitFor('monitor first check', async () => {
      const m = (await http(stack.url, 'GET', '/api/monitors/customer-support')).body;
      return m.checks >= 1 ? m : undefined;
    });
    // Started by the first deploy, it may have checked v1.9.0 before v2.0.0 was deployed a moment later.
    expect(monitor).toMatchObject({ status: 'running', workflow_id: 'monitor/customer-support' });
    expect(['v1.9.0', 'v2.0.0']).toContain(monitor.active_version);
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
    // The monitor's child too runs on the rollbacks' task queue.
    expect((await stack.api.client.workflow.getHandle(`rollback/customer-support/${id}`).describe()).taskQueue).toBe(
      `${stack.config.temporal.taskQueue}-rollbacks`,
    );
    const found: string[] = [];
    for await (const wf of stack.api.client.workflow.list({ query: `PromptName = "customer-support" AND RollbackSeverity = "critical"` }))
      found.push(wf.workflowId);
    expect(found).toContain(`rollback/customer-support/${id}`);
  });
});
