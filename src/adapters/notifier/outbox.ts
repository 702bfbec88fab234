import { PostgresAdapter, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { DirectDelivery, Notification, Notifier } from '../../ports/notifier';
import { json, parseJson } from '../sql/db';
import type { Database } from '../sql/schema';

/**
 * The workflow-facing notifier: a structured log line plus a row in the outbox table, keyed so that a retried
 * activity enqueues once. The worker's DeliveryDispatcher sends the row on (PagerDuty, Slack, webhook) outside the
 * workflow's path; the rollback's timeline shows what was enqueued, its `deliveries` what each channel got.
 *
 * A page already sent directly (the store could not be used to queue it: `sent_directly`) carries that in its row
 * (`direct`): the dispatcher records those deliveries sent and does not send them again.
 */
export class OutboxNotifier implements Notifier {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly clock: { now(): Date },
  ) {}

  async notify(n: Notification, opts: { until?: number } = {}): Promise<{ id: string; channel: string }> {
    const channel = n.kind === 'page' ? 'on-call' : '#incidents';
    const direct = n.sent_directly ?? [];
    const { added, id } = await this.db.transaction().execute(async (tx) => {
      const inserted = await tx
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
      const added = Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
      // Queued by an attempt whose answer was lost (the connection dropped after the commit), then sent directly:
      // the row says so too (added to what it says already), unless the dispatcher routed it meanwhile.
      if (!added && direct.length > 0) await this.addDirect(tx, n.key, direct);
      const row = await tx.selectFrom('outbox').select('id').where('key', '=', n.key).executeTakeFirstOrThrow();
      // Past its time nothing is committed: the caller may have sent the page directly meanwhile, and a row that does
      // not say so would be delivered again.
      if (opts.until !== undefined && Date.now() >= opts.until) throw new Error('the store answered too late: nothing was queued');
      return { added, id: row.id };
    });
    if (added) {
      this.log[n.kind === 'page' ? 'error' : 'warn'](
        {
          notification: { kind: n.kind, severity: n.severity, prompt: n.prompt, rollback_id: n.rollback_id, links: n.links, data: n.data },
        },
        `${n.title}: ${n.message}`,
      );
    }
    return { id: String(id), channel };
  }

  /** Adds direct deliveries to a queued row not yet routed (its row locked on Postgres: concurrent attempts add up). */
  private async addDirect(tx: Transaction<Database>, key: string, direct: DirectDelivery[]): Promise<void> {
    let q = tx.selectFrom('outbox').select('payload').where('key', '=', key).where('routed_at', 'is', null);
    if (this.db.getExecutor().adapter instanceof PostgresAdapter) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) return;
    const payload = parseJson<{ direct?: DirectDelivery[] } & Record<string, unknown>>(row.payload, {});
    const had = Array.isArray(payload.direct) ? payload.direct : [];
    const merged = [...had, ...direct.filter((d) => !had.some((h) => h.channel === d.channel))];
    await tx
      .updateTable('outbox')
      .set({ payload: json({ ...payload, direct: merged }) })
      .where('key', '=', key)
      .where('routed_at', 'is', null)
      .execute();
  }
}
