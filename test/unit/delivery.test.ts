import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryDispatcher } from '../../src/adapters/notifier/dispatcher';
import { pagerDutyEvents } from '../../src/adapters/notifier/pagerduty';
import type { RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { activitiesFor, deliveryDispatcherFor, openAdapters, type Adapters } from '../../src/main/wiring';
import type { Notification, OutboundEvent } from '../../src/ports/notifier';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { startReceiver, type Receiver } from '../support/receiver';

const SECRET = 'whsec-0123456789abcdef';
const T0 = Date.parse('2026-11-26T05:00:00Z');

const verdict: Verdict = {
  kind: 'breached',
  rule: 'error_rate.page',
  metric: 'error_rate',
  threshold: 0.02,
  observed: 0.034,
  window_s: 300,
  samples: 412,
  summary: 'error rate 3.40 % > 2.00 % over 412 requests in 300 s',
  severity: 'high',
  action: 'page',
  deadline_s: 300,
  default_action: 'rollback',
};

interface World {
  a: Adapters;
  dispatcher: DeliveryDispatcher;
  clock: { t: number };
  /** One dispatcher pass, waiting for the attempts it started. */
  pass(): Promise<void>;
  notify(n: Partial<Notification> & { key: string }): Promise<void>;
  rollback(patch: Partial<RollbackView> & { rollback_id: string }): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(answer?: Receiver['answer']): Promise<Receiver> {
  const r = await startReceiver(answer);
  cleanups.push(() => r.close());
  return r;
}

/** A fresh database of the store under test: a SQLite file or a database on the throwaway Postgres. */
let newDatabase: () => Promise<string>;

async function world(env: Record<string, string>, databaseUrl?: string): Promise<World> {
  const clock = { t: T0 };
  const url = databaseUrl ?? (await newDatabase());
  const config = loadConfig({ DATA_DIR: os.tmpdir(), DATABASE_URL: url, DELIVERY_POLL_S: '1', ...env });
  const a = await openAdapters(config, createLogger('silent'), { now: () => new Date(clock.t) });
  const dispatcher = deliveryDispatcherFor(a, config);
  cleanups.push(async () => {
    await dispatcher.stop();
    await a.db.close();
  });
  const views = new Map<string, RollbackView>();
  return {
    a,
    dispatcher,
    clock,
    async pass() {
      await dispatcher.tick();
      await dispatcher.settle();
    },
    async notify(n) {
      await a.notifier.notify({
        kind: 'page',
        severity: 'high',
        prompt: 'customer-support',
        title: 'Decision needed for customer-support',
        message: `${verdict.summary}. Decide by 2026-11-26T05:05:00.000Z; then: roll back.`,
        links: {
          status_url: 'http://localhost:8000/api/rollbacks/r1',
          web_ui: 'http://127.0.0.1:8233/namespaces/default/workflows/rollback%2Fcustomer-support%2Fr1',
        },
        data: { verdict, tier: 1 },
        ...n,
      });
    },
    async rollback(patch) {
      const base: RollbackView = views.get(patch.rollback_id) ?? {
        rollback_id: patch.rollback_id,
        workflow_id: `rollback/customer-support/${patch.rollback_id}`,
        prompt: 'customer-support',
        from_version: 'v2.0.0',
        to_version: null,
        reason: verdict.summary,
        severity: 'high',
        trigger: { metric: 'error_rate', threshold: 0.02, observed: 0.034, window_s: 300, samples: 412 },
        mode: 'immediate',
        status: 'awaiting_approval',
        requested_by: 'monitor',
        requested_at: new Date(T0).toISOString(),
        deadline: '2026-11-26T05:05:00.000Z',
        tier: 1,
        timeline: [],
        updated_at: new Date(T0).toISOString(),
      };
      const v = { ...base, ...patch };
      views.set(v.rollback_id, v);
      if (base === v || !(await a.rollbacks.get(v.rollback_id))) await a.rollbacks.claim(v);
      await a.rollbacks.save(v);
    },
  };
}

const on = async (w: World, rollbackId: string, channel: string) =>
  (await w.a.deliveries.deliveriesFor(rollbackId)).filter((d) => d.channel === channel);

/** The receiver's side of the webhook contract, exactly as the README tells integrators to check it. */
function verifyWebhook(rawBody: string, headers: Record<string, string | string[] | undefined>, secret: string, nowS: number): boolean {
  const ts = String(headers['x-promptback-timestamp'] ?? '');
  const sig = String(headers['x-promptback-signature'] ?? '');
  if (!/^\d+$/.test(ts) || Math.abs(nowS - Number(ts)) > 300) return false;
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex')}`;
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
}

// The dispatcher's claims, leases and lifecycle queries run on both stores the product supports.
const pgAvailable = findPostgres() !== undefined || process.env.CI === 'true';
for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.runIf(dialect === 'sqlite' || pgAvailable)(`delivery on ${dialect}`, () => {
    let instance: PgInstance | undefined;
    beforeAll(async () => {
      if (dialect === 'postgres') instance = await startPostgres();
      newDatabase = async () =>
        instance ? instance.newDatabase() : path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-delivery-')), 'db.sqlite');
    }, 60_000);
    afterAll(() => instance?.stop());

    describe('generic webhook', () => {
      it('receives every event as signed JSON that the documented recipe verifies (and a tampered body does not)', async () => {
        const hook = await receiver();
        const w = await world({ WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();

        expect(hook.received).toHaveLength(1);
        const got = hook.received[0]!;
        expect(got.headers['content-type']).toBe('application/json');
        expect(got.headers['x-promptback-delivery']).toBe('r1/3/page/webhook');
        expect(verifyWebhook(got.body, got.headers, SECRET, Math.floor(Date.now() / 1000))).toBe(true);
        expect(
          verifyWebhook(got.body.replace('customer-support', 'customer-suppor7'), got.headers, SECRET, Math.floor(Date.now() / 1000)),
        ).toBe(false);
        expect(verifyWebhook(got.body, got.headers, 'another-secret-0123', Math.floor(Date.now() / 1000))).toBe(false);
        expect(got.json).toMatchObject({
          id: 'r1/3/page/webhook',
          event_key: 'r1/3/page',
          kind: 'page',
          severity: 'high',
          lifecycle: 'trigger',
          prompt: 'customer-support',
          rollback_id: 'r1',
          title: 'Decision needed for customer-support',
          links: { status_url: 'http://localhost:8000/api/rollbacks/r1' },
          data: { verdict: { metric: 'error_rate', threshold: 0.02, observed: 0.034, window_s: 300, samples: 412 } },
          rollback: { status: 'awaiting_approval', from_version: 'v2.0.0' },
        });

        const [d] = await on(w, 'r1', 'webhook');
        expect(d).toMatchObject({
          channel: 'webhook',
          status: 'sent',
          attempts: 1,
          last_http_status: 200,
          sent_at: new Date(T0).toISOString(),
        });
        expect(d!.history).toEqual([{ attempt: 1, at: new Date(T0).toISOString(), outcome: 'sent', http_status: 200 }]);

        // The same notification again (a retried activity) and more passes: still one request.
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();
        await w.pass();
        expect(hook.received).toHaveLength(1);
      });

      it('a receiver answering 500 is retried with exponential backoff up to the bound, then the delivery is failed with status and reason', async () => {
        const hook = await receiver(() => ({ status: 500, body: 'upstream exploded' }));
        const w = await world({ WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, DELIVERY_MAX_ATTEMPTS: '3', DELIVERY_BACKOFF_S: '5' });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();
        let [d] = await on(w, 'r1', 'webhook');
        expect(d).toMatchObject({
          status: 'retrying',
          attempts: 1,
          last_http_status: 500,
          next_attempt_at: new Date(T0 + 5_000).toISOString(),
        });
        expect(d!.last_reason).toContain('upstream exploded');

        // Not due yet: nothing is sent.
        w.clock.t = T0 + 4_000;
        await w.pass();
        expect(hook.received).toHaveLength(1);

        w.clock.t = T0 + 5_000;
        await w.pass();
        [d] = await on(w, 'r1', 'webhook');
        expect(d).toMatchObject({ status: 'retrying', attempts: 2, next_attempt_at: new Date(T0 + 15_000).toISOString() });

        w.clock.t = T0 + 15_000;
        await w.pass();
        [d] = await on(w, 'r1', 'webhook');
        expect(d).toMatchObject({ status: 'failed', attempts: 3, last_http_status: 500, next_attempt_at: null });
        expect(d!.last_reason).toMatch(/HTTP 500.*gave up after 3 attempts/);
        expect(d!.history.map((h) => [h.outcome, h.http_status, h.next_attempt_at ?? null])).toEqual([
          ['retrying', 500, new Date(T0 + 5_000).toISOString()],
          ['retrying', 500, new Date(T0 + 15_000).toISOString()],
          ['failed', 500, null],
        ]);

        w.clock.t = T0 + 3_600_000;
        await w.pass();
        expect(hook.received).toHaveLength(3);
      });

      it('a refusal (400) fails at once; a receiver that does not answer in time is retried', async () => {
        const refusing = await receiver(() => ({ status: 400, body: 'bad payload' }));
        const w = await world({ WEBHOOK_URL: refusing.url, WEBHOOK_SECRET: SECRET });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();
        const [d] = await on(w, 'r1', 'webhook');
        expect(d).toMatchObject({ status: 'failed', attempts: 1, last_http_status: 400 });
        expect(d!.last_reason).toContain('bad payload');

        const slow = await receiver(() => ({ status: 200, delayMs: 1_000 }));
        const w2 = await world({ WEBHOOK_URL: slow.url, WEBHOOK_SECRET: SECRET, DELIVERY_TIMEOUT_S: '0.2' });
        await w2.rollback({ rollback_id: 'r2' });
        await w2.notify({ key: 'r2/3/page', rollback_id: 'r2' });
        await w2.pass();
        const [t] = await on(w2, 'r2', 'webhook');
        expect(t).toMatchObject({ status: 'retrying', attempts: 1, last_http_status: null });
        expect(t!.last_reason).toContain('no answer within 0.2 s');
      });
    });

    describe('several workers', () => {
      it('each delivery is attempted by one process at a time: two dispatchers over one store send every event once', async () => {
        const hook = await receiver(() => ({ status: 200, delayMs: 150 }));
        const url = await newDatabase();
        const env = { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET };
        const w1 = await world(env, url);
        const w2 = await world(env, url);
        await w1.rollback({ rollback_id: 'r1' });
        for (let i = 0; i < 12; i++) await w1.notify({ key: `r1/${i}/alert`, kind: 'alert', rollback_id: 'r1', title: `event ${i}` });
        for (let round = 0; round < 200 && hook.received.length < 12; round++) {
          await Promise.all([w1.dispatcher.tick(), w2.dispatcher.tick(), w1.dispatcher.tick()]);
          await new Promise((r) => setTimeout(r, 20));
        }
        await Promise.all([w1.dispatcher.settle(), w2.dispatcher.settle()]);
        await Promise.all([w1.pass(), w2.pass()]);

        const keys = hook.received.map((r) => r.headers['x-promptback-delivery']);
        expect(keys).toHaveLength(12);
        expect(new Set(keys).size).toBe(12);
        const ds = await on(w1, 'r1', 'webhook');
        expect(ds.map((d) => [d.status, d.attempts])).toEqual(Array.from({ length: 12 }, () => ['sent', 1]));
      });

      /** Two dispatchers over one store, ticking together while both clocks move on, until `done`. */
      async function twoWorkers(env: Record<string, string>, done: () => boolean) {
        const url = await newDatabase();
        const w1 = await world(env, url);
        const w2 = await world(env, url);
        const run = async () => {
          for (let round = 0; round < 300 && !done(); round++) {
            await Promise.all([w1.dispatcher.tick(), w2.dispatcher.tick()]);
            await new Promise((r) => setTimeout(r, 15));
            w1.clock.t += 2_000;
            w2.clock.t = w1.clock.t;
          }
          await Promise.all([w1.dispatcher.settle(), w2.dispatcher.settle()]);
        };
        return { w1, w2, run };
      }

      it("a rollback's events reach a channel in the order they were raised across processes, even when the first one is retried", async () => {
        let firstRefused = false;
        const hook = await receiver((r) => {
          if (r.json?.title === 'event 0' && !firstRefused) {
            firstRefused = true;
            return { status: 500, body: 'try later', delayMs: 80 };
          }
          return { status: 200, delayMs: 30 };
        });
        const { w1, run } = await twoWorkers(
          { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, DELIVERY_BACKOFF_S: '5' },
          () => hook.received.length >= 6,
        );
        await w1.rollback({ rollback_id: 'r1' });
        for (let i = 0; i < 5; i++) await w1.notify({ key: `r1/${i}/alert`, kind: 'alert', rollback_id: 'r1', title: `event ${i}` });
        await run();

        // What the receiver saw, in order: the refused first attempt, its retry, then the rest.
        expect(hook.received.map((r) => r.json.title)).toEqual(['event 0', 'event 0', 'event 1', 'event 2', 'event 3', 'event 4']);
        expect((await on(w1, 'r1', 'webhook')).map((d) => [d.status, d.attempts])).toEqual([
          ['sent', 2],
          ['sent', 1],
          ['sent', 1],
          ['sent', 1],
          ['sent', 1],
        ]);
      });

      it("a rollback's events queued one after another (as its workflow queues them), routed in separate passes, reach the channel in queue order while the first is retried", async () => {
        let refused = false;
        const hook = await receiver((r) => {
          if (r.json?.title === 'detected' && !refused) {
            refused = true;
            return { status: 503, body: 'try later' };
          }
          return { status: 200 };
        });
        const w = await world({ WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, DELIVERY_BACKOFF_S: '5' });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/n1/page', rollback_id: 'r1', title: 'detected' });
        await w.pass();
        await w.notify({ key: 'r1/n2/page', rollback_id: 'r1', title: 'escalated' });
        await w.pass();
        await w.notify({ key: 'r1/n3/alert', kind: 'alert', rollback_id: 'r1', title: 'switched' });
        await w.pass();
        // The first is waiting for its retry: the later ones wait behind it.
        expect(hook.received.map((r) => r.json.title)).toEqual(['detected']);
        w.clock.t += 6_000;
        for (let i = 0; i < 3; i++) await w.pass();
        expect(hook.received.map((r) => r.json.title)).toEqual(['detected', 'detected', 'escalated', 'switched']);
      });

      it('an earlier delivery that ended failed does not hold back the later ones of its rollback; other rollbacks are not held back meanwhile', async () => {
        const hook = await receiver((r) => (r.json?.title === 'event 0' ? { status: 500, body: 'down' } : { status: 200, delayMs: 20 }));
        const { w1, run } = await twoWorkers(
          { WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET, DELIVERY_BACKOFF_S: '5', DELIVERY_MAX_ATTEMPTS: '2' },
          () => hook.received.length >= 5,
        );
        await w1.rollback({ rollback_id: 'r1' });
        await w1.rollback({ rollback_id: 'r2', prompt: 'billing', workflow_id: 'rollback/billing/r2' });
        for (let i = 0; i < 3; i++) await w1.notify({ key: `r1/${i}/alert`, kind: 'alert', rollback_id: 'r1', title: `event ${i}` });
        await w1.notify({ key: 'r2/0/alert', kind: 'alert', rollback_id: 'r2', prompt: 'billing', title: 'other rollback' });
        await run();

        const titles = hook.received.map((r) => r.json.title);
        expect(titles.filter((t) => t !== 'other rollback')).toEqual(['event 0', 'event 0', 'event 1', 'event 2']);
        // The other rollback's event went out while r1's first event was still being retried.
        expect(titles.indexOf('other rollback')).toBeLessThan(titles.lastIndexOf('event 0'));
        expect((await on(w1, 'r1', 'webhook')).map((d) => d.status)).toEqual(['failed', 'sent', 'sent']);
      });
    });

    describe('routing by severity', () => {
      it('critical and high → PagerDuty + Slack + webhook; medium and low → Slack + webhook; an unconfigured channel is skipped once', async () => {
        const slack = await receiver();
        const hook = await receiver();
        const w = await world({ SLACK_WEBHOOK_URL: slack.url, WEBHOOK_URL: hook.url, WEBHOOK_SECRET: SECRET });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.notify({ key: 'r1/9/alert', rollback_id: 'r1', kind: 'alert', severity: 'medium', title: 'Observing customer-support' });
        await w.notify({
          key: 'alert/customer-support/v2.0.0/rule/1',
          kind: 'alert',
          severity: 'low',
          title: 'Watch: customer-support v2.0.0',
          data: { verdict: { ...verdict, severity: 'low' } },
        });
        await w.pass();
        await w.pass();

        const ds = await w.a.deliveries.deliveriesFor('r1');
        expect(ds.map((d) => [d.outbox_key, d.channel, d.status])).toEqual([
          ['r1/3/page', 'pagerduty', 'skipped'],
          ['r1/3/page', 'slack', 'sent'],
          ['r1/3/page', 'webhook', 'sent'],
          ['r1/9/alert', 'slack', 'sent'],
          ['r1/9/alert', 'webhook', 'sent'],
        ]);
        expect(ds[0]!.last_reason).toBe('pagerduty is not configured (PAGERDUTY_ROUTING_KEY is not set)');
        expect(ds[0]!.attempts).toBe(0);
        // The monitor's low alert (no rollback) reaches Slack and the webhook too.
        expect(slack.received.map((r) => r.json.text.split(':')[0]).sort()).toEqual([
          'Decision needed for customer-support',
          'Observing customer-support',
          'Watch',
        ]);
        expect(hook.received).toHaveLength(3);
      });

      it('DELIVERY_ROUTES overrides the table per severity', async () => {
        const slack = await receiver();
        const hook = await receiver();
        const w = await world({
          SLACK_WEBHOOK_URL: slack.url,
          WEBHOOK_URL: hook.url,
          WEBHOOK_SECRET: SECRET,
          DELIVERY_ROUTES: 'low=webhook',
        });
        await w.notify({ key: 'alert/x/1', kind: 'alert', severity: 'low', title: 'Watch: customer-support v2.0.0' });
        await w.notify({ key: 'alert/x/2', kind: 'alert', severity: 'medium', title: 'Observing customer-support' });
        await w.pass();
        await w.pass();
        expect(slack.received.map((r) => r.json.text.split(':')[0])).toEqual(['Observing customer-support']);
        expect(hook.received).toHaveLength(2);
      });
    });

    describe('routing per prompt', () => {
      it("a prompt's notify.routes overrides the routes of the severities it names; a prompt with no owner and no override keeps the global routes; a change applies to the next notification", async () => {
        const pd = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
        const slack = await receiver();
        const hook = await receiver();
        const w = await world({
          PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY',
          PAGERDUTY_EVENTS_URL: pd.url,
          SLACK_WEBHOOK_URL: slack.url,
          WEBHOOK_URL: hook.url,
          WEBHOOK_SECRET: SECRET,
        });
        await w.a.registry.upsertPrompt(
          { name: 'customer-support', owner: 'team-cs', notify: { routes: { critical: ['pagerduty'], high: ['slack'], medium: [] } } },
          'alice',
        );
        await w.a.registry.upsertPrompt({ name: 'triage' }, 'alice');
        await w.notify({ key: 'cs/high', title: 'cs high' });
        await w.notify({ key: 'cs/critical', severity: 'critical', title: 'cs critical' });
        await w.notify({ key: 'cs/medium', kind: 'alert', severity: 'medium', title: 'cs medium' });
        await w.notify({ key: 'cs/low', kind: 'alert', severity: 'low', title: 'cs low' });
        await w.notify({ key: 'triage/high', prompt: 'triage', title: 'triage high' });
        await w.notify({ key: 'triage/medium', prompt: 'triage', kind: 'alert', severity: 'medium', title: 'triage medium' });
        // One attempt per channel and prompt at a time: a pass each.
        for (let i = 0; i < 3; i++) await w.pass();

        const routed = async () =>
          (await w.a.db.kysely.selectFrom('deliveries').select(['outbox_key', 'channel', 'status']).orderBy('id').execute()).map(
            (d) => `${d.outbox_key} ${d.channel} ${d.status}`,
          );
        expect(await routed()).toEqual([
          'cs/high slack sent',
          'cs/critical pagerduty sent',
          // low is not named by the override: the global route.
          'cs/low slack sent',
          'cs/low webhook sent',
          'triage/high pagerduty sent',
          'triage/high slack sent',
          'triage/high webhook sent',
          'triage/medium slack sent',
          'triage/medium webhook sent',
        ]);
        expect(pd.received.map((r) => r.json.payload.component).sort()).toEqual(['customer-support', 'triage']);
        expect(hook.received.map((r) => r.json.event_key).sort()).toEqual(['cs/low', 'triage/high', 'triage/medium']);

        // The override cleared: the next page of customer-support takes the global route again.
        await w.a.registry.upsertPrompt({ name: 'customer-support', notify: null }, 'alice');
        await w.notify({ key: 'cs/high/2', title: 'cs high again' });
        await w.pass();
        await w.pass();
        expect((await routed()).filter((d) => d.startsWith('cs/high/2 '))).toEqual([
          'cs/high/2 pagerduty sent',
          'cs/high/2 slack sent',
          'cs/high/2 webhook sent',
        ]);
      });
    });

    describe('PagerDuty Events API v2', () => {
      it('triggers with a dedup key from the rollback, mapped severity, numbers and links; acknowledges when a person decides; a new trigger per escalation tier; resolves every one when the rollback completes', async () => {
        const pd = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
        const w = await world({ PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY', PAGERDUTY_EVENTS_URL: pd.url });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();

        expect(pd.received).toHaveLength(1);
        const trigger = pd.received[0]!.json;
        expect(trigger).toMatchObject({
          routing_key: 'R0UTINGKEY',
          event_action: 'trigger',
          dedup_key: 'promptback/rollback/r1',
          payload: {
            source: 'promptback/customer-support',
            severity: 'error',
            component: 'customer-support',
            class: 'error_rate',
            custom_details: { metric: 'error_rate', threshold: 0.02, observed: 0.034, window_s: 300, samples: 412, rollback_id: 'r1' },
          },
          links: [
            { href: 'http://localhost:8000/api/rollbacks/r1', text: 'Rollback status' },
            { href: 'http://127.0.0.1:8233/namespaces/default/workflows/rollback%2Fcustomer-support%2Fr1', text: 'Temporal Web UI' },
          ],
        });
        expect(trigger.payload.summary).toContain('customer-support v2.0.0 → (known-good)');
        expect(trigger.payload.summary).toContain('error_rate 0.034 vs threshold 0.02 over 300 s, 412 samples');

        // The deadline passes: tier 2 is a new incident.
        await w.notify({
          key: 'r1/7/page',
          rollback_id: 'r1',
          title: 'ESCALATION tier 2: Decision needed for customer-support',
          data: { verdict, tier: 2 },
        });
        await w.pass();
        expect(pd.received.map((r) => [r.json.event_action, r.json.dedup_key])).toEqual([
          ['trigger', 'promptback/rollback/r1'],
          ['trigger', 'promptback/rollback/r1/tier-2'],
        ]);

        // A person approves: both incidents are acknowledged, once.
        await w.rollback({ rollback_id: 'r1', status: 'verifying', decided_by: 'alice', to_version: 'v1.9.0' });
        for (let i = 0; i < 3; i++) await w.pass();
        expect(pd.received.slice(2).map((r) => [r.json.event_action, r.json.dedup_key])).toEqual([
          ['acknowledge', 'promptback/rollback/r1'],
          ['acknowledge', 'promptback/rollback/r1/tier-2'],
        ]);
        expect(pd.received[2]!.json).toEqual({
          routing_key: 'R0UTINGKEY',
          event_action: 'acknowledge',
          dedup_key: 'promptback/rollback/r1',
        });

        // The rollback completes: both are resolved, once.
        await w.rollback({ rollback_id: 'r1', status: 'completed' });
        for (let i = 0; i < 3; i++) await w.pass();
        expect(pd.received.slice(4).map((r) => [r.json.event_action, r.json.dedup_key])).toEqual([
          ['resolve', 'promptback/rollback/r1'],
          ['resolve', 'promptback/rollback/r1/tier-2'],
        ]);
        const lifecycle = (await on(w, 'r1', 'pagerduty')).map((d) => [d.lifecycle, d.status]);
        expect(lifecycle).toEqual([
          ['trigger', 'sent'],
          ['trigger', 'sent'],
          ['acknowledge', 'sent'],
          ['resolve', 'sent'],
        ]);
      });

      it('a lifecycle the workflow puts in the notification data is sent as asked, and not repeated', async () => {
        const pd = await receiver(() => ({ status: 202 }));
        const w = await world({ PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY', PAGERDUTY_EVENTS_URL: pd.url });
        await w.rollback({ rollback_id: 'r2', severity: 'critical' });
        await w.notify({ key: 'r2/1/page', rollback_id: 'r2', severity: 'critical' });
        await w.pass();
        await w.rollback({ rollback_id: 'r2', status: 'cleared' });
        await w.notify({
          key: 'r2/5/alert',
          rollback_id: 'r2',
          kind: 'alert',
          severity: 'critical',
          title: 'Cleared',
          data: { lifecycle: 'resolve' },
        });
        for (let i = 0; i < 3; i++) await w.pass();
        expect(pd.received.map((r) => [r.json.event_action, r.json.dedup_key, r.json.payload?.severity ?? null])).toEqual([
          ['trigger', 'promptback/rollback/r2', 'critical'],
          ['resolve', 'promptback/rollback/r2', null],
        ]);
      });

      it('maps severities critical/high/medium/low to critical/error/warning/info', () => {
        const e = (severity: OutboundEvent['severity']): OutboundEvent => ({
          key: 'k',
          delivery_key: 'k/pagerduty',
          kind: 'page',
          severity,
          lifecycle: 'trigger',
          prompt: 'p',
          title: 't',
          message: 'm',
          links: {},
          data: {},
          created_at: new Date(T0).toISOString(),
        });
        expect(
          (['critical', 'high', 'medium', 'low'] as const).map((s) => (pagerDutyEvents(e(s), 'rk')[0]!.payload as any).severity),
        ).toEqual(['critical', 'error', 'warning', 'info']);
      });
    });

    describe('Slack', () => {
      it("a rollback's events reach a channel in the order they were raised, one at a time", async () => {
        let open = 0;
        let mostAtOnce = 0;
        const slack = await receiver(() => {
          mostAtOnce = Math.max(mostAtOnce, ++open);
          setTimeout(() => open--, 40);
          return { status: 200, delayMs: 40 };
        });
        const w = await world({ SLACK_WEBHOOK_URL: slack.url });
        await w.rollback({ rollback_id: 'r1' });
        for (let i = 0; i < 5; i++) await w.notify({ key: `r1/${i}/alert`, kind: 'alert', rollback_id: 'r1', title: `event ${i}` });
        for (let i = 0; i < 5; i++) await w.pass();
        expect(slack.received.map((r) => r.json.blocks[0].text.text)).toEqual(['event 0', 'event 1', 'event 2', 'event 3', 'event 4']);
        expect(mostAtOnce).toBe(1);
      });

      it('a Block Kit message with the numbers and links; Approve and Reject buttons while the incident awaits a decision, not after', async () => {
        const slack = await receiver();
        const w = await world({ SLACK_WEBHOOK_URL: slack.url });
        await w.rollback({ rollback_id: 'r1' });
        await w.notify({ key: 'r1/3/page', rollback_id: 'r1' });
        await w.pass();

        const msg = slack.received[0]!.json;
        expect(msg.text).toContain('Decision needed for customer-support');
        expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: 'Decision needed for customer-support' } });
        const fields = msg.blocks.find((b: any) => b.fields).fields.map((f: any) => f.text);
        expect(fields).toEqual(
          expect.arrayContaining([
            '*Prompt*\ncustomer-support',
            '*Metric*\nerror_rate',
            '*Observed / threshold*\n0.034 / 0.02',
            '*Window*\n300 s, 412 samples',
          ]),
        );
        const actions = msg.blocks.find((b: any) => b.type === 'actions').elements;
        expect(actions.map((a: any) => [a.action_id, a.value ?? a.url])).toEqual([
          ['approve', 'r1'],
          ['reject', 'r1'],
          ['open_status', 'http://localhost:8000/api/rollbacks/r1'],
          ['open_web_ui', 'http://127.0.0.1:8233/namespaces/default/workflows/rollback%2Fcustomer-support%2Fr1'],
        ]);

        await w.rollback({ rollback_id: 'r1', status: 'verifying', decided_by: 'alice', to_version: 'v1.9.0' });
        await w.notify({
          key: 'r1/8/alert',
          rollback_id: 'r1',
          kind: 'alert',
          title: 'ROLLBACK: customer-support',
          data: { from_version: 'v2.0.0', to_version: 'v1.9.0' },
        });
        await w.pass();
        const after = slack.received[1]!.json;
        expect(after.blocks.find((b: any) => b.type === 'actions').elements.map((a: any) => a.action_id)).toEqual([
          'open_status',
          'open_web_ui',
        ]);
        expect(after.blocks.find((b: any) => b.fields).fields.map((f: any) => f.text)).toContain('*Versions*\nv2.0.0 → v1.9.0');
      });
    });
  });
}

// The outbox lives in the store: while Postgres is down, a page could not even be queued. The worker's notify
// activity sends a page straight to its channels instead (its heartbeat carries where it went to the next attempt, on
// whichever worker), and the row queued once the store is back records it as sent.
describe.runIf(pgAvailable)('a page while the store cannot be used', () => {
  let pg: PgInstance;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(() => pg?.stop());

  /** One attempt of the worker's notify activity: what it answered, and the heartbeat details it left. */
  async function attempt(w: World, n: Parameters<ReturnType<typeof activitiesFor>['notify']>[0], details?: unknown) {
    const config = loadConfig({ DATA_DIR: os.tmpdir(), DATABASE_URL: 'unused.db' });
    // An attempt as the server schedules it: now, with the rollback's 30-s start-to-close timeout.
    const timing = { currentAttemptScheduledTimestampMs: Date.now(), startToCloseTimeoutMs: 30_000 };
    const env = new MockActivityEnvironment(details === undefined ? timing : { ...timing, heartbeatDetails: details });
    let heartbeat: unknown = details;
    env.on('heartbeat', (d: unknown) => (heartbeat = d));
    const activities = activitiesFor(w.a, config, w.dispatcher);
    const result = await env
      .run((x: typeof n) => activities.notify(x), n)
      .then(
        (r) => ({ ok: r }),
        (e: unknown) => ({ failed: e as Error }),
      );
    return { ...result, heartbeat };
  }

  it('goes straight to PagerDuty and Slack, once per channel across attempts and workers; queued when the store is back, it is recorded sent, not sent again, and resolved with its rollback; an alert waits for the store', async () => {
    const pd = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
    const slack = await receiver();
    const env = { PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY', PAGERDUTY_EVENTS_URL: pd.url, SLACK_WEBHOOK_URL: slack.url };
    const url = await pg.newDatabase();
    // Two workers over one store.
    const w1 = await world(env, url);
    const w2 = await world(env, url);
    await w1.rollback({ rollback_id: 'r9', status: 'rolling_back', deadline: undefined, tier: 2 });
    const page = {
      key: 'r9/n2/page',
      kind: 'page' as const,
      rollback_id: 'r9',
      prompt: 'customer-support',
      severity: 'critical' as const,
      title: 'ROLLBACK WAITING FOR THE STORE: customer-support',
      message: 'The rollback of customer-support has waited 121 s for the store.',
      data: { step: 'choose the target', waited_s: 121, tier: 2, incident: 'store-wait' },
    };
    pg.pause();
    let details: unknown;
    try {
      // The outbox cannot be written: the attempt fails (the activity retries), but the page went out.
      const first = await attempt(w1, page);
      expect('failed' in first).toBe(true);
      expect(pd.received).toHaveLength(1);
      expect(pd.received[0]!.json).toMatchObject({
        routing_key: 'R0UTINGKEY',
        event_action: 'trigger',
        dedup_key: 'promptback/rollback/r9/tier-2/store-wait',
        payload: { summary: expect.stringContaining('ROLLBACK WAITING FOR THE STORE'), severity: 'critical' },
      });
      expect(slack.received).toHaveLength(1);
      expect(slack.received[0]!.json.text).toContain('ROLLBACK WAITING FOR THE STORE');
      details = first.heartbeat;
      expect(details).toEqual({
        sent_directly: expect.arrayContaining([
          expect.objectContaining({ channel: 'pagerduty' }),
          expect.objectContaining({ channel: 'slack' }),
        ]),
      });
      // The next attempt, on the other worker, the store still down: nothing is sent twice.
      const second = await attempt(w2, page, details);
      expect('failed' in second).toBe(true);
      // An alert is no page: it waits for the store.
      const alert = await attempt(w1, { ...page, key: 'r9/n3/alert', kind: 'alert', severity: 'medium', title: 'Observing' });
      expect('failed' in alert).toBe(true);
      expect(pd.received).toHaveLength(1);
      expect(slack.received).toHaveLength(1);
    } finally {
      pg.resume();
    }
    // The store is back: the next attempt (the other worker again) queues the row, carrying what went out directly.
    for (let i = 0; ; i++) {
      const r = await attempt(w2, page, details);
      if ('ok' in r) break;
      if (i > 50) throw r.failed;
      await new Promise((res) => setTimeout(res, 200));
    }
    await w1.pass();
    await w2.pass();
    expect(pd.received).toHaveLength(1);
    expect(slack.received).toHaveLength(1);
    for (const channel of ['pagerduty', 'slack']) {
      const [d, ...more] = await on(w1, 'r9', channel);
      expect(more).toEqual([]);
      expect(d).toMatchObject({ status: 'sent', attempts: 1 });
      expect(d!.history).toEqual([expect.objectContaining({ outcome: 'sent', reason: expect.stringMatching(/directly.*store/) })]);
    }
    // The incident it opened is resolved with the rollback, as any other.
    await w1.rollback({ rollback_id: 'r9', status: 'completed' });
    await w1.pass();
    await w1.pass();
    expect(pd.received.map((r) => [r.json.event_action, r.json.dedup_key])).toEqual([
      ['trigger', 'promptback/rollback/r9/tier-2/store-wait'],
      ['resolve', 'promptback/rollback/r9/tier-2/store-wait'],
    ]);
  }, 60_000);

  it('a store that stops answering without refusing: the attempt gives up on it after 10 s and pages within its timeout; the insert answered late is not committed', async () => {
    const pd = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
    const w = await world({ PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY', PAGERDUTY_EVENTS_URL: pd.url }, await pg.newDatabase());
    // A connection in the pool, idle: the insert goes out on it and hangs.
    await w.notify({ key: 'r12/n1/alert', rollback_id: 'r12', kind: 'alert', severity: 'medium' });
    const page = {
      key: 'r12/n2/page',
      kind: 'page' as const,
      rollback_id: 'r12',
      prompt: 'customer-support',
      severity: 'critical' as const,
      title: 'ROLLBACK WAITING FOR THE STORE: customer-support',
      message: 'waited',
      data: { incident: 'store-wait' },
    };
    let details: unknown;
    pg.freeze();
    try {
      const t = Date.now();
      const first = await attempt(w, page);
      const took = Date.now() - t;
      expect('failed' in first && first.failed.message).toBe('the store did not answer in time');
      expect(took).toBeGreaterThanOrEqual(9_500);
      expect(took).toBeLessThan(28_000);
      expect(pd.received.map((r) => r.json.dedup_key)).toEqual(['promptback/rollback/r12/store-wait']);
      details = first.heartbeat;
    } finally {
      pg.thaw();
    }
    // The hung insert is answered once the store is back, too late: it is not committed (the row would not say where
    // the page went, and the dispatcher would send it again). The next attempt queues it with the list.
    const queued = () => w.a.db.kysely.selectFrom('outbox').select('payload').where('key', '=', page.key).execute();
    await new Promise((res) => setTimeout(res, 1_500));
    expect(await queued()).toEqual([]);
    for (let i = 0; ; i++) {
      const r = await attempt(w, page, details);
      if ('ok' in r) break;
      if (i > 50) throw r.failed;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(JSON.parse((await queued())[0]!.payload).direct).toEqual([expect.objectContaining({ channel: 'pagerduty' })]);
    await w.pass();
    expect(pd.received).toHaveLength(1);
    expect(await on(w, 'r12', 'pagerduty')).toEqual([
      expect.objectContaining({ status: 'sent', history: [expect.objectContaining({ reason: expect.stringMatching(/directly/) })] }),
    ]);
  }, 60_000);

  it("ends before its attempt's timeout: a channel that has not answered by then is not recorded, and the next attempt sends it again", async () => {
    const pd = await receiver(() => ({ status: 202, body: '{"status":"success"}' }));
    const slack = await receiver(() => ({ status: 200, delayMs: 8_000 }));
    const w = await world(
      { PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY', PAGERDUTY_EVENTS_URL: pd.url, SLACK_WEBHOOK_URL: slack.url, DELIVERY_TIMEOUT_S: '20' },
      await pg.newDatabase(),
    );
    const page = {
      key: 'r11/n1/page',
      kind: 'page' as const,
      rollback_id: 'r11',
      prompt: 'customer-support',
      severity: 'critical' as const,
      title: 'ROLLBACK WAITING FOR THE STORE: customer-support',
      message: 'waited',
      data: {},
    };
    pg.pause();
    try {
      const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 5_000, currentAttemptScheduledTimestampMs: Date.now() });
      const beats: unknown[] = [];
      env.on('heartbeat', (d: unknown) => beats.push(d));
      const activities = activitiesFor(w.a, loadConfig({ DATA_DIR: os.tmpdir(), DATABASE_URL: 'unused.db' }), w.dispatcher);
      const t = Date.now();
      await expect(env.run((x: typeof page) => activities.notify(x), page)).rejects.toThrow();
      // Within the 5-s timeout less its margin, though Slack holds its answer for 8 s.
      expect(Date.now() - t).toBeLessThan(4_500);
      expect(pd.received).toHaveLength(1);
      expect(slack.received).toHaveLength(1);
      // PagerDuty took it (recorded at once); Slack's answer came too late to count.
      expect(beats.at(-1)).toEqual({ sent_directly: [expect.objectContaining({ channel: 'pagerduty' })] });
    } finally {
      pg.resume();
    }
  }, 60_000);

  it('an attempt whose row was committed but whose answer was lost: the page sent directly meanwhile is recorded on the row, not sent again', async () => {
    const slack = await receiver();
    const w = await world({ SLACK_WEBHOOK_URL: slack.url }, await pg.newDatabase());
    const page = {
      key: 'r10/n1/page',
      kind: 'page' as const,
      rollback_id: 'r10',
      prompt: 'customer-support',
      severity: 'high' as const,
      title: 'Decision needed for customer-support',
      message: 'Decide by 05:05.',
      data: {},
    };
    // The row is in (the answer lost), and the next attempt carries a direct delivery from the one before.
    await w.notify({ ...page, links: {} });
    const sent = [{ channel: 'slack', at: new Date(T0).toISOString(), http_status: 200 }];
    const r = await attempt(w, page, { sent_directly: sent });
    expect('ok' in r).toBe(true);
    await w.pass();
    expect(slack.received).toHaveLength(0);
    expect(await on(w, 'r10', 'slack')).toEqual([
      expect.objectContaining({ status: 'sent', history: [expect.objectContaining({ reason: expect.stringMatching(/directly/) })] }),
    ]);
  }, 60_000);
});

describe('delivery settings', () => {
  it('defaults, and bad values stop start-up naming the variable', () => {
    const c = loadConfig({});
    expect(c.delivery).toMatchObject({ max_attempts: 8, backoff_s: 5, backoff_max_s: 300, timeout_s: 10, poll_s: 1 });
    expect(c.delivery.routes).toEqual({
      critical: ['pagerduty', 'slack', 'webhook'],
      high: ['pagerduty', 'slack', 'webhook'],
      medium: ['slack', 'webhook'],
      low: ['slack', 'webhook'],
      // An operator's own rollback informs the channels; its failure pages as critical.
      manual: ['slack', 'webhook'],
    });
    expect(c.delivery.pagerduty).toBeUndefined();
    expect(loadConfig({ PAGERDUTY_ROUTING_KEY: 'k' }).delivery.pagerduty?.events_url).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(() => loadConfig({ WEBHOOK_URL: 'https://example.com/hook' })).toThrow(/WEBHOOK_SECRET/);
    expect(() => loadConfig({ DELIVERY_ROUTES: 'high=pager+slack' })).toThrow(/DELIVERY_ROUTES.*pager/);
    expect(() => loadConfig({ DELIVERY_MAX_ATTEMPTS: '0' })).toThrow(/DELIVERY_MAX_ATTEMPTS/);
  });
});
