import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver';
import { http, seedCustomerSupport, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
let down: Receiver;
let pagerduty: Receiver;
let slack: Receiver;

beforeAll(async () => {
  // The notifier is down for the whole test: every request gets a 500.
  down = await startReceiver(() => ({ status: 500, body: 'internal error' }));
  pagerduty = await startReceiver(() => ({ status: 202, body: '{"status":"success","message":"Event processed"}' }));
  slack = await startReceiver(() => ({ status: 200, body: 'ok' }));
  stack = await startStack({
    namespace: 'it-delivery',
    env: {
      WEBHOOK_URL: down.url,
      WEBHOOK_SECRET: 'it-delivery-secret-0123456789',
      PAGERDUTY_ROUTING_KEY: 'it-routing-key',
      PAGERDUTY_EVENTS_URL: pagerduty.url,
      SLACK_WEBHOOK_URL: slack.url,
      DELIVERY_MAX_ATTEMPTS: '3',
      DELIVERY_BACKOFF_S: '0.3',
      DELIVERY_POLL_S: '0.1',
    },
  });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
  await down?.close();
  await pagerduty?.close();
  await slack?.close();
});

const rollbackView = async (id: string) => (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;

/** Requests a rollback and answers how long until the API serves the target as active. */
async function timedRollback(target: string): Promise<{ id: string; switch_ms: number }> {
  const requested = Date.now();
  const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'customer-support', target_version: target });
  expect(r.status).toBe(202);
  const switchedAt = await waitFor(
    `the switch to ${target}`,
    async () => ((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version === target ? Date.now() : undefined),
    10_000,
  );
  return { id: r.body.rollback_id as string, switch_ms: switchedAt - requested };
}

const ended = (id: string) =>
  waitFor(`rollback ${id} to end`, async () => {
    const v = await rollbackView(id);
    return ['completed', 'escalated'].includes(v.status) ? v : undefined;
  });

describe('a notifier that is down', () => {
  it('delays no switch by more than a second, and its deliveries end failed (HTTP 500) after the bound, visibly per rollback', async () => {
    // A first rollback warms the worker (its first workflow task loads the workflow bundle: ~1 s, notifier or not).
    const first = await timedRollback('v1.9.0');
    expect(first.switch_ms).toBeLessThan(5_000);
    await ended(first.id);

    // While the notifier keeps failing, the next rollback switches within a second of the request.
    const second = await timedRollback('v2.0.0');
    expect(second.switch_ms).toBeLessThan(1_000);
    expect((await ended(second.id)).to_version).toBe('v2.0.0');

    for (const { id } of [first, second]) {
      // The webhook is tried, retried with backoff, and given up on: the rollback's record shows each step.
      const failed = await waitFor(
        `webhook deliveries of ${id} to fail`,
        async () => {
          const hooks = ((await rollbackView(id)).deliveries ?? []).filter((d: any) => d.channel === 'webhook');
          return hooks.length >= 2 && hooks.every((d: any) => d.status === 'failed') ? hooks : undefined;
        },
        20_000,
      );
      for (const d of failed) {
        expect(d).toMatchObject({ status: 'failed', attempts: 3, last_http_status: 500, next_attempt_at: null });
        expect(d.last_reason).toContain('HTTP 500');
        expect(d.history.map((h: any) => h.outcome)).toEqual(['retrying', 'retrying', 'failed']);
        expect(d.history.every((h: any) => h.http_status === 500)).toBe(true);
        expect(Date.parse(d.history[1].at)).toBeGreaterThanOrEqual(Date.parse(d.history[0].next_attempt_at));
      }
      // The switch notification is among them, and the listener really was called for each attempt.
      expect(failed.some((d: any) => d.title.startsWith('ROLLBACK: customer-support'))).toBe(true);
      expect(down.received.filter((q) => q.json?.rollback_id === id)).toHaveLength(failed.length * 3);
    }
    // Operators see it on /metrics too.
    const metrics = await fetch(`${stack.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/promptback_deliveries\{channel="webhook",status="failed"\} [1-9]/);
  });
});

/** waitFor over what a receiver has recorded so far. */
const seen = <T>(what: string, probe: () => T | undefined, timeoutMs?: number): Promise<T> =>
  waitFor(what, () => Promise.resolve(probe()), timeoutMs);

describe('an incident on PagerDuty and Slack, driven by the workflow as it is', () => {
  it('a high breach triggers a PagerDuty incident and a Slack message with Approve/Reject; approving acknowledges it; completing resolves it', async () => {
    const steps: [string, string, unknown][] = [
      ['PUT', '/api/prompts/billing-assistant', { description: 'Billing questions' }],
      ['POST', '/api/prompts/billing-assistant/versions', { version: 'v1', template: 'You answer billing questions.' }],
      ['POST', '/api/prompts/billing-assistant/deploy', { version: 'v1' }],
      ['POST', '/api/prompts/billing-assistant/versions', { version: 'v2', template: 'You answer billing questions tersely.' }],
      ['POST', '/api/prompts/billing-assistant/deploy', { version: 'v2' }],
    ];
    for (const [m, p, b] of steps) expect((await http(stack.url, m, p, b)).status).toBeLessThan(300);
    // 3 % errors: high severity, page on-call and wait for a decision.
    const events = Array.from({ length: 200 }, (_, i) => ({ prompt: 'billing-assistant', version: 'v2', ok: i >= 6, latency_ms: 120 }));
    expect((await http(stack.url, 'POST', '/api/metrics', { events })).status).toBe(202);

    const approval = await waitFor('a pending approval', async () => {
      const a = (await http(stack.url, 'GET', '/api/approvals')).body.approvals.find((x: any) => x.prompt === 'billing-assistant');
      return a;
    });
    const id = approval.rollback_id as string;
    const dedup = `promptback/rollback/${id}`;

    const trigger = await seen('the PagerDuty trigger', () => pagerduty.received.find((r) => r.json.dedup_key === dedup)?.json);
    expect(trigger).toMatchObject({
      routing_key: 'it-routing-key',
      event_action: 'trigger',
      payload: {
        severity: 'error',
        component: 'billing-assistant',
        custom_details: { metric: 'error_rate', threshold: 0.02, observed: 0.03, samples: 200, rollback_id: id },
      },
    });
    expect(trigger.payload.summary).toContain('billing-assistant v2');
    expect(trigger.links.map((l: any) => l.href)).toContain(`${stack.config.publicUrl}/api/rollbacks/${id}`);

    const message = await seen('the Slack message', () =>
      slack.received
        .map((r) => r.json)
        .find((m) => m.blocks?.some((b: any) => b.type === 'actions' && b.elements.some((e: any) => e.action_id === 'approve'))),
    );
    const buttons = message.blocks.find((b: any) => b.type === 'actions').elements;
    expect(buttons.filter((e: any) => e.value === id).map((e: any) => e.action_id)).toEqual(['approve', 'reject']);

    expect((await http(stack.url, 'POST', `/api/rollbacks/${id}/approve`, { comment: 'go' })).status).toBe(200);
    await seen('the acknowledge', () =>
      pagerduty.received.find((r) => r.json.dedup_key === dedup && r.json.event_action === 'acknowledge') ? true : undefined,
    );
    await seen(
      'the resolve',
      () => (pagerduty.received.find((r) => r.json.dedup_key === dedup && r.json.event_action === 'resolve') ? true : undefined),
      40_000,
    );
    const actions = pagerduty.received.filter((r) => r.json.dedup_key === dedup).map((r) => r.json.event_action);
    expect(actions).toEqual(['trigger', 'acknowledge', 'resolve']);

    const v = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;
    expect(v.status).toBe('completed');
    expect(v.deliveries.filter((d: any) => d.channel === 'pagerduty').map((d: any) => [d.lifecycle, d.status])).toEqual([
      ['trigger', 'sent'],
      ['acknowledge', 'sent'],
      ['resolve', 'sent'],
    ]);
  });
});
