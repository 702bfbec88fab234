import type { DeliveryChannel, OutboundEvent, SendOutcome } from '../../ports/notifier';
import type { Severity } from '../../domain/severity';
import { numbersOf, summaryOf, versionsOf } from './format';
import { postJson } from './http';

export const DEFAULT_PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  manual: 'warning',
};

/**
 * One PagerDuty incident per rollback (and one more per escalation tier beyond the first), so that acknowledge
 * and resolve reach it. Notifications without a rollback dedup on their own outbox key. A page that names an incident
 * of its own (`data.incident`: the rollback waiting for the store) opens it beside the rollback's, which may be
 * acknowledged already: a trigger on an open incident's key wakes nobody.
 */
export function dedupKeyFor(
  e: { key: string; rollback_id?: string | undefined; data?: Record<string, unknown> },
  tier: number | undefined,
): string {
  if (!e.rollback_id) return `promptback/${e.key}`;
  const own = typeof e.data?.incident === 'string' && /^[a-z0-9-]{1,40}$/.test(e.data.incident) ? `/${e.data.incident}` : '';
  return tier !== undefined && tier > 1
    ? `promptback/rollback/${e.rollback_id}/tier-${tier}${own}`
    : `promptback/rollback/${e.rollback_id}${own}`;
}

/** The Events API v2 bodies for one event: one per dedup key it acts on. */
export function pagerDutyEvents(e: OutboundEvent, routingKey: string): Record<string, unknown>[] {
  const action = e.lifecycle ?? 'trigger';
  const keys = e.dedup_keys && e.dedup_keys.length > 0 ? e.dedup_keys : [dedupKeyFor(e, undefined)];
  if (action !== 'trigger') return keys.map((dedup_key) => ({ routing_key: routingKey, event_action: action, dedup_key }));
  const n = numbersOf(e);
  const versions = versionsOf(e);
  const links = Object.entries(e.links).map(([name, href]) => ({
    href,
    text: name === 'status_url' ? 'Rollback status' : name === 'web_ui' ? 'Temporal Web UI' : name,
  }));
  return keys.map((dedup_key) => ({
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key,
    payload: {
      summary: summaryOf(e).slice(0, 1024),
      source: `promptback/${e.prompt}`,
      severity: PD_SEVERITY[e.severity] ?? 'error',
      timestamp: e.created_at,
      component: e.prompt,
      group: 'prompts',
      ...(n ? { class: n.metric } : {}),
      custom_details: {
        prompt: e.prompt,
        ...(e.rollback_id ? { rollback_id: e.rollback_id } : {}),
        ...(versions ? { versions } : {}),
        ...(e.rollback ? { status: e.rollback.status } : {}),
        ...(e.rollback?.deadline ? { deadline: e.rollback.deadline } : {}),
        ...(n ? { metric: n.metric, threshold: n.threshold, observed: n.observed, window_s: n.window_s, samples: n.samples } : {}),
        message: e.message,
      },
    },
    links,
    client: 'promptback',
    ...(e.links.status_url ? { client_url: e.links.status_url } : {}),
  }));
}

/** PagerDuty Events API v2: trigger, acknowledge and resolve, keyed by dedup_key. */
export class PagerDutyChannel implements DeliveryChannel {
  readonly name = 'pagerduty' as const;

  constructor(private readonly opts: { routingKey: string; eventsUrl: string; timeoutMs: number }) {}

  async send(e: OutboundEvent): Promise<SendOutcome> {
    let last: SendOutcome = { ok: false, retryable: false, reason: 'nothing to send' };
    // Several dedup keys (acknowledge/resolve across escalation tiers): each is idempotent on PagerDuty's side.
    for (const body of pagerDutyEvents(e, this.opts.routingKey)) {
      last = await postJson(this.opts.eventsUrl, JSON.stringify(body), {}, this.opts.timeoutMs);
      if (!last.ok) return last;
    }
    return last;
  }
}
