import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Severity } from '../../domain/severity';
import type { Clock } from '../../ports/clock';
import type {
  ChannelName,
  DeliveryAttempt,
  DirectDelivery,
  DirectPager,
  Notification,
  PromptNotify,
  DeliveryChannel,
  DeliveryStatus,
  Lifecycle,
  OutboundEvent,
  SendOutcome,
} from '../../ports/notifier';
import { directDeliveriesIn } from '../../ports/notifier';
import type { RollbackStore } from '../../ports/rollbacks';
import { json, parseJson } from '../sql/db';
import type { Database } from '../sql/schema';
import { dedupKeyFor } from './pagerduty';
import { channelsFor, lifecycleOf, routesFor, type Routes } from './routing';

export interface DispatchPolicy {
  /** Attempts per delivery before it ends `failed`. */
  max_attempts: number;
  /** Wait before the second attempt; doubles each time, up to backoff_max_s. */
  backoff_s: number;
  backoff_max_s: number;
  /** How long one process holds a delivery it is attempting; another may take it over afterwards. */
  lease_s: number;
  /** How often the outbox is read. */
  poll_s: number;
}

export interface DispatcherDeps {
  db: Kysely<Database>;
  rollbacks: Pick<RollbackStore, 'get'>;
  /** The configured channels; a routed channel missing here is recorded `skipped`. */
  channels: Partial<Record<ChannelName, DeliveryChannel>>;
  /** The global routes; a prompt's `notify.routes` overrides the severities it names. */
  routes: Routes;
  policy: DispatchPolicy;
  clock: Clock;
  log: Logger;
  /** Names this process in leases. */
  owner?: string;
  /** Called once per attempt outcome (and per skipped delivery), e.g. for a Prometheus counter. */
  onOutcome?: (channel: ChannelName, outcome: 'sent' | 'retrying' | 'failed' | 'skipped') => void;
}

/** The setting that turns each channel on, named in a skipped delivery's reason. */
const SETTING: Record<ChannelName, string> = {
  pagerduty: 'PAGERDUTY_ROUTING_KEY',
  slack: 'SLACK_WEBHOOK_URL',
  webhook: 'WEBHOOK_URL',
};
const MAX_IN_FLIGHT = 16;
/** What a delivery's history says of an attempt made without the store. */
export const SENT_DIRECTLY = 'sent directly: the store could not be used to queue it';
const FOLLOW_FOR_MS = 7 * 86_400_000;
/** Rollback statuses that end its PagerDuty incident; escalated and failed ones stay open for a person. */
const RESOLVING = ['completed', 'cleared', 'rejected'];

type DeliveryRow = Database['deliveries'] & { id: number; attempts: number; history: string };

/**
 * Sends what the outbox holds. Each outbox row becomes one delivery per routed channel (keyed outbox key +
 * channel); due deliveries are claimed with a lease so that, with several workers, one process attempts a
 * delivery at a time; a retryable failure is tried again with exponential backoff up to a bound, then the
 * delivery ends `failed` with the last HTTP status and reason. Runs beside the workflows, never in their path:
 * a channel that is down delays nothing but its own deliveries.
 */
export class DeliveryDispatcher implements DirectPager {
  private readonly owner: string;
  /** Each prompt's routes as last read: what page() uses while the store, which holds them, cannot be read. */
  private readonly lastRoutes = new Map<string, Routes>();
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Channel + rollback (or prompt) of the attempts under way: one at a time each (the claim keeps the order across processes). */
  private readonly streams = new Set<string>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly d: DispatcherDeps) {
    this.owner = d.owner ?? `${os.hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const on = Object.keys(this.d.channels);
    if (on.length === 0) {
      this.d.log.warn(
        'no delivery channel is configured (PAGERDUTY_ROUTING_KEY, SLACK_WEBHOOK_URL, WEBHOOK_URL): pages stay in the outbox and the log',
      );
    } else {
      this.d.log.info({ channels: on, routes: this.d.routes }, `delivering notifications to ${on.join(', ')}`);
    }
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.tick();
        } catch (e) {
          this.d.log.warn({ err: e }, 'delivery dispatcher: pass failed; trying again');
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.d.policy.poll_s * 1000);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    })();
  }

  /** Stops reading the outbox and waits for attempts under way (their leases would otherwise lapse first). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** One pass: plan deliveries for new outbox rows, follow rollbacks' PagerDuty lifecycle, start due attempts. */
  async tick(): Promise<void> {
    await this.route();
    await this.followLifecycle();
    await this.claimDue();
  }

  /** Waits until the attempts started so far have finished (tests). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private now(): string {
    return this.d.clock.now().toISOString();
  }

  private async route(): Promise<void> {
    const rows = await this.d.db.selectFrom('outbox').selectAll().where('routed_at', 'is', null).orderBy('id').limit(100).execute();
    // Each prompt's routes read once per pass: a change of its override applies from the next pass on.
    const routesOf = new Map<string, Promise<Routes>>();
    for (const r of rows) {
      const { data = {}, direct: sentDirectly } = parseJson<{ data?: Record<string, unknown>; direct?: unknown }>(r.payload, {});
      // The row's `direct` as the notifier wrote it; anything else is none (never a pass that fails on every row).
      const direct = directDeliveriesIn(sentDirectly);
      const lifecycle = lifecycleOf({ kind: r.kind, severity: r.severity, data });
      const rollbackId = r.rollback_id || null;
      const hasIncident =
        rollbackId !== null && (lifecycle === 'acknowledge' || lifecycle === 'resolve')
          ? (await this.triggerKeys(rollbackId)).length > 0
          : false;
      let routes = routesOf.get(r.prompt);
      if (!routes) routesOf.set(r.prompt, (routes = this.promptRoutes(r.prompt)));
      const routed = channelsFor({ severity: r.severity as Severity, lifecycle }, await routes, hasIncident);
      // A page sent without the store went by the routes the sending worker knew: its channels are recorded even if the
      // prompt's routes read now differ.
      const channels = [...new Set([...routed, ...direct.map((d) => d.channel)])];
      const now = this.now();
      for (const channel of channels) {
        const configured = this.d.channels[channel] !== undefined;
        const sent = direct.find((d) => d.channel === channel);
        if (sent) {
          await this.recordDirect(r, channel, lifecycle, sent, now);
          continue;
        }
        let external_key: string | null = null;
        if (channel === 'pagerduty' && lifecycle === 'trigger') {
          const tier = typeof data.tier === 'number' ? data.tier : rollbackId ? (await this.d.rollbacks.get(rollbackId))?.tier : undefined;
          external_key = dedupKeyFor({ key: r.key, ...(rollbackId ? { rollback_id: rollbackId } : {}), data }, tier);
        }
        const inserted = await this.d.db
          .insertInto('deliveries')
          .values({
            ...deliveryOf(r, channel, lifecycle),
            external_key,
            status: configured ? 'pending' : 'skipped',
            next_attempt_at: configured ? now : null,
            last_reason: configured ? null : `${channel} is not configured (${SETTING[channel]} is not set)`,
            created_at: now,
            updated_at: now,
          })
          .onConflict((oc) => oc.column('delivery_key').doNothing())
          .executeTakeFirst();
        if (!configured && Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) this.d.onOutcome?.(channel, 'skipped');
      }
      await this.d.db.updateTable('outbox').set({ routed_at: now }).where('id', '=', r.id).execute();
    }
  }

  /** A delivery page() made while the row could not be queued: recorded sent, with the key it triggered, never sent again. */
  private async recordDirect(
    r: OutboxRow,
    channel: ChannelName,
    lifecycle: Lifecycle | undefined,
    sent: DirectDelivery,
    now: string,
  ): Promise<void> {
    const history: DeliveryAttempt[] = [{ attempt: 1, at: sent.at, outcome: 'sent', http_status: sent.http_status, reason: SENT_DIRECTLY }];
    await this.d.db
      .insertInto('deliveries')
      .values({
        ...deliveryOf(r, channel, lifecycle),
        external_key: sent.external_key ?? null,
        status: 'sent',
        attempts: 1,
        last_http_status: sent.http_status,
        sent_at: sent.at,
        next_attempt_at: null,
        history: json(history),
        created_at: now,
        updated_at: now,
      })
      // A delivery planned from the row before it said so (never attempted, not being attempted now) is the one sent
      // directly; one already attempted keeps its record.
      .onConflict((oc) =>
        oc
          .column('delivery_key')
          .doUpdateSet({
            status: 'sent',
            attempts: 1,
            last_http_status: sent.http_status,
            last_reason: null,
            sent_at: sent.at,
            next_attempt_at: null,
            history: json(history),
            updated_at: now,
            ...(sent.external_key ? { external_key: sent.external_key } : {}),
          })
          .where('deliveries.status', '=', 'pending')
          .where((eb) => eb.or([eb('deliveries.lease_until', 'is', null), eb('deliveries.lease_until', '<=', now)])),
      )
      .execute();
  }

  /**
   * Sends a page straight to the configured channels its severity routes to (the prompt's routes as this process last
   * read them, else the global ones), as the PagerDuty trigger the dispatcher would send, skipping those in `already`
   * (an earlier attempt's, carried by its activity). The channels are tried side by side, each bounded by the delivery
   * timeout and by `until`. Never throws.
   */
  async page(
    n: Notification,
    already: readonly DirectDelivery[],
    opts: { until?: number; sent?: (list: DirectDelivery[]) => void } = {},
  ): Promise<DirectDelivery[]> {
    const lifecycle = lifecycleOf(n);
    if (n.kind !== 'page' || lifecycle !== 'trigger') return [...already];
    const names = channelsFor({ severity: n.severity, lifecycle }, this.lastRoutes.get(n.prompt) ?? this.d.routes, false);
    const todo = names.filter((name) => this.d.channels[name] !== undefined && !already.some((d) => d.channel === name));
    this.d.log.error(
      { notification: { key: n.key, kind: n.kind, severity: n.severity, prompt: n.prompt, rollback_id: n.rollback_id, data: n.data } },
      `${n.title}: ${n.message} (the store could not be used to queue this page; ${todo.length > 0 ? `sending it to ${todo.join(', ')} directly` : 'no channel left to send it to directly'})`,
    );
    const tier = typeof n.data.tier === 'number' ? n.data.tier : undefined;
    const list = [...already];
    await Promise.all(
      todo.map(async (name): Promise<void> => {
        const at = this.now();
        const external_key = name === 'pagerduty' ? dedupKeyFor(n, tier) : undefined;
        const event: OutboundEvent = {
          key: n.key,
          delivery_key: `${n.key}/${name}`,
          kind: n.kind,
          severity: n.severity,
          lifecycle,
          prompt: n.prompt,
          ...(n.rollback_id ? { rollback_id: n.rollback_id } : {}),
          title: n.title,
          message: n.message,
          links: n.links,
          data: n.data,
          created_at: at,
          ...(external_key ? { dedup_keys: [external_key] } : {}),
        };
        let outcome: SendOutcome;
        try {
          outcome = await answeredBy(this.d.channels[name]!.send(event), opts.until);
        } catch (e) {
          outcome = { ok: false, retryable: true, reason: e instanceof Error ? e.message : String(e) };
        }
        if (!outcome.ok) {
          this.d.log.error(
            { delivery: event.delivery_key, channel: name, reason: outcome.reason },
            `${n.title}: ${name} did not take the page directly either; it goes out once the store answers`,
          );
          return;
        }
        this.d.log.warn({ delivery: event.delivery_key, channel: name }, `${n.title}: paged through ${name} directly`);
        this.d.onOutcome?.(name, 'sent');
        list.push({ channel: name, at, http_status: outcome.http_status, ...(external_key ? { external_key } : {}) });
        opts.sent?.([...list]);
      }),
    );
    return list;
  }

  /** The routes of a prompt's notifications; an unreadable override keeps the global routes rather than losing a page. */
  private async promptRoutes(prompt: string): Promise<Routes> {
    try {
      const row = await this.d.db.selectFrom('prompts').select('notify').where('name', '=', prompt).executeTakeFirst();
      const routes = routesFor(this.d.routes, parseJson<PromptNotify | null>(row?.notify, null));
      this.lastRoutes.set(prompt, routes);
      return routes;
    } catch (e) {
      this.d.log.warn({ err: e, prompt }, 'notification routing of the prompt could not be read; using the global routes');
      return this.d.routes;
    }
  }

  /** PagerDuty dedup keys triggered (or being triggered) for a rollback. */
  private async triggerKeys(rollbackId: string): Promise<string[]> {
    const rows = await this.d.db
      .selectFrom('deliveries')
      .select('external_key')
      .distinct()
      .where('rollback_id', '=', rollbackId)
      .where('channel', '=', 'pagerduty')
      .where('lifecycle', '=', 'trigger')
      .where('status', '!=', 'skipped')
      .where('external_key', 'is not', null)
      .execute();
    return rows.map((r) => r.external_key!).sort();
  }

  /**
   * Acknowledge when a person decides, resolve when the rollback completes, clears or is rejected: enqueued as
   * outbox rows of their own (keyed per rollback and phase) unless the workflow already sent that lifecycle.
   */
  private async followLifecycle(): Promise<void> {
    const open = await this.d.db
      .selectFrom('deliveries as t')
      .select('t.rollback_id')
      .distinct()
      .where('t.channel', '=', 'pagerduty')
      .where('t.lifecycle', '=', 'trigger')
      .where('t.status', '!=', 'skipped')
      .where('t.rollback_id', 'is not', null)
      // Incidents left open (escalated, failed) are followed for a week, not forever.
      .where('t.created_at', '>=', new Date(this.d.clock.now().getTime() - FOLLOW_FOR_MS).toISOString())
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('deliveries as r')
              .select('r.id')
              .whereRef('r.rollback_id', '=', 't.rollback_id')
              .where('r.channel', '=', 'pagerduty')
              .where('r.lifecycle', '=', 'resolve'),
          ),
        ),
      )
      .execute();
    for (const { rollback_id } of open) {
      const v = await this.d.rollbacks.get(rollback_id!);
      if (!v) continue;
      const decidedByPerson = v.decided_by !== undefined && !v.decided_by.startsWith('system');
      const phase: Lifecycle | undefined = RESOLVING.includes(v.status) ? 'resolve' : decidedByPerson ? 'acknowledge' : undefined;
      if (!phase) continue;
      if (phase === 'acknowledge') {
        const acked = await this.d.db
          .selectFrom('deliveries')
          .select('id')
          .where('rollback_id', '=', v.rollback_id)
          .where('channel', '=', 'pagerduty')
          .where('lifecycle', '=', 'acknowledge')
          .executeTakeFirst();
        if (acked) continue;
      }
      const last = await this.d.db
        .selectFrom('outbox')
        .select('payload')
        .where('rollback_id', '=', v.rollback_id)
        .orderBy('id', 'desc')
        .executeTakeFirst();
      const links = parseJson<{ links?: Record<string, string> }>(last?.payload, {}).links ?? {};
      const title =
        phase === 'resolve' ? `Resolved: ${v.prompt} rollback ${v.status}` : `Acknowledged: ${v.prompt} — ${v.decided_by} decided`;
      const message =
        phase === 'resolve'
          ? `Rollback ${v.rollback_id} ended ${v.status}${v.to_version ? ` (${v.from_version ?? '(none)'} → ${v.to_version})` : ''}.`
          : `${v.decided_by} took the decision on rollback ${v.rollback_id}; it is ${v.status}.`;
      await this.d.db
        .insertInto('outbox')
        .values({
          key: `${v.rollback_id}/pagerduty/${phase}`,
          channel: 'on-call',
          kind: 'alert',
          severity: v.severity,
          prompt: v.prompt,
          rollback_id: v.rollback_id,
          title,
          message,
          payload: json({ links, data: { lifecycle: phase, status: v.status, decided_by: v.decided_by ?? null } }),
          created_at: this.now(),
        })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
    }
  }

  private async claimDue(): Promise<void> {
    const free = MAX_IN_FLIGHT - this.inFlight.size;
    if (free <= 0) return;
    const now = this.now();
    let q = this.d.db
      .selectFrom('deliveries as d')
      .selectAll()
      .where('d.status', 'in', ['pending', 'retrying'])
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.lease_until', 'is', null), eb('d.lease_until', '<=', now)]))
      // In order across processes: a delivery waits while an earlier one of its rollback (or, without one, its
      // prompt) to the same channel is still pending or retrying. One that ended failed or skipped holds nothing
      // back, and retries are bounded, so a channel that stays down delays its later events by at most that bound.
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('deliveries as e')
              .select('e.id')
              .whereRef('e.channel', '=', 'd.channel')
              .whereRef('e.id', '<', 'd.id')
              .where('e.status', 'in', ['pending', 'retrying'])
              .where((w) =>
                w.or([
                  w.and([w('d.rollback_id', 'is not', null), w('e.rollback_id', '=', w.ref('d.rollback_id'))]),
                  w.and([w('d.rollback_id', 'is', null), w('e.rollback_id', 'is', null), w('e.prompt', '=', w.ref('d.prompt'))]),
                ]),
              ),
          ),
        ),
      );
    if (this.inFlight.size > 0) q = q.where('d.id', 'not in', [...this.inFlight.keys()]);
    const due = await q
      .orderBy('d.next_attempt_at')
      .orderBy('d.id')
      .limit(free * 4)
      .execute();
    const leaseUntil = new Date(Date.parse(now) + this.d.policy.lease_s * 1000).toISOString();
    for (const row of due) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) break;
      const stream = `${row.channel}|${row.rollback_id ?? `prompt:${row.prompt}`}`;
      if (this.streams.has(stream)) continue;
      // The lease is taken by a conditional update: of several processes, exactly one sees its row change.
      const claimed = await this.d.db
        .updateTable('deliveries')
        .set({ lease_owner: this.owner, lease_until: leaseUntil })
        .where('id', '=', row.id)
        .where('status', 'in', ['pending', 'retrying'])
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        // Checked again in the claim itself: an earlier event of the stream may have been rescheduled meanwhile.
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('deliveries as e')
                .select('e.id')
                .where('e.channel', '=', row.channel)
                .where('e.id', '<', row.id)
                .where('e.status', 'in', ['pending', 'retrying'])
                .where((w) =>
                  row.rollback_id !== null
                    ? w('e.rollback_id', '=', row.rollback_id)
                    : w.and([w('e.rollback_id', 'is', null), w('e.prompt', '=', row.prompt)]),
                ),
            ),
          ),
        )
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) continue;
      const id = Number(row.id);
      this.streams.add(stream);
      const p = this.attempt(row as DeliveryRow)
        .catch((e: unknown) => this.d.log.warn({ err: e, delivery: row.delivery_key }, 'delivery attempt could not be recorded'))
        .finally(() => {
          this.inFlight.delete(id);
          this.streams.delete(stream);
        });
      this.inFlight.set(id, p);
    }
  }

  private async attempt(row: DeliveryRow): Promise<void> {
    const channel = this.d.channels[row.channel as ChannelName];
    if (!channel) {
      await this.finish(row, {
        status: 'skipped',
        last_reason: `${row.channel} is not configured (${SETTING[row.channel as ChannelName]} is not set)`,
      });
      return;
    }
    const event = await this.eventOf(row);
    if (event === 'wait') {
      // Acknowledge/resolve wait for the trigger they act on, or PagerDuty would drop them and keep the incident open.
      const later = new Date(this.d.clock.now().getTime() + this.d.policy.poll_s * 1000).toISOString();
      await this.finish(row, { next_attempt_at: later });
      return;
    }
    let outcome: SendOutcome;
    try {
      outcome = await channel.send(event);
    } catch (e) {
      outcome = { ok: false, retryable: true, reason: e instanceof Error ? e.message : String(e) };
    }
    const at = this.d.clock.now();
    const attempt = Number(row.attempts) + 1;
    const history = parseJson<DeliveryAttempt[]>(row.history, []);
    if (outcome.ok) {
      history.push({ attempt, at: at.toISOString(), outcome: 'sent', http_status: outcome.http_status });
      await this.finish(row, {
        status: 'sent',
        attempts: attempt,
        last_http_status: outcome.http_status,
        last_reason: null,
        sent_at: at.toISOString(),
        next_attempt_at: null,
        history: json(history),
      });
      this.d.onOutcome?.(row.channel as ChannelName, 'sent');
      return;
    }
    const retry = outcome.retryable && attempt < this.d.policy.max_attempts;
    const base = {
      attempt,
      at: at.toISOString(),
      reason: outcome.reason,
      ...(outcome.http_status !== undefined ? { http_status: outcome.http_status } : {}),
    };
    if (retry) {
      const delay = Math.min(this.d.policy.backoff_s * 2 ** (attempt - 1), this.d.policy.backoff_max_s);
      const next = new Date(at.getTime() + delay * 1000).toISOString();
      history.push({ ...base, outcome: 'retrying', next_attempt_at: next });
      await this.finish(row, {
        status: 'retrying',
        attempts: attempt,
        next_attempt_at: next,
        last_http_status: outcome.http_status ?? null,
        last_reason: outcome.reason,
        history: json(history),
      });
      this.d.onOutcome?.(row.channel as ChannelName, 'retrying');
    } else {
      const why = outcome.retryable ? `${outcome.reason} (gave up after ${attempt} attempts)` : outcome.reason;
      history.push({ ...base, outcome: 'failed', reason: why });
      await this.finish(row, {
        status: 'failed',
        attempts: attempt,
        next_attempt_at: null,
        last_http_status: outcome.http_status ?? null,
        last_reason: why,
        history: json(history),
      });
      this.d.onOutcome?.(row.channel as ChannelName, 'failed');
      this.d.log.error({ delivery: row.delivery_key, channel: row.channel, reason: why }, 'delivery failed');
    }
  }

  /** Records the outcome and releases the lease, only while this process still holds it. */
  private async finish(
    row: DeliveryRow,
    set: Partial<{
      status: DeliveryStatus;
      attempts: number;
      next_attempt_at: string | null;
      last_http_status: number | null;
      last_reason: string | null;
      sent_at: string;
      history: string;
    }>,
  ): Promise<void> {
    const r = await this.d.db
      .updateTable('deliveries')
      .set({ ...set, lease_owner: null, lease_until: null, updated_at: this.now() })
      .where('id', '=', row.id)
      .where('lease_owner', '=', this.owner)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      this.d.log.warn({ delivery: row.delivery_key }, 'delivery lease lapsed before the attempt was recorded; another process owns it now');
    }
  }

  private async eventOf(row: DeliveryRow): Promise<OutboundEvent | 'wait'> {
    const o = await this.d.db.selectFrom('outbox').selectAll().where('id', '=', row.outbox_id).executeTakeFirstOrThrow();
    const payload = parseJson<{ links?: Record<string, string>; data?: Record<string, unknown> }>(o.payload, {});
    const v = row.rollback_id ? await this.d.rollbacks.get(row.rollback_id) : undefined;
    let dedup_keys: string[] | undefined;
    if (row.channel === 'pagerduty') {
      if (row.lifecycle === 'trigger') dedup_keys = row.external_key ? [row.external_key] : undefined;
      else if (row.rollback_id) {
        const pending = await this.d.db
          .selectFrom('deliveries')
          .select('id')
          .where('rollback_id', '=', row.rollback_id)
          .where('channel', '=', 'pagerduty')
          .where('lifecycle', '=', 'trigger')
          .where('status', 'in', ['pending', 'retrying'])
          .executeTakeFirst();
        if (pending) return 'wait';
        dedup_keys = await this.triggerKeys(row.rollback_id);
      }
    }
    return {
      key: o.key,
      delivery_key: row.delivery_key,
      kind: o.kind as 'page' | 'alert',
      severity: o.severity as Severity,
      ...(row.lifecycle ? { lifecycle: row.lifecycle as Lifecycle } : {}),
      prompt: o.prompt,
      ...(row.rollback_id ? { rollback_id: row.rollback_id } : {}),
      title: o.title,
      message: o.message,
      links: payload.links ?? {},
      data: payload.data ?? {},
      created_at: o.created_at,
      ...(v
        ? {
            rollback: {
              status: v.status,
              from_version: v.from_version,
              to_version: v.to_version,
              ...(v.trigger ? { trigger: v.trigger } : {}),
              ...(v.decided_by ? { decided_by: v.decided_by } : {}),
              ...(v.deadline ? { deadline: v.deadline } : {}),
              ...(v.tier !== undefined ? { tier: v.tier } : {}),
            },
          }
        : {}),
      ...(dedup_keys ? { dedup_keys } : {}),
    };
  }
}

/** What a delivery row takes from its outbox row. */
type OutboxRow = { id: number; key: string; rollback_id: string | null; prompt: string; kind: string; severity: string; title: string };

/** A delivery's identity and what it copies of its outbox row (the channel's own columns are the caller's). */
function deliveryOf(r: OutboxRow, channel: ChannelName, lifecycle: Lifecycle | undefined) {
  return {
    delivery_key: `${r.key}/${channel}`,
    outbox_id: Number(r.id),
    outbox_key: r.key,
    channel,
    rollback_id: r.rollback_id || null,
    prompt: r.prompt,
    kind: r.kind,
    severity: r.severity,
    lifecycle: lifecycle ?? null,
    title: r.title,
  };
}

/** A channel's answer, or a failure once `until` (epoch ms) has passed (the request may still complete; it is not recorded). */
function answeredBy(p: Promise<SendOutcome>, until: number | undefined): Promise<SendOutcome> {
  if (until === undefined || !Number.isFinite(until)) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<SendOutcome>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, retryable: true, reason: 'no answer before the attempt had to end' }),
      Math.max(0, until - Date.now()),
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
