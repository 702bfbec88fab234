import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activityDeps } from '../support/activity-deps';
import { createActivities } from '../../src/activities';
import { HttpSuiteEvaluator } from '../../src/adapters/evaluator/http';
import { MetricsHistoryEvaluator } from '../../src/adapters/evaluator/metrics-history';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import type { Evaluator } from '../../src/ports/evaluator';

let dir: string;
let a: Adapters;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-kg-'));
  a = await openAdapters({ databaseUrl: path.join(dir, 'db.sqlite') }, createLogger('silent'));
});
afterEach(async () => {
  await a.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const activities = (evaluator?: Evaluator) =>
  createActivities({
    ...activityDeps(a),
    ...(evaluator ? { evaluator } : {}),
  });

/** v1.8.0 served well, v1.9.0 served with 40 % errors, v2.0.0 is active. */
async function seed(): Promise<void> {
  await a.registry.upsertPrompt({ name: 'customer-support' }, 'admin');
  const t0 = Date.now() - 3_600_000;
  for (const [i, v] of ['v1.8.0', 'v1.9.0', 'v2.0.0'].entries()) {
    await a.registry.addVersion({ prompt: 'customer-support', version: v, template: `template ${v}` }, 'admin');
    await a.registry.switchActive({
      prompt: 'customer-support',
      to: v,
      action: 'deploy',
      key: `dep-${v}`,
      actor: 'admin',
      reason: 'deploy',
    });
    const errors = v === 'v1.9.0' ? 40 : 1;
    await a.metrics.ingest(
      Array.from({ length: 100 }, (_, j) => ({
        prompt: 'customer-support',
        version: v,
        ok: j >= errors,
        latency_ms: 100,
        at: new Date(t0 + i * 600_000 + j * 1000),
      })),
    );
  }
}

describe('known-good selection with a baseline test', () => {
  it('one budget for the whole choice: once failing tests have spent it, the next candidate is chosen without its test', async () => {
    await seed();
    // Every test fails, after 300 ms; the budget is 500 ms. v1.9.0 fails its test (300 ms); v1.8.0's test gets the
    // 200 ms left and is cut short: chosen, "not judged". Before, each candidate had a budget of its own: two
    // tests, 600 ms, and then no target at all — or, with a minute each, a choice past its activity's timeout.
    const asked: string[] = [];
    const slowFail: Evaluator = {
      evaluate: async (_p, v) => {
        asked.push(v.version);
        await new Promise((r) => setTimeout(r, 300));
        return { evaluator: 'slow', passed: false, score: 0, detail: 'failed' };
      },
    };
    const acts = createActivities({ ...activityDeps(a), evaluator: slowFail, evaluationBudgetMs: { critical: 500, other: 500 } });
    const t0 = Date.now();
    const choice = await acts.chooseTarget({ prompt: 'customer-support' });
    const took = Date.now() - t0;
    expect(asked).toEqual(['v1.9.0', 'v1.8.0']);
    expect(choice.to_version).toBe('v1.8.0');
    expect(choice.evaluation).toMatchObject({ evaluator: 'timeout', passed: null });
    expect(choice.skipped).toEqual([{ version: 'v1.9.0', why: 'failed its baseline test: failed' }]);
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(2_000);
  });

  it('a named target asked to be tested after the switch is chosen without a test; testTarget runs it (and not for a version that passed one)', async () => {
    await seed();
    const asked: string[] = [];
    const evaluator: Evaluator = {
      evaluate: (_p, v) => {
        asked.push(v.version);
        return Promise.resolve({ evaluator: 'suite', passed: false, score: 0.25, detail: 'failed: accuracy 25.0 %' });
      },
    };
    const acts = createActivities({ ...activityDeps(a), evaluator });
    const choice = await acts.chooseTarget({ prompt: 'customer-support', target_version: 'v1.9.0', named_test_after_switch: true });
    expect(choice).toEqual({ from_version: 'v2.0.0', to_version: 'v1.9.0', skipped: [] });
    expect(asked).toEqual([]);
    expect(await acts.testTarget({ prompt: 'customer-support', version: 'v1.9.0' })).toEqual({
      evaluator: 'suite',
      passed: false,
      score: 0.25,
      detail: 'failed: accuracy 25.0 %',
    });
    expect(asked).toEqual(['v1.9.0']);
    // A named target is not marked by its test (the operator chose it); a version that passed one is not tested again.
    expect((await a.registry.getVersion('customer-support', 'v1.9.0'))?.known_good).toBeNull();
    await a.registry.setKnownGood('customer-support', 'v1.8.0', true, 'evaluator:suite', 'passed');
    expect(await acts.testTarget({ prompt: 'customer-support', version: 'v1.8.0' })).toBeNull();
    expect(await createActivities(activityDeps(a)).testTarget({ prompt: 'customer-support', version: 'v1.9.0' })).toBeNull();
    expect(asked).toEqual(['v1.9.0']);
    // Without the flag (workflows from before it), the named target is tested with the choice, as before.
    expect((await acts.chooseTarget({ prompt: 'customer-support', target_version: 'v1.9.0' })).evaluation).toMatchObject({ passed: false });
  });

  it('skips the newest earlier version when it fails its test, says why, marks it, and picks the one before', async () => {
    await seed();
    const evaluator = new MetricsHistoryEvaluator(a.metrics, { window_s: 300, min_samples: 20, min_accuracy: 0.75 });
    const choice = await activities(evaluator).chooseTarget({ prompt: 'customer-support' });
    expect(choice.to_version).toBe('v1.8.0');
    expect(choice.skipped).toHaveLength(1);
    expect(choice.skipped[0]!.version).toBe('v1.9.0');
    expect(choice.skipped[0]!.why).toMatch(/failed its baseline test: failed: score 6\d\.\d % < 75\.0 %/);
    expect(choice.evaluation).toMatchObject({ passed: true, evaluator: 'metrics-history' });
    expect((await a.registry.getVersion('customer-support', 'v1.9.0'))?.known_good).toBe(false);
    expect((await a.registry.getVersion('customer-support', 'v1.8.0'))?.known_good).toBe(true);
    const audit = await a.registry.audit({ prompt: 'customer-support' });
    expect(audit.find((r) => r.action === 'version.failed')).toMatchObject({ to_version: 'v1.9.0', actor: 'evaluator:metrics-history' });
  });

  it('a version that was rolled back from is never a target, and without any known-good version the choice fails clearly', async () => {
    await seed();
    await a.registry.setKnownGood('customer-support', 'v1.8.0', false, 'qa', 'manual test failed');
    await a.registry.switchActive({
      prompt: 'customer-support',
      to: 'v1.9.0',
      action: 'deploy',
      key: 'dep-again',
      actor: 'op',
      reason: 'x',
    });
    await a.registry.switchActive({ prompt: 'customer-support', to: 'v2.0.0', action: 'rollback', key: 'rb-x', actor: 'op', reason: 'x' });
    expect((await a.registry.getVersion('customer-support', 'v1.9.0'))?.rolled_back_from).toBe(true);
    const err = await activities()
      .chooseTarget({ prompt: 'customer-support' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toMatchObject({ type: 'NoKnownGoodVersion' });
    expect((err as { details: unknown[] }).details).toEqual([
      {
        prompt: 'customer-support',
        skipped: [
          { version: 'v1.9.0', why: 'was rolled back from before' },
          { version: 'v1.8.0', why: 'failed its baseline test' },
        ],
      },
    ]);
  });

  it('the HTTP test-suite evaluator runs each case against a real endpoint and judges accuracy ≥ 75 %', async () => {
    const received: unknown[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const r = JSON.parse(body) as { version: string; input: { q: string } };
        received.push(r);
        // v1.9.0 answers "refund approved" to everything; the suite expects a denial for one of four cases.
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ output: r.version === 'v1.9.0' ? 'Refund approved.' : 'I cannot help.' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const suite = path.join(dir, 'suite.json');
    fs.writeFileSync(
      suite,
      JSON.stringify({
        cases: [
          { input: { q: 'refund 1' }, expected: 'refund approved' },
          { input: { q: 'refund 2' }, expected: 'refund approved' },
          { input: { q: 'refund 3' }, expected: 'refund approved' },
          { input: { q: 'fraud' }, expected: 'refund denied' },
        ],
      }),
    );
    try {
      await seed();
      const evaluator = new HttpSuiteEvaluator({
        url: `http://127.0.0.1:${port}/eval`,
        suiteFile: suite,
        min_accuracy: 0.75,
        timeout_ms: 5000,
      });
      const v19 = (await a.registry.getVersion('customer-support', 'v1.9.0'))!;
      const v18 = (await a.registry.getVersion('customer-support', 'v1.8.0'))!;
      expect(await evaluator.evaluate('customer-support', v19)).toMatchObject({ passed: true, score: 0.75 });
      const failed = await evaluator.evaluate('customer-support', v18);
      expect(failed).toMatchObject({ passed: false, score: 0 });
      expect(failed.detail).toContain('case 0: expected "refund approved"');
      expect(received).toHaveLength(8);
      expect(received[0]).toMatchObject({
        prompt: 'customer-support',
        version: 'v1.9.0',
        template: 'template v1.9.0',
        input: { q: 'refund 1' },
      });
    } finally {
      server.close();
    }
  });
});
