import { DomainError } from '../../domain/errors';
import { renderQuery, type PrometheusQueries } from '../../domain/metrics-provider';
import type { WindowStats } from '../../domain/verdict';
import type { MetricsSource } from '../../ports/metrics';

export interface PrometheusOptions {
  /** Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090. */
  url: string;
  /** Per query; a monitor check runs two rounds of queries (the active version, then its baseline). */
  timeout_ms: number;
  /** The prompt's PromQL templates; undefined when the prompt is not configured for Prometheus. */
  queries: (prompt: string) => Promise<PrometheusQueries | undefined>;
  now?: () => Date;
}

const unavailable = (why: string, details: Record<string, unknown>): DomainError =>
  new DomainError('MetricsUnavailable', `prometheus could not answer: ${why}`, details);

/** A window that starts before the version had data still reads; one with nothing in it is an empty vector. */
const NO_DATA = null;

/**
 * Reads windows from Prometheus with instant queries (`/api/v1/query`), one PromQL per measure, evaluated at the
 * window's end with `{{window}}` = the window's length. Every failure (unreachable, timeout, 4xx/5xx, an answer that
 * is not a single number) is a MetricsUnavailable error: a judge reading it says `error`, never healthy or breached.
 */
export class PrometheusMetricsSource implements MetricsSource {
  private readonly now: () => Date;

  constructor(private readonly opts: PrometheusOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  async window(prompt: string, version: string, from: Date, to: Date): Promise<WindowStats> {
    return this.windowAt(prompt, version, to, Math.max(1, Math.round((to.getTime() - from.getTime()) / 1000)));
  }

  /** Prometheus keeps what was scraped, not what was served: a version with no requests in the last window has no data now. */
  async lastSeen(prompt: string, version: string): Promise<Date | undefined> {
    const now = this.now();
    const w = await this.windowAt(prompt, version, now, 300);
    return w.requests > 0 ? now : undefined;
  }

  /**
   * The baseline: a version that stopped serving has no recent data in Prometheus, so its window at now is empty
   * and there is no baseline (undefined), never an error.
   */
  async lastWindow(prompt: string, version: string, window_s: number): Promise<WindowStats | undefined> {
    const w = await this.windowAt(prompt, version, this.now(), window_s);
    return w.requests > 0 ? w : undefined;
  }

  private async windowAt(prompt: string, version: string, at: Date, window_s: number): Promise<WindowStats> {
    const queries = await this.opts.queries(prompt);
    if (!queries) throw unavailable(`prompt ${prompt} has no Prometheus queries configured`, { prompt });
    const vars = { prompt, version, window_s };
    const run = (measure: keyof PrometheusQueries): Promise<number | null> => {
      const template = queries[measure];
      return template === undefined ? Promise.resolve(NO_DATA) : this.instant(measure, renderQuery(template, vars), at);
    };
    const [requests, errors, p99, p50, p95, quality, qualitySamples] = await Promise.all([
      run('requests'),
      run('errors'),
      run('latency_p99_ms'),
      run('latency_p50_ms'),
      run('latency_p95_ms'),
      run('quality_mean'),
      run('quality_samples'),
    ]);
    // increase() extrapolates to the window's edges, so counts are fractional: the rate is taken from the raw
    // values, the counts shown are rounded. A series that does not exist (no errors ever) is an empty vector: 0.
    const req = Math.max(0, requests ?? 0);
    const err = Math.min(req, Math.max(0, errors ?? 0));
    const rounded = Math.round(req);
    return {
      requests: rounded,
      errors: Math.round(err),
      error_rate: rounded === 0 || req === 0 ? null : err / req,
      latency_ms: { p50, p95, p99 },
      quality_mean: quality,
      quality_samples: quality === null ? 0 : Math.round(queries.quality_samples === undefined ? req : (qualitySamples ?? 0)),
      window_s,
    };
  }

  /**
   * Asks Prometheus whether a rendered query is one it can run and that answers a number: the reason when it is not
   * (a parse or type error, a range vector), undefined when it is — or when Prometheus cannot be asked right now,
   * so a brief outage does not block configuring a prompt (its checks then say `error` until it answers).
   */
  async problemWith(query: string): Promise<string | undefined> {
    const url = new URL(`${this.opts.url.replace(/\/$/, '')}/api/v1/query`);
    url.searchParams.set('query', query);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeout_ms) });
      const body = (await res.json()) as { status?: string; errorType?: string; error?: string; data?: { resultType?: string } };
      if (body.status === 'error') return body.errorType === 'bad_data' ? `Prometheus refused it: ${body.error ?? 'bad_data'}` : undefined;
      const type = body.data?.resultType;
      if (type === 'matrix' || type === 'string')
        return `must answer a number (an instant vector or scalar), not a ${type === 'matrix' ? 'range vector' : 'string'}`;
      return undefined;
    } catch {
      return undefined;
    }
  }

  /** One instant query at `at`: a number, or null when the answer is empty or not a number (NaN, ±Inf). */
  private async instant(measure: string, query: string, at: Date): Promise<number | null> {
    const url = new URL(`${this.opts.url.replace(/\/$/, '')}/api/v1/query`);
    url.searchParams.set('query', query);
    url.searchParams.set('time', (at.getTime() / 1000).toFixed(3));
    const details = { measure, query, url: this.opts.url };
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.opts.timeout_ms) });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.opts.timeout_ms} ms` : (err.cause?.code ?? err.message);
      throw unavailable(`${measure} query to ${this.opts.url} failed: ${why}`, details);
    }
    let body: { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw unavailable(`${measure} query to ${this.opts.url} answered HTTP ${res.status} without JSON`, details);
    }
    if (!res.ok || body.status !== 'success') {
      throw unavailable(`${measure} query answered HTTP ${res.status}: ${body.errorType ?? ''} ${body.error ?? ''}`.trim(), details);
    }
    const data = body.data ?? {};
    let sample: unknown;
    if (data.resultType === 'scalar') sample = data.result;
    else if (data.resultType === 'vector' && Array.isArray(data.result)) {
      const series = data.result as { value?: unknown }[];
      if (series.length === 0) return null;
      if (series.length > 1)
        throw unavailable(`${measure} query returned ${series.length} series, not one; aggregate it (e.g. sum(…))`, details);
      sample = series[0]!.value;
    } else {
      throw unavailable(`${measure} query returned a ${data.resultType ?? 'missing'} result, not a number`, details);
    }
    const n = Array.isArray(sample) ? Number(sample[1]) : NaN;
    return Number.isFinite(n) ? n : null;
  }
}
