// Numbers as people read them: 3.3 %, 1.2 s, 4:59 left.

/** A fraction as a percentage: one decimal below 10 %, none above. */
export function percent(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  const p = x * 100;
  if (p === 0) return '0 %';
  const abs = Math.abs(p);
  const digits = abs < 0.1 ? 2 : abs < 10 ? 1 : 0;
  return `${p.toFixed(digits)} %`;
}

/** Milliseconds: "180 ms" below a second, "1.2 s" above. */
export function millis(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Seconds as a duration: "45 s", "4 min 5 s", "1 h 5 min". */
export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '—';
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t} s`;
  if (t < 3600) return t % 60 === 0 ? `${t / 60} min` : `${Math.floor(t / 60)} min ${t % 60} s`;
  const m = Math.round((t % 3600) / 60);
  return m === 0 ? `${Math.floor(t / 3600)} h` : `${Math.floor(t / 3600)} h ${m} min`;
}

/** A verdict's or trigger's number in its metric's unit. */
export function metricValue(metric, v) {
  if (v === null || v === undefined) return '—';
  if (metric === 'error_rate' || metric === 'quality_drop') return percent(v);
  if (metric === 'latency_p99_ratio') return `${v.toFixed(2)}×`;
  if (metric === 'latency_p99_ms') return millis(v);
  if (metric === 'quality_mean') return v.toFixed(2);
  if (metric === 'requests') return String(Math.round(v));
  return String(Math.round(v * 1000) / 1000);
}

export const METRIC_LABELS = {
  error_rate: 'error rate',
  quality_drop: 'quality drop',
  latency_p99_ratio: 'p99 latency vs baseline',
  requests: 'requests',
};

/** "error rate 3.3 % (threshold 2.0 %, 200 requests in 5 min)" */
export function verdictNumbers(v) {
  if (!v) return '';
  const label = METRIC_LABELS[v.metric] ?? v.metric;
  const parts = [`threshold ${metricValue(v.metric, v.threshold)}`];
  if (v.samples !== undefined) parts.push(`${v.samples} requests in ${duration(v.window_s)}`);
  return `${label} ${metricValue(v.metric, v.observed)} (${parts.join(', ')})`;
}

/** "12 s ago", "3 min ago" */
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const s = (now - Date.parse(iso)) / 1000;
  return s < 1 ? 'just now' : `${duration(s)} ago`;
}

/** "4:59 left", "1:02:03 left", or null once the deadline has passed. */
export function countdown(deadlineIso, now = Date.now()) {
  const left = Math.floor((Date.parse(deadlineIso) - now) / 1000);
  if (left < 0) return null;
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = String(left % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s} left` : `${m}:${s} left`;
}

/** "14:02:07" in the browser's time zone. */
export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '—';
}

/** "v1.9.0 75 % · v2.0.0 25 %" */
export function traffic(split) {
  if (!split || split.length === 0) return 'not deployed';
  return split.map((s) => `${s.version} ${Math.round(s.percent * 10) / 10} %`).join(' · ');
}
