/**
 * The store down for a moment (Postgres restarted, failed over, out of connections): the API says so, 503 with
 * Retry-After, on every route an application or an operator uses — not 500 "internal error" — and works again as soon
 * as the database is back, rollbacks included.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RollbackView } from '../../src/domain/rollback';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { http, seedTwoVersions, startStack, waitFor, type Stack } from '../support/stack';

const available = findPostgres() !== undefined || process.env.CI === 'true';
const SLACK_SECRET = 'slack-signing-secret-outage';

describe.runIf(available)('the store unavailable', () => {
  let pg: PgInstance;
  let stack: Stack;
  beforeAll(async () => {
    pg = await startPostgres();
    stack = await startStack({
      namespace: 'it-store-outage',
      env: { DATABASE_URL: await pg.newDatabase(), SLACK_SIGNING_SECRET: SLACK_SECRET },
    });
    await seedTwoVersions(stack.url, 'outage', 'store outage drill');
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    pg?.stop();
  });

  const batch = { events: Array.from({ length: 20 }, () => ({ prompt: 'outage', version: 'v2', ok: true, latency_ms: 120 })) };

  it('answers 503 problem+json with Retry-After while Postgres is down, and serves again once it is back', async () => {
    expect((await http(stack.url, 'POST', '/api/metrics', batch)).status).toBe(202);
    pg.pause();
    try {
      const calls: [string, string, unknown?][] = [
        ['GET', '/api/prompts/outage/resolve?key=user-1'],
        ['GET', '/api/prompts/outage'],
        ['POST', '/api/metrics', batch],
        ['POST', '/api/rollback', { prompt: 'outage', target_version: 'v1', reason: 'store outage drill' }],
        ['GET', '/api/rollbacks?prompt=outage'],
      ];
      for (const [method, path, body] of calls) {
        const res = await fetch(`${stack.url}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        expect(res.status, `${method} ${path}: ${text}`).toBe(503);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.headers.get('retry-after')).toBe('5');
        expect(JSON.parse(text)).toMatchObject({
          status: 503,
          title: 'Store unavailable',
          detail: 'the database did not answer (ECONNREFUSED); try again in a few seconds',
        });
      }
      // An Approve pressed in Slack meanwhile: the person is told the store is away and to press again, not that an
      // unexpected error occurred.
      const press = `payload=${encodeURIComponent(
        JSON.stringify({
          type: 'block_actions',
          user: { id: 'U1', username: 'alice', name: 'alice' },
          actions: [{ action_id: 'approve', block_id: 'promptback-r1', value: 'r1', type: 'button', action_ts: '1' }],
        }),
      )}`;
      const ts = String(Math.floor(Date.now() / 1000));
      const slack = await http(stack.url, 'POST', '/api/integrations/slack/actions', press, {
        raw: true,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': ts,
          'x-slack-signature': `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${press}`).digest('hex')}`,
        },
      });
      expect(slack.status).toBe(200);
      expect(slack.body.text).toMatch(
        /^Not confirmed: the store cannot be used right now \(the database did not answer .*\)\. Press Approve again in a few seconds: if the decision was taken, the answer says so$/,
      );
      const ready = await http(stack.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.store).toMatch(/^down: /);
    } finally {
      pg.resume();
    }
    // Back: the same calls succeed, and the rollback refused during the outage can be asked again and is run.
    await waitFor(
      'the store to answer again',
      async () => ((await http(stack.url, 'GET', '/readyz')).status === 200 ? true : undefined),
      30_000,
    );
    expect((await http(stack.url, 'GET', '/api/prompts/outage/resolve?key=user-1')).body).toMatchObject({ version: 'v2' });
    expect((await http(stack.url, 'POST', '/api/metrics', batch)).status).toBe(202);
    const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'outage', target_version: 'v1', reason: 'store outage drill' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await waitFor('the switch', async () => {
      const v = (await http(stack.url, 'GET', '/api/prompts/outage/resolve?key=user-1')).body;
      return v.version === 'v1' ? v : undefined;
    });
  }, 120_000);

  it('a rollback whose store is down for longer than its retries waits for it, then switches once and verifies', async () => {
    await seedTwoVersions(stack.url, 'outage-rb', 'store outage during a rollback');
    // Claimed and started while the worker is away; the store goes before the worker picks the run up.
    await stack.stopWorker();
    const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'outage-rb', target_version: 'v1', reason: 'store outage drill' });
    expect(r.status).toBe(202);
    pg.pause();
    try {
      await stack.startWorker();
      // Down until the run says it waits for the store (the one step's retries, about 30 s, and the step-by-step
      // choice's, about 7 s, spent): asked of the workflow itself, the store being away.
      await waitFor(
        'the rollback to wait for the store',
        async () => {
          const state = await stack.api.client.workflow.getHandle(r.body.workflow_id).query<RollbackView>('state');
          return state.timeline.some((e) => e.event === 'store_unavailable') ? true : undefined;
        },
        150_000,
      );
    } finally {
      pg.resume();
    }
    const v = await waitFor(
      'the rollback to switch and verify',
      async () => {
        const b = (await http(stack.url, 'GET', `/api/rollbacks/${r.body.rollback_id}`)).body;
        return b.status === 'completed' ? b : undefined;
      },
      60_000,
    );
    const events: string[] = v.timeline.map((e: { event: string }) => e.event);
    expect(events).toContain('store_unavailable');
    expect(events).not.toContain('target_rejected');
    expect(events.filter((e) => e === 'switched')).toHaveLength(1);
    expect(v.timeline.find((e: { event: string }) => e.event === 'store_unavailable').detail.error).toMatch(
      /^the database did not answer \((ECONNREFUSED|connection terminated|timeout exceeded when trying to connect)\)$/,
    );
    expect((await http(stack.url, 'GET', '/api/prompts/outage-rb/resolve?key=user-1')).body).toMatchObject({ version: 'v1' });
    const audit = await stack.adapters.registry.audit({ rollback_id: r.body.rollback_id });
    expect(audit.map((a) => a.action)).toEqual(['rollback']);
  }, 180_000);
});
