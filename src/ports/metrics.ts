import type { PromptMetrics } from '../domain/metrics-provider';
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
  /**
   * The source for a prompt whose record the caller has just read (`metrics` is the record's choice of provider):
   * a source that routes by that choice answers without looking it up again. Absent: this source serves every prompt.
   */
  forPrompt?(prompt: string, metrics: PromptMetrics | undefined): MetricsSource;
}

export interface MetricsStore extends MetricsSource {
  /** All or nothing: the batch is stored in one transaction. */
  ingest(events: readonly MetricEvent[]): Promise<number>;
  /**
   * A batch as it arrived (the JSON body of `POST /api/metrics`), decoded, checked and stored off the caller's event
   * loop, all or nothing; throws BatchRefused when it is refused before anything is stored. Undefined when this store
   * cannot take encoded batches (no ingest thread, or it is down): the caller decodes the batch itself and calls
   * `ingest`.
   */
  ingestEncoded?(body: Uint8Array, receivedAt: Date): Promise<EncodedIngest | undefined>;
}

/** An encoded batch stored: its events, and the prompts it reports failed requests for (the ingest fast path's). */
export interface EncodedIngest {
  accepted: number;
  prompts_with_errors: string[];
}

/** A problem+json answer's members. */
export interface RefusalBody {
  status: number;
  title: string;
  detail: string;
  extra: Record<string, unknown>;
}

/** An encoded batch refused before anything of it was stored (malformed, invalid, unknown versions): the answer. */
export class BatchRefused extends Error {
  constructor(readonly problem: RefusalBody) {
    super(problem.detail);
    this.name = 'BatchRefused';
  }
}
