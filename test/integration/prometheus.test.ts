import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORTER_QUERIES, prometheusBinary, startPrometheus, TestExporter, type PrometheusServer } from '../support/prometheus';
import { http, startStack, waitFor, type Stack } from '../support/stack';

let exporter: TestExporter;
let prom: PrometheusServer;
let stack: Stack;
/** Which version of each prompt the test's gateway serves, and with what error fraction (of 10 requests per tick). */
const serving = new Map<string, { version: string; errors: number }>();
let ticker: NodeJS.Timeout | undefined;

const prometheusMetrics = { provider: 'prometheus', queries: EXPORTER_QUERIES };

async function call(method: string, path: string, body?: unknown) {
  const r = await http(stack.url, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A prompt whose metrics live in Prometheus only (nothing is sent to POST /api/metrics), with v1 then v2 deployed. */
async function seed(prompt: string, v1: string, v2: string) {
  await call('PUT', `/api/prompts/${prompt}`, { metrics: prometheusMetrics, policy: { window_s: 30, min_samples: 5 } });
  for (const v of [v1, v2]) {
    exporter.touch(prompt, v);
    await call('POST', `/api/prompts/${prompt}/versions`, { version: v, template: `${prompt} ${v}` });
    await call('POST', `/api/prompts/${prompt}/deploy`, { version: v });
  }
}

describe.skipIf(!prometheusBinary)('metrics read from Prometheus, end to end', () => {
  beforeAll(async () => {
    exporter = new TestExporter();
    await exporter.start();
    prom = await startPrometheus(exporter.port);
    stack = await startStack({ namespace: 'it-prometheus', env: { PROMETHEUS_URL: prom.url, MONITOR_INTERVAL_S: '1' } });
    ticker = setInterval(() => {
      for (const [prompt, s] of serving) exporter.record(prompt, s.version, { n: 10, errors: s.errors, latency_ms: 120 });
    }, 500);
  });
  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    await stack?.stop();
    await prom?.stop();
    await exporter?.stop();
  });

  it('PUT /api/prompts validates the metrics provider and its PromQL templates, and GET shows it', async () => {
    const put = (metrics: unknown) => http(stack.url, 'PUT', '/api/prompts/checked', { metrics });
    const unknown = await put({ provider: 'datadog' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ field: 'metrics.provider', message: 'must be "builtin" or "prometheus"' }]);

    const unbalanced = await put({
      provider: 'prometheus',
      queries: { ...EXPORTER_QUERIES, errors: 'sum(increase(e{version="{{version}}"}[{{window}}])' },
    });
    expect(unbalanced.status).toBe(400);
    expect(unbalanced.body.errors).toEqual([{ field: 'metrics.queries.errors', message: 'unclosed "("' }]);

    const badVariable = await put({
      provider: 'prometheus',
      queries: { ...EXPORTER_QUERIES, latency_p99_ms: 'max(l{model="{{model}}",version="{{version}}"})' },
    });
    expect(badVariable.status).toBe(400);
    expect(badVariable.body.errors[0]).toMatchObject({
      field: 'metrics.queries.latency_p99_ms',
      message: expect.stringContaining('{{model}}'),
    });

    // What only Prometheus can tell: a function applied to the wrong type, a range vector where a number is needed.
    const refused = await put({
      provider: 'prometheus',
      queries: {
        ...EXPORTER_QUERIES,
        errors: 'sum(rate(llm_request_errors_total{version="{{version}}"}))',
        latency_p99_ms: 'llm_x{version="{{version}}"}[{{window}}]',
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      { field: 'metrics.queries.errors', message: expect.stringMatching(/^Prometheus refused it: .*range vector/) },
      { field: 'metrics.queries.latency_p99_ms', message: 'must answer a number (an instant vector or scalar), not a range vector' },
    ]);
    expect((await http(stack.url, 'GET', '/api/prompts/checked')).status).toBe(404);

    const missing = await put({ provider: 'prometheus', queries: { requests: EXPORTER_QUERIES.requests } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'metrics.queries.errors',
      'metrics.queries.latency_p99_ms',
    ]);

    const ok = await put(prometheusMetrics);
    expect(ok.status).toBe(201);
    expect(ok.body.metrics).toEqual(prometheusMetrics);
    const got = await call('GET', '/api/prompts/checked');
    expect(got.metrics).toEqual(prometheusMetrics);
    // Other fields leave it as it is; builtin switches back.
    await call('PUT', '/api/prompts/checked', { description: 'still on prometheus' });
    expect((await call('GET', '/api/prompts/checked')).metrics).toEqual(prometheusMetrics);
    await call('PUT', '/api/prompts/checked', { metrics: { provider: 'builtin' } });
    expect((await call('GET', '/api/prompts/checked')).metrics).toEqual({ provider: 'builtin' });
    // A prompt that never named one reads from promptback's own ingest.
    await call('PUT', '/api/prompts/plain', {});
    expect((await call('GET', '/api/prompts/plain')).metrics).toEqual({ provider: 'builtin' });
  });

  it('provider prometheus is refused when PROMETHEUS_URL is not set', async () => {
    const bare = await startStack({ namespace: 'it-prometheus', worker: false, env: { PROMETHEUS_URL: '' } });
    try {
      const r = await http(bare.url, 'PUT', '/api/prompts/checked', { metrics: prometheusMetrics });
      expect(r.status).toBe(400);
      expect(r.body.errors).toEqual([{ field: 'metrics.provider', message: expect.stringContaining('PROMETHEUS_URL') }]);
      expect(r.body.detail).toMatch(/^metrics\.provider: .*PROMETHEUS_URL, which is not set/);
    } finally {
      await bare.stop();
    }
  });

  it('error rate above 5 % in Prometheus → the monitor rolls the prompt back, with the Prometheus numbers in the trigger', async () => {
    await seed('support-bot', 'v1', 'v2');
    // 3 of every 10 requests fail, in Prometheus only.
    serving.set('support-bot', { version: 'v2', errors: 3 });
    const rollback = await waitFor(
      'automatic rollback',
      async () => (await call('GET', '/api/rollbacks?prompt=support-bot')).rollbacks[0],
      45_000,
    );
    // The API shows what the monitor read, from Prometheus (nothing was ever sent to POST /api/metrics).
    const shown = await call('GET', '/api/prompts/support-bot/metrics?version=v2&window_s=30');
    expect(shown).toMatchObject({ provider: 'prometheus', version: 'v2', window_s: 30 });
    expect(shown.requests).toBeGreaterThanOrEqual(5);
    expect(shown.error_rate).toBeCloseTo(0.3, 2);
    await waitFor(
      'switch to v1',
      async () => ((await call('GET', '/api/prompts/support-bot')).active_version === 'v1' ? true : undefined),
      30_000,
    );
    serving.set('support-bot', { version: 'v1', errors: 0 });
    const done = await waitFor(
      'rollback finished',
      async () => {
        const v = await call('GET', `/api/rollbacks/${rollback.rollback_id}`);
        return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
      },
      45_000,
    );
    expect(done).toMatchObject({
      status: 'completed',
      requested_by: 'monitor',
      severity: 'critical',
      from_version: 'v2',
      to_version: 'v1',
      trigger: { metric: 'error_rate', threshold: 0.05, window_s: 30 },
    });
    // The numbers Prometheus answered: 30 % over the requests its window held (never more than were served).
    expect(done.trigger.observed).toBeCloseTo(0.3, 2);
    expect(done.trigger.samples).toBeGreaterThanOrEqual(5);
    const detected = done.timeline.find((t: { event: string }) => t.event === 'detected');
    expect(JSON.stringify(detected.detail)).toMatch(/critical: error rate 30\.00 % > 5\.00 %/);
    const events = done.timeline.map((t: { event: string }) => t.event);
    expect(events).toEqual(expect.arrayContaining(['detected', 'reconfirmed', 'switched', 'recovered']));
  });

  it('Prometheus down → the monitor shows verdict "error" and nothing is rolled back', async () => {
    await seed('summarizer', 's1', 's2');
    // s2 is serving with 50 % errors: a provider that answered would roll it back.
    const monitor = await waitFor('a first judged check', async () => {
      const m = await call('GET', '/api/monitors/summarizer');
      return m.last_verdict ? m : undefined;
    });
    expect(monitor.last_verdict.kind).toBe('inconclusive');
    await prom.stop();
    serving.set('summarizer', { version: 's2', errors: 5 });
    const blind = await waitFor('verdict error', async () => {
      const m = await call('GET', '/api/monitors/summarizer');
      return m.last_verdict?.kind === 'error' ? m : undefined;
    });
    expect(blind).toMatchObject({
      status: 'running',
      active_version: 's2',
      last_verdict: {
        kind: 'error',
        rule: 'metrics_provider',
        observed: null,
        summary: expect.stringMatching(/prometheus could not answer/),
      },
    });
    const unreadable = await http(stack.url, 'GET', '/api/prompts/summarizer/metrics');
    expect(unreadable).toMatchObject({ status: 503, type: expect.stringContaining('application/problem+json') });
    expect(unreadable.body.detail).toMatch(/prometheus could not answer/);
    console.info(`monitor while Prometheus is down: ${JSON.stringify(blind.last_verdict)}`);
    // It keeps checking on its own schedule, each check an error, and never acts.
    const later = await waitFor('three more checks', async () => {
      const m = await call('GET', '/api/monitors/summarizer');
      return m.checks >= blind.checks + 3 ? m : undefined;
    });
    expect(later.last_verdict.kind).toBe('error');
    expect((await call('GET', '/api/rollbacks?prompt=summarizer')).rollbacks).toEqual([]);
    expect((await call('GET', '/api/prompts/summarizer')).active_version).toBe('s2');
    // Three errors in a row page the on-call once that the monitor is blind, whatever the checks after that.
    expect(later.last_verdict.errors_in_row).toBeGreaterThanOrEqual(4);
    const pages = await stack.adapters.db.kysely
      .selectFrom('outbox')
      .selectAll()
      .where('prompt', '=', 'summarizer')
      .where('kind', '=', 'page')
      .execute();
    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({
      channel: 'on-call',
      title: 'Monitor is blind: summarizer',
      message: expect.stringMatching(/3 checks in a row .*prometheus could not answer/),
    });
  });
});
