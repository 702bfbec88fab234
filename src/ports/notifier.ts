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
}

export interface Notifier {
  notify(n: Notification): Promise<{ id: string; channel: string }>;
}
