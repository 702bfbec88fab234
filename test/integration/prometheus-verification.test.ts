/**
 * A rollback whose prompt reads its metrics from a real Prometheus, and Prometheus stops in the middle of the
 * verification: the checks after that say `error` (recorded as such, never counted as recovered), each answered
 * at once instead of an activity retrying against a server that is gone, and the rollback ends unverified with
 * `verification.result: "error"` and a page that it is blind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORTER_QUERIES, prometheusBinary, startPrometheus, TestExporter, type PrometheusServer } from '../support/prometheus';
import { http, startStack, waitFor, type Stack } from '../support/stack';

let exporter: TestExporter;
let prom: PrometheusServer;
let stack: Stack;
let ticker: NodeJS.Timeout | undefined;
const PROMPT = 'faq-bot';

async function call(method: string, path: string, body?: unknown) {
  const r = await http(stack.url, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Entry {
  at: string;
  event: string;
  detail: Record<string, unknown>;
}

describe.skipIf(!prometheusBinary)('verification reading from Prometheus', () => {
  beforeAll(async () => {
    exporter = new TestExporter();
    await exporter.start();
    prom = await startPrometheus(exporter.port);
    stack = await startStack({
      namespace: 'it-prometheus-verify',
      // The monitor stays out of the way: only the rollback's own verification reads here.
      env: { PROMETHEUS_URL: prom.url, MONITOR_INTERVAL_S: '3600', VERIFY_INTERVAL_S: '1', VERIFY_DURATION_S: '12' },
    });
    // The bad version keeps serving (in Prometheus only) until traffic is switched; the target gets none.
    ticker = setInterval(() => exporter.record(PROMPT, 'q2', { n: 10, errors: 0, latency_ms: 120 }), 500);
  });
  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    await stack?.stop();
    await prom?.stop();
    await exporter?.stop();
  });

  it('Prometheus stopped mid-verification → checks `error`, the rollback completes unverified with result `error` and pages that it is blind', async () => {
    await call('PUT', `/api/prompts/${PROMPT}`, {
      metrics: { provider: 'prometheus', queries: EXPORTER_QUERIES },
      policy: { window_s: 30, min_samples: 5 },
    });
    for (const v of ['q1', 'q2']) {
      exporter.touch(PROMPT, v);
      await call('POST', `/api/prompts/${PROMPT}/versions`, { version: v, template: `${PROMPT} ${v}` });
      await call('POST', `/api/prompts/${PROMPT}/deploy`, { version: v });
    }
    await prom.waitForScrape();

    const started = await call('POST', '/api/rollback', { prompt: PROMPT, target_version: 'q1', reason: 'wrong answers' });
    const id = started.rollback_id as string;
    // The first checks read Prometheus (q1 has no traffic yet: inconclusive); then Prometheus goes away. The store
    // shows the checks only at the end, so the stop is timed from the start of verification.
    await waitFor('verification to start', async () => {
      const v = await call('GET', `/api/rollbacks/${id}`);
      return v.status === 'verifying' ? v : undefined;
    });
    await new Promise((r) => setTimeout(r, 4_000));
    await prom.stop();
    const stoppedAt = Date.now();

    const done = await waitFor(
      'the rollback to end',
      async () => {
        const v = await call('GET', `/api/rollbacks/${id}`);
        return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
      },
      45_000,
    );
    // Each check answered at once: the 12 s window ends on time, not after activity retries.
    expect(Date.now() - stoppedAt).toBeLessThan(25_000);
    expect(done).toMatchObject({ status: 'completed', outcome: 'unverified', from_version: 'q2', to_version: 'q1' });
    expect(done.verification.result).toBe('error');
    const timeline = done.timeline as Entry[];
    const metricsBefore = timeline.find((t) => t.event === 'metrics_before');
    expect(metricsBefore?.detail).toMatchObject({ version: 'q2' });
    const checks = timeline.filter((t) => t.event === 'verification_check').map((t) => t.detail);
    // Read while Prometheus answered, then `error` once it was gone.
    expect(checks[0]).toMatchObject({ kind: 'inconclusive' });
    expect(checks.at(-1)).toMatchObject({ kind: 'error' });
    const errors = checks.filter((c) => c.kind === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors[0]).toMatchObject({
      observed: null,
      samples: 0,
      summary: expect.stringMatching(/^error: metrics could not be read.*prometheus could not answer/),
    });
    expect(checks.some((c) => c.kind === 'healthy')).toBe(false);
    expect(timeline.map((t) => t.event)).not.toContain('recovered');
    const paged = timeline.find((t) => t.event === 'paged');
    expect(paged?.detail).toMatchObject({ title: `ROLLBACK UNVERIFIED, MONITOR IS BLIND: ${PROMPT}` });
    expect(String(paged?.detail.message)).toMatch(/prometheus could not answer/);
    // Traffic stays on the target: a provider that cannot answer never rolls anything back (or forward).
    expect((await call('GET', `/api/prompts/${PROMPT}`)).active_version).toBe('q1');
  });
});
