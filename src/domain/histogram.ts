/**
 * A log-scale latency histogram (DDSketch-style buckets): bucket i holds values in (γ^(i-1), γ^i], so any
 * quantile read from it is within (γ-1)/(γ+1) ≈ 2 % of the true value. Buckets are sparse, mergeable by
 * addition, and small enough to store per (prompt, version, time bucket).
 */
const GAMMA = 1.04;
const LOG_GAMMA = Math.log(GAMMA);
/** Latencies at or below this (ms) share bucket 0. */
const MIN_MS = 0.01;
const ZERO_BUCKET = Math.ceil(Math.log(MIN_MS) / LOG_GAMMA);

export type Histogram = Record<string, number>;

export function bucketOf(latencyMs: number): number {
  if (!(latencyMs > MIN_MS)) return ZERO_BUCKET;
  return Math.ceil(Math.log(latencyMs) / LOG_GAMMA);
}

export function bucketValue(index: number): number {
  if (index <= ZERO_BUCKET) return 0;
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

export function record(h: Histogram, latencyMs: number, count = 1): void {
  const k = String(bucketOf(latencyMs));
  h[k] = (h[k] ?? 0) + count;
}

export function merge(into: Histogram, from: Histogram): Histogram {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
  return into;
}

/** The q-quantile (0..1) of the recorded values, or null when empty. */
export function quantile(h: Histogram, q: number): number | null {
  const entries = Object.entries(h)
    .map(([k, n]) => [Number(k), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [k, n] of entries) {
    seen += n;
    if (seen >= rank) return round(bucketValue(k));
  }
  return round(bucketValue(entries[entries.length - 1]![0]));
}

// Four significant digits: display-friendly without adding to the bucket error.
const round = (x: number): number => Number(x.toPrecision(4));
