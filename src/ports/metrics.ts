import type { WindowStats } from '../domain/verdict';

export interface MetricEvent {
  prompt: string;
  version: string;
  ok: boolean;
  latency_ms: number;
  /** 0..1 */
  quality?: number;
  at: Date;
}

/** Reads windows of aggregated traffic: SQL buckets by default, Prometheus later. */
export interface MetricsSource {
  /** Traffic of `version` in [from, to). */
  window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats>;
  /** The end of the latest traffic seen for `version`, if any (a baseline is read from its last active window). */
  lastSeen(prompt: string, version: string): Promise<Date | undefined>;
  /**
   * The last `window_s` of traffic `version` had, wherever in time that was: a baseline for a version that no
   * longer serves. Undefined when it never had traffic.
   */
  lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined>;
}

export interface MetricsStore extends MetricsSource {
  /** All or nothing: the batch is stored in one transaction. */
  ingest(events: readonly MetricEvent[]): Promise<number>;
}
