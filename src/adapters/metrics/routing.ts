import { DomainError } from '../../domain/errors';
import { BUILTIN_METRICS, type PromptMetrics } from '../../domain/metrics-provider';
import type { WindowStats } from '../../domain/verdict';
import type { MetricsSource } from '../../ports/metrics';
import type { Registry } from '../../ports/registry';
import { PrometheusMetricsSource } from './prometheus';

export interface RoutingOptions {
  registry: Pick<Registry, 'getPrompt'>;
  /** promptback's own ingest. */
  builtin: MetricsSource;
  prometheus?: { url: string | undefined; timeout_ms: number };
  /**
   * Moves whenever another process commits a change (SQLite data_version, Postgres route_version): a prompt changed
   * by an API process on another host drops this cache too. Without it, every read asks the registry.
   */
  dataVersion?: () => number | Promise<number>;
}

/**
 * The MetricsSource monitors, verification, gradual and canary checks read through: each prompt's reads go to the
 * provider its record names (`metrics.provider`), builtin by default. The prompt's choice is cached per prompt and
 * dropped on every prompt change (invalidate(), wired to the registry, and the store's data version for changes
 * made by other processes).
 */
export class RoutingMetricsSource implements MetricsSource {
  private readonly cache = new Map<string, PromptMetrics>();
  private seen: number | undefined;
  /** Bumped by every invalidation: a read that overlapped one is answered but not kept. */
  private generation = 0;
  private readonly prometheus: PrometheusMetricsSource | undefined;

  constructor(private readonly opts: RoutingOptions) {
    const url = opts.prometheus?.url;
    this.prometheus = url
      ? new PrometheusMetricsSource({
          url,
          timeout_ms: opts.prometheus!.timeout_ms,
          queries: async (prompt) => {
            const m = await this.configOf(prompt);
            return m.provider === 'prometheus' ? m.queries : undefined;
          },
        })
      : undefined;
  }

  /** Why Prometheus would not run this PromQL, if it is configured and reachable (see PrometheusMetricsSource). */
  async problemWithQuery(query: string): Promise<string | undefined> {
    return this.prometheus?.problemWith(query);
  }

  invalidate(): void {
    this.cache.clear();
    this.generation++;
  }

  window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats> {
    return this.sourceFor(prompt).then((s) => s.window(prompt, version, from, to));
  }

  lastSeen(prompt: string, version: string): Promise<Date | undefined> {
    return this.sourceFor(prompt).then((s) => s.lastSeen(prompt, version));
  }

  lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined> {
    return this.sourceFor(prompt).then((s) => s.lastWindow(prompt, version, window_s));
  }

  /**
   * The provider `metrics` names, without the cache or a registry read: a monitor's check has just read the prompt's
   * record, which is as fresh as this source could be. A source that cannot serve (Prometheus not configured here)
   * answers every read with that refusal.
   */
  forPrompt(prompt: string, metrics: PromptMetrics | undefined): MetricsSource {
    try {
      return this.sourceOf(prompt, metrics ?? BUILTIN_METRICS);
    } catch (e) {
      const refusal = e instanceof Error ? e : new Error(String(e));
      const refuse = () => Promise.reject(refusal);
      return { window: refuse, lastSeen: refuse, lastWindow: refuse };
    }
  }

  private async sourceFor(prompt: string): Promise<MetricsSource> {
    return this.sourceOf(prompt, await this.configOf(prompt));
  }

  private sourceOf(prompt: string, m: PromptMetrics): MetricsSource {
    if (m.provider === 'builtin') return this.opts.builtin;
    if (!this.prometheus)
      throw new DomainError(
        'MetricsUnavailable',
        `prompt ${prompt} reads its metrics from Prometheus, but PROMETHEUS_URL is not set here`,
        {
          prompt,
        },
      );
    return this.prometheus;
  }

  private async configOf(prompt: string): Promise<PromptMetrics> {
    if (this.opts.dataVersion) {
      const v = await this.opts.dataVersion();
      if (v !== this.seen) {
        this.cache.clear();
        this.seen = v;
      }
    } else {
      this.cache.clear();
    }
    const hit = this.cache.get(prompt);
    if (hit) return hit;
    const generation = this.generation;
    const m = (await this.opts.registry.getPrompt(prompt))?.metrics ?? BUILTIN_METRICS;
    if (generation === this.generation) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(prompt, m);
    }
    return m;
  }
}
