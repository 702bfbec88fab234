/**
 * A page raised while the store cannot be used, through the worker's real notify activity on a real Temporal server:
 * sent directly once, whatever number of attempts the outage costs (each attempt learns from the last one's heartbeat
 * details, which the server keeps), then queued and recorded once the store is back.
 */
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { activitiesFor, deliveryDispatcherFor, openAdapters } from '../../src/main/wiring';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { startReceiver, type Receiver } from '../support/receiver';
import { waitFor } from '../support/stack';

const available = findPostgres() !== undefined || process.env.CI === 'true';
const NAMESPACE = 'it-direct-page';

describe.runIf(available)('a page while the store cannot be used, on a real Temporal server', () => {
  let pg: PgInstance;
  let pd: Receiver;
  let slack: Receiver;
  beforeAll(async () => {
    pg = await startPostgres();
    pd = await startReceiver(() => ({ status: 202, body: '{"status":"success"}' }));
    slack = await startReceiver();
  }, 60_000);
  afterAll(async () => {
    await pd?.close();
    await slack?.close();
    pg?.stop();
  });

  it('goes out once while the attempts fail, is queued when the store is back, and is recorded sent, not sent again', async () => {
    const config = loadConfig({
      DATA_DIR: os.tmpdir(),
      DATABASE_URL: await pg.newDatabase(),
      PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY',
      PAGERDUTY_EVENTS_URL: pd.url,
      SLACK_WEBHOOK_URL: slack.url,
    });
    const adapters = await openAdapters(config, createLogger('silent'));
    const dispatcher = deliveryDispatcherFor(adapters, config);
    const address = inject('temporalAddress');
    const taskQueue = `direct-page-${randomUUID()}`;
    const activities = activitiesFor(adapters, config, dispatcher);
    const worker = await Worker.create({
      connection: await NativeConnection.connect({ address }),
      namespace: NAMESPACE,
      taskQueue,
      workflowsPath: path.join(__dirname, '..', 'support', 'workflows', 'notify-once.ts'),
      activities: { notify: (n: Parameters<typeof activities.notify>[0]) => activities.notify(n) },
    });
    const connection = await Connection.connect({ address });
    const client = new Client({ connection, namespace: NAMESPACE });
    try {
      await worker.runUntil(async () => {
        pg.pause();
        const h = await client.workflow.start('notifyOnceWorkflow', {
          taskQueue,
          workflowId: `direct-page-${randomUUID()}`,
          args: [
            {
              key: 'r7/n4/page',
              kind: 'page',
              severity: 'critical',
              prompt: 'customer-support',
              rollback_id: 'r7',
              title: 'ROLLBACK WAITING FOR THE STORE: customer-support',
              message: 'The rollback of customer-support has waited 121 s for the store.',
              data: { step: 'choose the target', waited_s: 121, tier: 1, incident: 'store-wait' },
            },
          ],
        });
        try {
          // The third attempt is under way or waiting: two failed after the first sent the page.
          await waitFor(
            'a third attempt',
            async () => {
              const d = await h.describe();
              return (d.raw.pendingActivities?.[0]?.attempt ?? 0) >= 3 ? true : undefined;
            },
            30_000,
          );
          expect(pd.received).toHaveLength(1);
          expect(pd.received[0]!.json).toMatchObject({ event_action: 'trigger', dedup_key: 'promptback/rollback/r7/store-wait' });
          expect(slack.received).toHaveLength(1);
          const pending = (await h.describe()).raw.pendingActivities?.[0];
          expect(pending?.lastFailure?.applicationFailureInfo?.type).toBe('StoreUnavailable');
        } finally {
          pg.resume();
        }
        await h.result();
      });
      await dispatcher.tick();
      await dispatcher.settle();
      await dispatcher.tick();
      await dispatcher.settle();
      expect(pd.received).toHaveLength(1);
      expect(slack.received).toHaveLength(1);
      const deliveries = await adapters.deliveries.deliveriesFor('r7');
      expect(deliveries.map((d) => [d.channel, d.status, d.history[0]?.reason])).toEqual([
        ['pagerduty', 'sent', expect.stringMatching(/directly/)],
        ['slack', 'sent', expect.stringMatching(/directly/)],
        ['webhook', 'skipped', undefined],
      ]);
    } finally {
      await connection.close();
      await dispatcher.stop();
      await adapters.db.close();
    }
  }, 90_000);
});
