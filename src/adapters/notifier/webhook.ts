import { createHmac } from 'node:crypto';
import type { DeliveryChannel, OutboundEvent, SendOutcome } from '../../ports/notifier';
import { postJson } from './http';

/** `sha256=` + hex HMAC-SHA256 of `{timestamp}.{body}` with the shared secret. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The JSON a webhook receiver gets for every event. */
export function webhookBody(e: OutboundEvent): Record<string, unknown> {
  return {
    id: e.delivery_key,
    event_key: e.key,
    kind: e.kind,
    severity: e.severity,
    lifecycle: e.lifecycle ?? null,
    prompt: e.prompt,
    rollback_id: e.rollback_id ?? null,
    title: e.title,
    message: e.message,
    links: e.links,
    data: e.data,
    rollback: e.rollback ?? null,
    created_at: e.created_at,
  };
}

/**
 * Generic webhook: every event as JSON, signed so that the receiver can tell it came from this deployment and is
 * fresh (the timestamp is inside the signature; each attempt signs anew).
 */
export class WebhookChannel implements DeliveryChannel {
  readonly name = 'webhook' as const;

  constructor(private readonly opts: { url: string; secret: string; timeoutMs: number; now?: () => Date }) {}

  async send(e: OutboundEvent): Promise<SendOutcome> {
    const body = JSON.stringify(webhookBody(e));
    const timestamp = String(Math.floor((this.opts.now?.() ?? new Date()).getTime() / 1000));
    return postJson(
      this.opts.url,
      body,
      {
        'x-promptback-timestamp': timestamp,
        'x-promptback-signature': webhookSignature(this.opts.secret, timestamp, body),
        'x-promptback-delivery': e.delivery_key,
      },
      this.opts.timeoutMs,
    );
  }
}
