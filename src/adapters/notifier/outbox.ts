import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DirectPager, Notification, Notifier } from '../../ports/notifier';
import { json, storeOutage } from '../sql/db';
import type { Database } from '../sql/schema';

/**
 * The workflow-facing notifier: a structured log line plus a row in the outbox table, keyed so that a retried
 * activity enqueues once. The worker's DeliveryDispatcher sends the row on (PagerDuty, Slack, webhook) outside the
 * workflow's path; the rollback's timeline shows what was enqueued, its `deliveries` what each channel got.
 *
 * A page that cannot be queued because the store cannot be used goes out through the direct pager (the worker's
 * dispatcher) all the same; the call still fails, so that the activity's retry queues the row once the store is back,
 * carrying what went out (`direct`): the dispatcher records those deliveries sent and does not send them again.
 */
export class OutboxNotifier implements Notifier {
  private direct: DirectPager | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly clock: { now(): Date },
  ) {}

  /** Pages go out through this pager while the outbox cannot be written (the worker sets its dispatcher). */
  pageDirectlyWhenStoreDown(pager: DirectPager): void {
    this.direct = pager;
  }

  async notify(n: Notification): Promise<{ id: string; channel: string }> {
    const channel = n.kind === 'page' ? 'on-call' : '#incidents';
    const direct = this.direct?.sentDirectly(n.key) ?? [];
    let inserted;
    try {
      inserted = await this.db
        .insertInto('outbox')
        .values({
          key: n.key,
          channel,
          kind: n.kind,
          severity: n.severity,
          prompt: n.prompt,
          rollback_id: n.rollback_id ?? null,
          title: n.title,
          message: n.message,
          payload: json({ links: n.links, data: n.data, ...(direct.length > 0 ? { direct } : {}) }),
          created_at: this.clock.now().toISOString(),
        })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
    } catch (e) {
      if (n.kind === 'page' && this.direct && storeOutage(e) !== undefined) await this.direct.page(n);
      throw e;
    }
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
      this.log[n.kind === 'page' ? 'error' : 'warn'](
        {
          notification: { kind: n.kind, severity: n.severity, prompt: n.prompt, rollback_id: n.rollback_id, links: n.links, data: n.data },
        },
        `${n.title}: ${n.message}`,
      );
    }
    const row = await this.db.selectFrom('outbox').select('id').where('key', '=', n.key).executeTakeFirstOrThrow();
    return { id: String(row.id), channel };
  }
}
