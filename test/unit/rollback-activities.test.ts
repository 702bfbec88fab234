/**
 * The activities a rollback relies on, against the real SQLite store: target choice within the critical
 * rule's budget, and verification judging "enough samples" as the prompt's monitor does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activityDeps } from '../support/activity-deps';
import { createActivities } from '../../src/activities';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import type { Evaluation, Evaluator } from '../../src/ports/evaluator';

let dir: string;
let a: Adapters;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-ra-'));
  a = await openAdapters({ databaseUrl: path.join(dir, 'db.sqlite') }, createLogger('silent'));
});
afterEach(async () => {
  await a.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An evaluator that never answers (a hung test suite), counting its calls. */
const hung = (): Evaluator & { calls: number } => {
  const e = {
    calls: 0,
    evaluate: (): Promise<Evaluation> => {
      e.calls += 1;
      return new Promise<Evaluation>(() => undefined);
    },
  };
  return e;
};

const activities = (evaluator?: Evaluator) =>
  createActivities({
    ...activityDeps(a),
    evaluationBudgetMs: { critical: 300, other: 5_000 },
    ...(evaluator ? { evaluator } : {}),
  });

async function seed(policy: Record<string, unknown> = {}): Promise<void> {
  await a.registry.upsertPrompt({ name: 'customer-support', policy }, 'admin');
  for (const v of ['v1.9.0', 'v2.0.0']) {
    await a.registry.addVersion({ prompt: 'customer-support', version: v, template: `template ${v}` }, 'admin');
    await a.registry.switchActive({
      prompt: 'customer-support',
      to: v,
      action: 'deploy',
      key: `dep-${v}`,
      actor: 'admin',
      reason: 'deploy',
    });
  }
}

describe('target choice within the critical budget', () => {
  it('a critical rollback does not wait on a hung baseline test: chosen without it, within the budget, and said so', async () => {
    await seed();
    const evaluator = hung();
    const started = Date.now();
    const choice = await activities(evaluator).chooseTarget({ prompt: 'customer-support', critical: true });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(choice.to_version).toBe('v1.9.0');
    expect(choice.evaluation).toMatchObject({ evaluator: 'timeout', passed: null });
    expect(choice.evaluation?.detail).toMatch(/no answer within/);
  });

  it('a version whose baseline test already passed is not tested again', async () => {
    await seed();
    await a.registry.setKnownGood('customer-support', 'v1.9.0', true, 'evaluator:suite', 'passed 91 %');
    const evaluator = hung();
    const choice = await activities(evaluator).chooseTarget({ prompt: 'customer-support', critical: true });
    expect(choice.to_version).toBe('v1.9.0');
    expect(evaluator.calls).toBe(0);
    expect(choice.evaluation).toBeUndefined();
  });
});

describe('one meaning of "enough samples"', () => {
  it("verification judges enough samples by the prompt's policy, as its monitor does", async () => {
    await seed({ min_samples: 50 });
    const since = new Date(Date.now() - 10_000).toISOString();
    await a.metrics.ingest(
      Array.from({ length: 30 }, (_, i) => ({
        prompt: 'customer-support',
        version: 'v1.9.0',
        ok: true,
        latency_ms: 100,
        at: new Date(Date.now() - 5_000 + i),
      })),
    );
    const v = await activities().checkRecovery({
      prompt: 'customer-support',
      version: 'v1.9.0',
      since,
      window_s: 60,
      policy: { ...DEFAULT_VERIFICATION, min_samples: 10 },
    });
    // 30 requests: enough by the old verification-only setting (10), not by the prompt's policy (50).
    expect(v.kind).toBe('inconclusive');
    expect(v.summary).toMatch(/at least 50 needed/);
  });
});

describe('a metrics provider that cannot answer', () => {
  /** Reads through the prompt's provider: Prometheus, which this process has no URL for. */
  const blindActivities = () =>
    createActivities({
      registry: a.registry,
      rollbacks: a.rollbacks,
      monitors: a.monitors,
      metrics: a.metricsSource,
      notifier: a.notifier,
      clock: a.clock,
      verification: DEFAULT_VERIFICATION,
      links: () => ({}),
    });
  const queries = {
    requests: 'sum(increase(llm_requests_total{version="{{version}}"}[{{window}}]))',
    errors: 'sum(increase(llm_errors_total{version="{{version}}"}[{{window}}]))',
    latency_p99_ms: 'max(llm_latency_p99_ms{version="{{version}}"})',
  };

  it('verification and stage checks answer `error` with the reason at once, instead of failing the activity into endless retries', async () => {
    await seed();
    await a.registry.upsertPrompt({ name: 'customer-support', metrics: { provider: 'prometheus', queries } }, 'admin');
    const act = blindActivities();
    const since = new Date(Date.now() - 10_000).toISOString();

    const check = await act.checkRecovery({
      prompt: 'customer-support',
      version: 'v1.9.0',
      since,
      window_s: 60,
      policy: DEFAULT_VERIFICATION,
    });
    expect(check).toMatchObject({ kind: 'error', metric: 'error_rate', observed: null, samples: 0 });
    expect(check.summary).toMatch(/^error: metrics could not be read/);
    expect(check.summary).toContain('PROMETHEUS_URL is not set');

    const metric = await act.checkIncidentMetric({
      prompt: 'customer-support',
      version: 'v1.9.0',
      since,
      trigger: { rule: 'latency_p99.page', metric: 'latency_p99_ratio', threshold: 2, baseline: 300 },
    });
    expect(metric).toMatchObject({ kind: 'error', metric: 'latency_p99_ratio', same_breach: false });

    const stage = await act.readTraffic({ prompt: 'customer-support', version: 'v1.9.0', window_s: 60, blended_with: ['v2.0.0'] });
    expect(stage.kind).toBe('error');
    expect(stage.kind === 'error' && stage.error).toContain('PROMETHEUS_URL is not set');

    const canary = await act.judgeCanaryStage({
      prompt: 'customer-support',
      canary: 'v2.0.0',
      baseline: 'v1.9.0',
      since,
      plan: { stages: [1, 100], bake_s: 60, min_samples: 10, alpha: 0.05, max_extra_bakes: 1, min_staging_s: 0 },
      unreadable: 'report',
    });
    expect(canary).toMatchObject({ outcome: 'error', p_value: null });
    expect(canary.reason).toMatch(/metrics could not be read/);
  });
});
