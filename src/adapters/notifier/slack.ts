import type { DeliveryChannel, OutboundEvent, SendOutcome } from '../../ports/notifier';
import { numbersOf, versionsOf } from './format';
import { postJson } from './http';

const fmt = (n: number | null): string => (n === null ? 'n/a' : Number.isInteger(n) ? String(n) : String(Number(n.toFixed(4))));
const SEVERITY_MARK: Record<string, string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':white_circle:',
};
const plain = (text: string, max: number) => ({
  type: 'plain_text',
  text: text.length > max ? `${text.slice(0, max - 1)}…` : text,
  emoji: true,
});

/**
 * A Block Kit message for one event: what happened, the numbers behind it, links, and — while the incident
 * awaits a decision — Approve and Reject buttons (action ids `approve`/`reject`, value the rollback id).
 */
export function slackMessage(e: OutboundEvent): Record<string, unknown> {
  const n = numbersOf(e);
  const versions = versionsOf(e);
  const fields: string[] = [`*Prompt*\n${e.prompt}`, `*Severity*\n${SEVERITY_MARK[e.severity] ?? ''} ${e.severity}`];
  if (versions) fields.push(`*Versions*\n${versions}`);
  if (e.rollback) fields.push(`*Status*\n${e.rollback.status}`);
  if (n) {
    fields.push(`*Metric*\n${n.metric}`, `*Observed / threshold*\n${fmt(n.observed)} / ${fmt(n.threshold)}`);
    fields.push(`*Window*\n${fmt(n.window_s)} s, ${n.samples} samples`);
  }
  if (e.rollback?.deadline && e.rollback.status === 'awaiting_approval') fields.push(`*Decide by*\n${e.rollback.deadline}`);
  const buttons: Record<string, unknown>[] = [];
  if (e.rollback_id && e.rollback?.status === 'awaiting_approval') {
    buttons.push(
      { type: 'button', action_id: 'approve', text: plain('Approve rollback', 75), style: 'primary', value: e.rollback_id },
      { type: 'button', action_id: 'reject', text: plain('Reject (investigate)', 75), style: 'danger', value: e.rollback_id },
    );
  }
  if (e.links.status_url) buttons.push({ type: 'button', action_id: 'open_status', text: plain('Status', 75), url: e.links.status_url });
  if (e.links.web_ui) buttons.push({ type: 'button', action_id: 'open_web_ui', text: plain('Temporal Web UI', 75), url: e.links.web_ui });
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: plain(e.title, 150) },
    { type: 'section', text: { type: 'mrkdwn', text: e.message.slice(0, 3000) || e.title } },
    { type: 'section', fields: fields.slice(0, 10).map((text) => ({ type: 'mrkdwn', text })) },
  ];
  if (buttons.length > 0) blocks.push({ type: 'actions', block_id: `promptback-${e.rollback_id ?? 'links'}`, elements: buttons });
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `${e.rollback_id ? `rollback ${e.rollback_id} · ` : ''}${e.kind} · ${e.created_at}` }],
  });
  return { text: `${e.title}: ${e.message}`.slice(0, 3000), blocks };
}

/** Slack incoming webhook: one message per event. */
export class SlackChannel implements DeliveryChannel {
  readonly name = 'slack' as const;

  constructor(private readonly opts: { webhookUrl: string; timeoutMs: number }) {}

  send(e: OutboundEvent): Promise<SendOutcome> {
    return postJson(this.opts.webhookUrl, JSON.stringify(slackMessage(e)), {}, this.opts.timeoutMs);
  }
}
