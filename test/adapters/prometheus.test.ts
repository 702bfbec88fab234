import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusMetricsSource } from '../../src/adapters/metrics/prometheus';
import type { PrometheusQueries } from '../../src/domain/metrics-provider';
import { freePort } from '../support/ports';
import { EXPORTER_QUERIES, prometheusBinary, startPrometheus, TestExporter, type PrometheusServer } from '../support/prometheus';

let exporter: TestExporter;
let prom: PrometheusServer;

/** The time of the newest scrape: a window ending exactly there reads what was served, with no extrapolation. */
async function lastScrape(): Promise<Date> {
  const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('timestamp(up{job="llm"})')}`);
  const body = (await r.json()) as { data: { result: { value: [number, string] }[] } };
  return new Date(Number(body.data.result[0]!.value[1]) * 1000);
}

const source = (url: string, queries: PrometheusQueries = EXPORTER_QUERIES, timeout_ms = 2000) =>
  new PrometheusMetricsSource({ url, timeout_ms, queries: () => Promise.resolve(queries) });

describe.skipIf(!prometheusBinary)('Prometheus metrics provider against a real Prometheus', () => {
  beforeAll(async () => {
    exporter = new TestExporter();
    exporter.touch('support', 'v1');
    exporter.touch('support', 'v2');
    await exporter.start();
    prom = await startPrometheus(exporter.port);
    await prom.waitForScrape();
  });
  afterAll(async () => {
    await prom?.stop();
    await exporter?.stop();
  });

  it('reads the window the exporter served: counts, error rate, latency quantiles and quality', async () => {
    const before = await lastScrape();
    exporter.record('support', 'v2', { n: 200, errors: 14, latency_ms: 300, quality: 0.8 });
    exporter.record('support', 'v2', { n: 100, errors: 0, latency_ms: 80, quality: 0.6 });
    await prom.waitForScrape();
    await prom.waitForScrape();
    const at = await lastScrape();
    const metrics = source(prom.url);

    const started = performance.now();
    const w = await metrics.window('support', 'v2', new Date(at.getTime() - 60_000), at);
    const took = performance.now() - started;
    expect(w).toMatchObject({ requests: 300, errors: 14, quality_samples: 300, window_s: 60 });
    expect(w.error_rate).toBeCloseTo(14 / 300, 6);
    expect(w.quality_mean).toBeCloseTo((200 * 0.8 + 100 * 0.6) / 300, 6);
    // Histogram quantiles interpolate inside the bucket that holds them: 300 ms is in (250, 500].
    expect(w.latency_ms.p99).toBeGreaterThan(250);
    expect(w.latency_ms.p99).toBeLessThanOrEqual(500);
    expect(w.latency_ms.p50).toBeGreaterThan(250);
    expect(w.latency_ms.p50).toBeLessThanOrEqual(500);
    expect(w.latency_ms.p95).toBeNull(); // no query given for it
    console.info(`prometheus window of 6 queries: ${took.toFixed(1)} ms`);

    // The window before the traffic holds none of it: no requests, and no error rate rather than 0 %.
    const empty = await metrics.window('support', 'v2', new Date(before.getTime() - 60_000), before);
    expect(empty).toMatchObject({ requests: 0, errors: 0, error_rate: null, quality_mean: null, quality_samples: 0 });
  });

  it('a version with no recent data in Prometheus has no baseline, which is not an error', async () => {
    const metrics = source(prom.url);
    await expect(metrics.lastWindow('support', 'v1', 30)).resolves.toBeUndefined();
    await expect(metrics.lastWindow('support', 'never-deployed', 30)).resolves.toBeUndefined();
    await expect(metrics.lastSeen('support', 'never-deployed')).resolves.toBeUndefined();
  });

  it('a provider that cannot answer fails as MetricsUnavailable, naming the measure and why', async () => {
    const now = new Date();
    const from = new Date(now.getTime() - 30_000);
    // A query Prometheus refuses (400 bad_data).
    const bad = source(prom.url, { ...EXPORTER_QUERIES, errors: 'sum(rate(llm_request_errors_total{version="{{version}}"}))' });
    await expect(bad.window('support', 'v2', from, now)).rejects.toMatchObject({
      type: 'MetricsUnavailable',
      message: expect.stringMatching(/errors query answered HTTP 400: bad_data/),
    });
    // A query with more than one series.
    const many = source(prom.url, { ...EXPORTER_QUERIES, requests: 'llm_requests_total{version=~"{{version}}|v1"}' });
    await expect(many.window('support', 'v2', from, now)).rejects.toMatchObject({
      type: 'MetricsUnavailable',
      message: expect.stringMatching(/requests query returned 2 series/),
    });
    // Not Prometheus at all (the exporter answers text).
    await expect(source(`http://127.0.0.1:${exporter.port}`).window('support', 'v2', from, now)).rejects.toMatchObject({
      type: 'MetricsUnavailable',
    });
    // A server that never answers: bounded by the timeout.
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    await expect(source(`http://127.0.0.1:${port}`, EXPORTER_QUERIES, 300).window('support', 'v2', from, now)).rejects.toMatchObject({
      type: 'MetricsUnavailable',
      message: expect.stringMatching(/no answer within 300 ms/),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    silent.closeAllConnections();
    silent.close();
    // Prometheus down.
    const down = await freePort();
    await expect(source(`http://127.0.0.1:${down}`).window('support', 'v2', from, now)).rejects.toMatchObject({
      type: 'MetricsUnavailable',
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
