import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
let stack: Stack;
let slack: Receiver;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-slack', env: { SLACK_SIGNING_SECRET: SECRET, SLACK_USERS: 'U456=bob' } });
  slack = await startReceiver();
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await slack?.close();
  await stack?.stop();
});

/** A button press as Slack sends it: the form field `payload=` carrying the interaction JSON. */
function press(action: 'approve' | 'reject', rollbackId: string, userId: string, responseUrl?: string): string {
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: `user-${userId}`, name: `user-${userId}` },
    team: { id: 'T1', domain: 'acme' },
    actions: [{ action_id: action, block_id: `promptback-${rollbackId}`, value: rollbackId, type: 'button', action_ts: '1' }],
    ...(responseUrl ? { response_url: responseUrl } : {}),
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Slack's documented recipe: v0= hex HMAC-SHA256 of "v0:{timestamp}:{raw body}" with the signing secret. */
function signed(body: string, opts: { secret?: string; at?: number } = {}): Record<string, string> {
  const ts = String(opts.at ?? Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', opts.secret ?? SECRET)
    .update(`v0:${ts}:${body}`)
    .digest('hex');
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': ts,
    'x-slack-signature': `v0=${sig}`,
  };
}

const post = (body: string, headers: Record<string, string>) =>
  http(stack.url, 'POST', '/api/integrations/slack/actions', body, { raw: true, headers });

async function pendingApproval(): Promise<any> {
  return waitFor('a pending approval', async () => {
    const a = (await http(stack.url, 'GET', '/api/approvals')).body.approvals;
    return a.length > 0 ? a[0] : undefined;
  });
}

describe('decisions from Slack buttons', () => {
  it('a signed Approve press approves as slack:<user>; bad or stale signatures are 401; a second press gets the refusal', async () => {
    await sendTraffic(stack.url, 'v2.0.0', 200, 0.03);
    const a = await pendingApproval();
    const body = press('approve', a.rollback_id, 'U123', slack.url);

    const forged = await post(body, signed(body, { secret: 'not-the-secret' }));
    expect(forged.status).toBe(401);
    expect(forged.type).toContain('problem+json');
    const unsigned = await post(body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(unsigned.status).toBe(401);
    const stale = await post(body, signed(body, { at: Math.floor(Date.now() / 1000) - 6 * 60 }));
    expect(stale.status).toBe(401);
    expect(stale.body.detail).toMatch(/timestamp/i);
    // A body changed after signing is refused too.
    const tampered = await post(press('approve', a.rollback_id, 'U999'), signed(body));
    expect(tampered.status).toBe(401);
    expect((await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body.status).toBe('awaiting_approval');

    const r = await post(body, signed(body));
    expect(r.status).toBe(200);
    expect(r.type).toContain('application/json');
    expect(r.body).toMatchObject({ replace_original: false, response_type: 'ephemeral' });
    expect(r.body.text).toContain('approved by slack:U123');
    // The decision is in the rollback's record once the workflow has saved it.
    const view = await waitFor('the recorded approval', async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body;
      return v.status !== 'awaiting_approval' ? v : undefined;
    });
    expect(view.decided_by).toBe('slack:U123');
    expect(view.decision).toMatchObject({ kind: 'approve', by: 'slack:U123', via: 'slack' });
    const posted = await waitFor('the answer at response_url', () =>
      Promise.resolve(slack.received.find((x) => /approved by slack:U123/.test(x.json?.text ?? ''))),
    );
    expect(posted.json).toMatchObject({ replace_original: false, response_type: 'ephemeral' });

    // A press after the decision: Slack is told why nothing happened, in the API's 409 words.
    const late = press('reject', a.rollback_id, 'U456', slack.url);
    const refused = await post(late, signed(late));
    expect(refused.status).toBe(200);
    expect(refused.body.text).toMatch(/already approved by slack:U123 at /);
    await waitFor('the refusal at response_url', () =>
      Promise.resolve(slack.received.find((x) => /already approved by slack:U123/.test(x.json?.text ?? ''))),
    );
    expect((await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body.decided_by).toBe('slack:U123');
    await waitFor('the switch', async () =>
      (await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version === 'v1.9.0' ? true : undefined,
    );
  });

  it('a signed Reject press rejects, recorded under the mapped name from SLACK_USERS', async () => {
    await waitFor(
      'the approved rollback to end',
      async () => ((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.open_rollback_id === null ? true : undefined),
      60_000,
    );
    await http(stack.url, 'POST', '/api/prompts/customer-support/versions', { version: 'v2.1.0', template: 'Be terse.' });
    expect((await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.1.0' })).status).toBeLessThan(300);
    await sendTraffic(stack.url, 'v2.1.0', 200, 0.03);
    const a = await pendingApproval();
    const body = press('reject', a.rollback_id, 'U456');
    const r = await post(body, signed(body));
    expect(r.status).toBe(200);
    expect(r.body.text).toContain('rejected by bob');
    const view = await waitFor('the recorded rejection', async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body;
      return v.status === 'rejected' ? v : undefined;
    });
    expect(view.decision).toMatchObject({ kind: 'reject', by: 'bob', via: 'slack' });
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v2.1.0');
  }, 90_000);

  it('a payload that is not an interaction is 400 naming payload', async () => {
    const body = 'payload=%7Bnot-json';
    const r = await post(body, signed(body));
    expect(r.status).toBe(400);
    expect(r.type).toContain('problem+json');
    expect(r.body.errors).toEqual([expect.objectContaining({ field: 'payload' })]);
  });
});

describe('without SLACK_SIGNING_SECRET', () => {
  it('the route says it is not configured', async () => {
    const bare = await startStack({ namespace: 'it-slack', worker: false });
    try {
      const body = press('approve', 'x', 'U1');
      const r = await http(bare.url, 'POST', '/api/integrations/slack/actions', body, { raw: true, headers: signed(body) });
      expect(r.status).toBe(404);
      expect(r.type).toContain('problem+json');
      expect(r.body.detail).toContain('SLACK_SIGNING_SECRET');
    } finally {
      await bare.stop();
    }
  });
});
