import type { Severity } from '../domain/rollback';

export interface Notification {
  /** Idempotency key: the same key twice sends once (activities run at least once). */
  key: string;
  /** `page` wakes the on-call; `alert` informs a channel. */
  kind: 'page' | 'alert';
  severity: Severity;
  prompt: string;
  rollback_id?: string;
  title: string;
  message: string;
  /** Links a person follows: the status URL and the Web UI workflow. */
  links: Record<string, string>;
  /** The verdict's numbers, so a reader knows why. */
  data: Record<string, unknown>;
  /** Where the page already went while the store could not be used to queue it: recorded sent, not sent again. */
  sent_directly?: DirectDelivery[];
}

export interface Notifier {
  /** Queues it; with `until` (epoch ms), a notification not queued by then is not queued at all (the call fails). */
  notify(n: Notification, opts?: { until?: number }): Promise<{ id: string; channel: string }>;
}

/** A page sent straight to a channel while the outbox could not be written; recorded with its row once it is. */
export interface DirectDelivery {
  channel: ChannelName;
  at: string;
  http_status: number;
  /** PagerDuty: the dedup key it triggered, which its acknowledge and resolve act on. */
  external_key?: string;
}

/** A list of direct deliveries as written to a heartbeat or a row; anything else in it is dropped (none if not a list). */
export function directDeliveriesIn(v: unknown): DirectDelivery[] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (d): d is DirectDelivery =>
      typeof d === 'object' &&
      d !== null &&
      CHANNEL_NAMES.includes((d as DirectDelivery).channel) &&
      typeof (d as DirectDelivery).at === 'string' &&
      typeof (d as DirectDelivery).http_status === 'number',
  );
}

/**
 * Pages on-call without the store: the outbox lives in it, so while it cannot be used (Postgres down, failing over,
 * out of connections) a page could not even be queued, and the page saying so would reach nobody.
 */
export interface DirectPager {
  /**
   * Sends a page to the channels its severity routes to that are not in `already`; returns `already` with those it
   * reached, and tells `sent` the list each time a channel takes it. A channel that has not answered by `until`
   * (epoch ms) counts as failed. Never throws: a channel that fails is logged, and the page, once queued, is delivered
   * as usual.
   */
  page(
    n: Notification,
    already: readonly DirectDelivery[],
    opts?: { until?: number; sent?: (list: DirectDelivery[]) => void },
  ): Promise<DirectDelivery[]>;
}

/** Where a notification is delivered after the outbox: each is an outbound HTTP integration. */
export type ChannelName = 'pagerduty' | 'slack' | 'webhook';
export const CHANNEL_NAMES: readonly ChannelName[] = ['pagerduty', 'slack', 'webhook'];

/**
 * A prompt's own routing (`notify` on the prompt): a severity named in `routes` goes to exactly those channels
 * (an empty list silences it for this prompt, except critical, which always reaches at least one channel); a
 * severity left out keeps the global route (DELIVERY_ROUTES).
 */
export interface PromptNotify {
  routes?: Partial<Record<Severity, ChannelName[]>>;
}

/**
 * An incident's place in its PagerDuty lifecycle. The workflow may set `data.lifecycle` on a notification;
 * otherwise a page (or any critical notification) is a `trigger`, and acknowledge/resolve follow the rollback.
 */
export type Lifecycle = 'trigger' | 'acknowledge' | 'resolve';

/** One notification as a channel sends it: the outbox row, the rollback it belongs to, and its delivery key. */
export interface OutboundEvent {
  /** The outbox key (idempotency of the notification). */
  key: string;
  /** Outbox key + channel: the same delivery key is never sent as two different events. */
  delivery_key: string;
  kind: 'page' | 'alert';
  severity: Notification['severity'];
  lifecycle?: Lifecycle;
  prompt: string;
  rollback_id?: string;
  title: string;
  message: string;
  links: Record<string, string>;
  data: Record<string, unknown>;
  created_at: string;
  /** The rollback as it stands when the event is sent (versions, status, trigger numbers). */
  rollback?: {
    status: string;
    from_version: string | null;
    to_version: string | null;
    trigger?: { metric: string; threshold: number; observed: number | null; window_s: number; samples: number };
    decided_by?: string;
    deadline?: string;
    tier?: number;
  };
  /** PagerDuty: the dedup keys this event acts on (one for a trigger; every triggered one for acknowledge/resolve). */
  dedup_keys?: string[];
}

/** How one attempt went. A retryable failure is tried again later; a permanent one ends the delivery `failed`. */
export type SendOutcome = { ok: true; http_status: number } | { ok: false; retryable: boolean; http_status?: number; reason: string };

export interface DeliveryChannel {
  readonly name: ChannelName;
  send(event: OutboundEvent): Promise<SendOutcome>;
}

export type DeliveryStatus = 'pending' | 'retrying' | 'sent' | 'failed' | 'skipped';

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  outcome: 'sent' | 'retrying' | 'failed';
  http_status?: number;
  reason?: string;
  next_attempt_at?: string;
}

/** What GET /api/rollbacks/{id} shows for each delivery of its notifications. */
export interface DeliveryRecord {
  channel: ChannelName;
  delivery_key: string;
  outbox_key: string;
  kind: 'page' | 'alert';
  severity: string;
  lifecycle: Lifecycle | null;
  title: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_http_status: number | null;
  last_reason: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
  history: DeliveryAttempt[];
}

/** The read side of deliveries, per rollback. */
export interface DeliveryLog {
  deliveriesFor(rollback_id: string): Promise<DeliveryRecord[]>;
}
