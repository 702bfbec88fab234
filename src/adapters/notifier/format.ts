import type { OutboundEvent } from '../../ports/notifier';

export interface Numbers {
  metric: string;
  threshold: number;
  observed: number | null;
  window_s: number;
  samples: number;
}

const isNumbers = (v: unknown): v is Numbers => {
  const o = v as Partial<Numbers> | null;
  return !!o && typeof o === 'object' && typeof o.metric === 'string' && typeof o.threshold === 'number';
};

/** The verdict's numbers behind an event: its own verdict first, else the rollback's trigger. */
export function numbersOf(e: OutboundEvent): Numbers | undefined {
  for (const v of [e.data.verdict, e.data.trigger, e.data.check, e.rollback?.trigger]) {
    if (isNumbers(v)) {
      return { metric: v.metric, threshold: v.threshold, observed: v.observed ?? null, window_s: v.window_s, samples: v.samples };
    }
  }
  return undefined;
}

/** "v2.0.0 → v1.9.0", or the side that is known. */
export function versionsOf(e: OutboundEvent): string | undefined {
  const from = (e.data.from_version as string | undefined) ?? e.rollback?.from_version ?? null;
  const to = (e.data.to_version as string | undefined) ?? e.rollback?.to_version ?? null;
  if (from === null && to === null) return undefined;
  return `${from ?? '(none)'} → ${to ?? '(known-good)'}`;
}

const fmt = (n: number | null): string => (n === null ? 'n/a' : Number.isInteger(n) ? String(n) : String(Number(n.toFixed(4))));

/** "error_rate 0.08 > 0.05 over 300 s, 412 samples" */
export function numbersText(n: Numbers): string {
  return `${n.metric} ${fmt(n.observed)} vs threshold ${fmt(n.threshold)} over ${fmt(n.window_s)} s, ${n.samples} samples`;
}

/** One line naming the prompt, the versions and the numbers. */
export function summaryOf(e: OutboundEvent): string {
  const versions = versionsOf(e);
  const n = numbersOf(e);
  return [`${e.title}`, `${e.prompt}${versions ? ` ${versions}` : ''}`, n ? numbersText(n) : undefined].filter(Boolean).join(' — ');
}
