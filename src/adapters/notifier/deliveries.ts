import type { Kysely } from 'kysely';
import type { ChannelName, DeliveryAttempt, DeliveryLog, DeliveryRecord, DeliveryStatus, Lifecycle } from '../../ports/notifier';
import { parseJson } from '../sql/db';
import type { Database } from '../sql/schema';

type Row = Database['deliveries'] & { id: number; attempts: number; history: string };

export const toRecord = (r: Row): DeliveryRecord => ({
  channel: r.channel as ChannelName,
  delivery_key: r.delivery_key,
  outbox_key: r.outbox_key,
  kind: r.kind as 'page' | 'alert',
  severity: r.severity,
  lifecycle: (r.lifecycle as Lifecycle | null) ?? null,
  title: r.title,
  status: r.status as DeliveryStatus,
  attempts: Number(r.attempts),
  next_attempt_at: r.status === 'pending' || r.status === 'retrying' ? r.next_attempt_at : null,
  last_http_status: r.last_http_status === null ? null : Number(r.last_http_status),
  last_reason: r.last_reason,
  created_at: r.created_at,
  updated_at: r.updated_at,
  sent_at: r.sent_at,
  history: parseJson<DeliveryAttempt[]>(r.history, []),
});

/** Every delivery of a rollback's notifications, oldest first: what was sent where, and what each attempt got back. */
export class SqlDeliveryLog implements DeliveryLog {
  constructor(private readonly db: Kysely<Database>) {}

  async deliveriesFor(rollback_id: string): Promise<DeliveryRecord[]> {
    const rows = await this.db.selectFrom('deliveries').selectAll().where('rollback_id', '=', rollback_id).orderBy('id').execute();
    return rows.map((r) => toRecord(r as Row));
  }

  /** How many deliveries are in each state, per channel (all rollbacks and alerts): what /metrics reports. */
  async countsByChannelAndStatus(): Promise<{ channel: string; status: string; count: number }[]> {
    const rows = await this.db
      .selectFrom('deliveries')
      .select(['channel', 'status', (eb) => eb.fn.countAll().as('count')])
      .groupBy(['channel', 'status'])
      .execute();
    return rows.map((r) => ({ channel: r.channel, status: r.status, count: Number(r.count) }));
  }
}
