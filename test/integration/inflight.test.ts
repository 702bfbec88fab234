/**
 * One change in flight per prompt, over HTTP against the real system: racing deploys and rollbacks never both
 * take effect out of order, a rollback during a canary aborts the canary (which then leaves traffic alone), a
 * deploy during either is 409 naming what is in flight, and a rollback to what already serves is 409.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { http, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function seed(url: string, prompt: string, deploy: string[], register: string[] = []): Promise<void> {
  const steps: [string, string, unknown][] = [['PUT', `/api/prompts/${prompt}`, {}]];
  for (const v of deploy) {
    steps.push(['POST', `/api/prompts/${prompt}/versions`, { version: v, template: `template ${v}` }]);
    steps.push(['POST', `/api/prompts/${prompt}/deploy`, { version: v }]);
  }
  for (const v of register) steps.push(['POST', `/api/prompts/${prompt}/versions`, { version: v, template: `template ${v}` }]);
  for (const [m, p, b] of steps) {
    const r = await http(url, m, p, b);
    if (r.status >= 300) throw new Error(`${m} ${p} → ${r.status} ${JSON.stringify(r.body)}`);
  }
}

describe('one change in flight per prompt', () => {
  it('20 racing deploy + rollback trials: never two 202s where the deploy lands inside the rollback', async () => {
    // No worker: each rollback stays as it was opened, so its record shows what it rolls back from.
    stack = await startStack({ namespace: 'it-inflight', worker: false });
    const url = stack.url;
    for (let i = 0; i < 20; i++) {
      const prompt = `race-${i}`;
      await seed(url, prompt, ['v1', 'v2'], ['v3']);
      // Staggered by 0–9 ms, so that the two requests overlap at different points of their work.
      const [deploy, rollback] = await Promise.all([
        new Promise((r) => setTimeout(r, i % 10)).then(() => http(url, 'POST', `/api/prompts/${prompt}/deploy`, { version: 'v3' })),
        http(url, 'POST', '/api/rollback', { prompt, target_version: 'v1', reason: 'race drill' }),
      ]);
      expect(rollback.status, `trial ${i}: ${JSON.stringify(rollback.body)}`).toBe(202);
      if (deploy.status === 202) {
        // The deploy landed first: the rollback rolls back what it deployed, and says so.
        const v = (await http(url, 'GET', `/api/rollbacks/${rollback.body.rollback_id}`)).body;
        expect(v.from_version, `trial ${i}`).toBe('v3');
      } else {
        expect(deploy.status, `trial ${i}: ${JSON.stringify(deploy.body)}`).toBe(409);
        expect(deploy.body.rollback_id).toBe(rollback.body.rollback_id);
        expect((await http(url, 'GET', `/api/prompts/${prompt}`)).body.active_version).toBe('v2');
      }
    }
  });

  it('a rollback during a canary aborts it at once (naming the rollback); the canary then ends without touching traffic', async () => {
    stack = await startStack({
      namespace: 'it-inflight',
      env: { CANARY_STAGES: '50,100', CANARY_BAKE_S: '2', CANARY_MIN_SAMPLES: '100000' },
    });
    const url = stack.url;
    await seed(url, 'cs-canary', ['v1', 'v2'], ['v3']);
    const canary = await http(url, 'POST', '/api/prompts/cs-canary/deploy', { version: 'v3', strategy: 'canary' });
    expect(canary.status).toBe(202);
    const depId: string = canary.body.deployment_id;
    await waitFor('the first canary stage', async () => {
      const t = (await http(url, 'GET', '/api/prompts/cs-canary')).body.traffic as { version: string; percent: number }[];
      return t.some((s) => s.version === 'v3' && s.percent === 50) ? true : undefined;
    });

    // Another deploy while the canary rolls out: 409 naming the deployment.
    const during = await http(url, 'POST', '/api/prompts/cs-canary/deploy', { version: 'v1' });
    expect(during.status).toBe(409);
    expect(during.body.deployment_id).toBe(depId);

    const rb = await http(url, 'POST', '/api/rollback', { prompt: 'cs-canary', target_version: 'v1', reason: 'canary looks bad' });
    expect(rb.status).toBe(202);
    const id: string = rb.body.rollback_id;
    const dep = (await http(url, 'GET', `/api/deployments/${depId}`)).body;
    expect(dep.status).toBe('aborted');
    expect(dep.detail.reason).toContain(id);

    // A deploy while the rollback is open: 409 naming it.
    const blocked = await http(url, 'POST', '/api/prompts/cs-canary/deploy', { version: 'v3' });
    expect(blocked.status).toBe(409);
    expect(blocked.body.rollback_id).toBe(id);

    const healthy = Array.from({ length: 50 }, () => ({ prompt: 'cs-canary', version: 'v1', ok: true, latency_ms: 100 }));
    expect((await http(url, 'POST', '/api/metrics', { events: healthy })).status).toBe(202);
    const result = (await stack.api.client.workflow.getHandle(`deploy/cs-canary/${depId}`).result()) as { status: string; reason: string };
    expect(result.status).toBe('aborted');
    expect(result.reason).toContain(id);
    await waitFor('the rollback to end', async () => {
      const v = (await http(url, 'GET', `/api/rollbacks/${id}`)).body;
      return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
    });
    // The rollback's traffic stands: the aborted canary did not put its old version back.
    expect((await http(url, 'GET', '/api/prompts/cs-canary')).body.traffic).toEqual([{ version: 'v1', percent: 100 }]);
    expect((await http(url, 'GET', `/api/deployments/${depId}`)).body.status).toBe('aborted');

    // Rolling back to the version that already serves all traffic: 409, nothing opened.
    const before = (await http(url, 'GET', '/api/rollbacks?prompt=cs-canary')).body.rollbacks.length;
    const again = await http(url, 'POST', '/api/rollback', { prompt: 'cs-canary', target_version: 'v1' });
    expect(again.status).toBe(409);
    expect(again.body.title).toBe('Already active');
    expect(again.body.detail).toContain('already serves all traffic');
    expect((await http(url, 'GET', '/api/rollbacks?prompt=cs-canary')).body.rollbacks).toHaveLength(before);
  });
});
