import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

/**
 * An operator names the version to roll back to, and a baseline test suite (EVALUATOR=http) is configured. The named
 * target is never refused for its test, so the test must not hold up the switch: it runs after it, beside verification,
 * and its result goes into the timeline (and an alert when it fails).
 */
const SUITE_DELAY_MS = 6_000;
let stack: Stack;
let suite: Receiver;
let suiteDir: string;

beforeAll(async () => {
  // The evaluation endpoint answers each case after 6 s, with an output the case does not expect: the test fails.
  suite = await startReceiver(() => ({
    status: 200,
    body: JSON.stringify({ output: 'I cannot help with that.' }),
    delayMs: SUITE_DELAY_MS,
  }));
  suiteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-suite-'));
  const suiteFile = path.join(suiteDir, 'suite.json');
  fs.writeFileSync(suiteFile, JSON.stringify({ cases: [{ input: 'I want my money back', expected: 'refund' }] }));
  stack = await startStack({
    namespace: 'it-named-target',
    env: { EVALUATOR: 'http', EVALUATOR_URL: suite.url, EVALUATOR_SUITE: suiteFile },
  });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
  await suite?.close();
  if (suiteDir) fs.rmSync(suiteDir, { recursive: true, force: true });
});

/** The operator's request: roll back to v1.9.0, by name. */
const ROLLBACK = { prompt: 'customer-support', target_version: 'v1.9.0', reason: 'bad answers' };
const rollback = (id: string) => http(stack.url, 'GET', `/api/rollbacks/${id}`).then((r) => r.body);
const served = async (): Promise<string> =>
  (await http(stack.url, 'GET', '/api/prompts/customer-support/resolve?key=user-1')).body.version as string;

describe("an operator's rollback to a named version, with a baseline test suite configured", () => {
  it('switches without waiting for the suite; the suite runs after the switch, its failure is in the timeline and alerted', async () => {
    const t0 = Date.now();
    const r = await http(stack.url, 'POST', '/api/rollback', ROLLBACK);
    expect(r.status).toBe(202);
    // Served well before the suite could have answered its one case.
    const switchedAfter = await waitFor('v1.9.0 served', async () => ((await served()) === 'v1.9.0' ? Date.now() - t0 : undefined), 20_000);
    expect(switchedAfter).toBeLessThan(SUITE_DELAY_MS - 1_000);

    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const tested = await waitFor(
      'the baseline test in the timeline',
      async () => {
        const v = await rollback(r.body.rollback_id);
        return v.timeline.find((e: { event: string }) => e.event === 'baseline_tested') ? v : undefined;
      },
      30_000,
    );
    const events: string[] = tested.timeline.map((e: { event: string }) => e.event);
    // The target was chosen without the test, and the test came after the switch.
    expect(tested.timeline.find((e: { event: string }) => e.event === 'target_selected').detail.baseline_test).toBeNull();
    expect(events.indexOf('baseline_tested')).toBeGreaterThan(events.indexOf('switched'));
    const detail = tested.timeline.find((e: { event: string }) => e.event === 'baseline_tested').detail;
    expect(detail).toMatchObject({ version: 'v1.9.0', evaluator: 'http-suite', passed: false, score: 0 });
    // The suite was asked about the named version, once.
    expect(suite.received.map((q) => q.json?.version)).toEqual(['v1.9.0']);

    const done = await waitFor(
      'the rollback to end',
      async () => {
        const v = await rollback(r.body.rollback_id);
        return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
      },
      30_000,
    );
    expect(done.status).toBe('completed');
    // A person hears that the version now serving failed its baseline test.
    const alert = done.timeline.find(
      (e: { event: string; detail: { title?: string } }) => e.event === 'notified' && /baseline test/i.test(e.detail.title ?? ''),
    );
    expect(alert?.detail.title).toBe('ROLLED BACK TO A VERSION THAT FAILED ITS BASELINE TEST: customer-support');
    expect(alert?.detail.message).toContain('v1.9.0');
    // The post-mortem reports the target's test.
    const pm = await http(stack.url, 'GET', `/api/rollbacks/${r.body.rollback_id}/postmortem`);
    expect(pm.status).toBe(200);
    expect(String(pm.body)).toContain('Rollback target v1.9.0 baseline test: failed');
  });
});
