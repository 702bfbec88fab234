/**
 * How the CLI shows things to people: tables, `label  value` blocks, times in UTC, and numbers rounded the way a
 * person reads them (3.3 %, 1.2 s, 0.87), never the float the API carries (`--json` keeps those).
 */
import type { StageProgress, TimelineEntry } from './api';

/** Any JSON value as text; objects as JSON. */
export const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return num(v);
  if (typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? 'null';
};

/** A number with at most 4 significant digits after the point (integers as they are). */
export const num = (n: number): string => (Number.isInteger(n) || !Number.isFinite(n) ? String(n) : String(Number(n.toPrecision(4))));

export const cell = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : text(v));

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: unknown[][]): string {
  const cells = [header, ...rows.map((r) => r.map(cell))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** `label  value` lines, skipping empty values. */
export function fields(pairs: [string, unknown][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join('\n');
}

/** `2025-11-25 21:54:03` (UTC) from an ISO time. */
export const when = (iso: unknown): string => {
  if (typeof iso !== 'string') return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19).replace('T', ' ');
};

/** `21:54:03` (UTC) from an ISO time. */
export const clock = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 19);
};

/** `1h 5m`, `4m 12s`, `9s` from whole seconds. */
export const duration = (s: number): string => {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
};

/** `4m 12s left` / `overdue 1m 3s` from an ISO deadline, against the local clock. */
export const timeLeft = (iso: unknown, now: number = Date.now()): string => {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return '-';
  const s = Math.round((t - now) / 1000);
  return s >= 0 ? `${duration(s)} left` : `overdue ${duration(-s)}`;
};

/** A fraction as a percentage for people: `3.3 %`, `5 %`, `0.04 %`. */
export const percent = (r: unknown): string => {
  if (typeof r !== 'number') return '-';
  const p = r * 100;
  if (p === 0) return '0 %';
  return `${Math.abs(p) < 0.1 ? Number(p.toPrecision(1)) : Number(p.toFixed(1))} %`;
};

/** Milliseconds for people: `120 ms`, `1.2 s`, `2m 5s`. */
export const ms = (n: unknown): string => {
  if (typeof n !== 'number') return '-';
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${Number((n / 1000).toFixed(1))} s`;
  return duration(Math.round(n / 1000));
};

/** A 0..1 score with two decimals. */
export const score = (n: unknown): string => (typeof n === 'number' ? n.toFixed(2) : '-');

/** A metric's value in its own unit: error rates as %, latencies as time, quality as a score. */
export const metricValue = (metric: string, v: unknown): string => {
  if (typeof v !== 'number') return cell(v);
  if (/error_rate|rate$/.test(metric)) return percent(v);
  if (/latency|_ms$/.test(metric)) return ms(v);
  if (/quality/.test(metric)) return score(v);
  return num(v);
};

/** A timeline detail value: bare when unambiguous, else JSON (quoted strings, objects); floats rounded. */
const value = (v: unknown): string => {
  if (typeof v === 'number') return num(v);
  if (typeof v !== 'string') return text(v);
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
};

/** A detail's number in its unit: a verdict's observed/threshold/baseline in its metric's, rates and `_ms` by name. */
const detailValue = (key: string, v: unknown, metric: unknown): string => {
  if (typeof v !== 'number') return value(v);
  // Compact (`3.3%`, `1.2s`) so that the value stays one bare word of the line.
  if (typeof metric === 'string' && ['observed', 'threshold', 'baseline'].includes(key)) return metricValue(metric, v).replace(/ /g, '');
  if (key === 'error_rate' || key.endsWith('_ms') || key === 'quality_mean') return metricValue(key, v).replace(/ /g, '');
  return num(v);
};

/** `HH:MM:SS event key=value …` (UTC). */
export function timelineLine(e: TimelineEntry): string {
  const d = typeof e.detail === 'object' && e.detail !== null ? e.detail : {};
  return [clock(e.at), e.event, ...Object.entries(d).map(([k, v]) => `${k}=${detailValue(k, v, d.metric)}`)].join(' ');
}

/** `next_step` with its time, if it has one. */
export const nextStep = (p: { next_step: string; next_at?: string }): string =>
  p.next_at ? `${p.next_step} (at ${when(p.next_at)})` : p.next_step;

/** A gradual rollback's progress as `fields` pairs: the stage, the share left on the version rolled back from, the next step. */
export const gradualFields = (g: StageProgress, from: string | null, indent = ''): [string, unknown][] => [
  [
    `${indent}gradual`,
    `stage ${g.stage + 1}/${g.of}: ${g.percent}% of traffic left on ${cell(from)}` +
      (g.paused ? ` (paused${g.paused_reason ? `: ${g.paused_reason}` : ''})` : ''),
  ],
  [`${indent}next`, nextStep(g)],
];
