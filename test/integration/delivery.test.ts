import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver';
import { http, seedCustomerSupport, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
let down: Receiver;

beforeAll(async () => {
  // The notifier is down for the whole test: every request gets a 500.
  down = await startReceiver(() => ({ status: 500, body: 'internal error' }));
  stack = await startStack({
    namespace: 'it-delivery',
    env: {
      WEBHOOK_URL: down.url,
      WEBHOOK_SECRET: 'it-delivery-secret-0123456789',
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
  });
});
