import { assess } from '../../src/domain/assess';
import { DEFAULT_POLICY } from '../../src/domain/policy';
import type { Verdict, WindowStats } from '../../src/domain/verdict';

/** A window of traffic: p99 300 ms and quality 0.79 unless given. */
export const win = (o: Partial<WindowStats> & Pick<WindowStats, 'requests' | 'errors'>): WindowStats => ({
  error_rate: o.errors / o.requests,
  latency_ms: { p50: 100, p95: 200, p99: 300 },
  quality_mean: 0.79,
  quality_samples: o.requests,
  window_s: 300,
  ...o,
});

/** The last known-good version: 0.4 % errors, p99 400 ms, quality 0.80. */
export const BASELINE = win({ requests: 1000, errors: 4, latency_ms: { p50: 100, p95: 200, p99: 400 }, quality_mean: 0.8 });

/** A verdict through the real trigger table (DEFAULT_POLICY), for a version two hours old. */
export const judge = (current: WindowStats): Verdict => assess(current, BASELINE, DEFAULT_POLICY, 120);
