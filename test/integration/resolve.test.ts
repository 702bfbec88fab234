import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  // The API in-process; the worker, when one runs, in its own OS process sharing the SQLite file (npm run worker).
  stack = await startStack({ namespace: 'it-resolve', worker: false, env: { VERIFY_DURATION_S: '3' } });
  await seedCustomerSupport(stack.url); // v2.0.0 deployed
});
afterAll(async () => {
  await stack?.stop();
});

const TEMPLATES: Record<string, string> = {
  'v1.9.0': 'You are a helpful support agent.',
  'v2.0.0': 'You are a very concise support agent.',
};

async function resolve(key: string): Promise<{ status: number; version: string; template: string }> {
  const r = await http(stack.url, 'GET', `/api/prompts/customer-support/resolve?key=${encodeURIComponent(key)}`);
  return { status: r.status, version: r.body.version, template: r.body.template };
}

/** Resolves every key, `concurrency` requests at a time; answers in key order. */
async function resolveAll(keys: string[], concurrency = 32): Promise<string[]> {
  const out: string[] = new Array<string>(keys.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const i = next++;
        const r = await resolve(keys[i]!);
        if (r.status !== 200 || r.template !== TEMPLATES[r.version]) throw new Error(`resolve ${keys[i]} → ${r.status} ${r.version}`);
        out[i] = r.version;
      }
    }),
  );
  return out;
}

/** Serving traffic, as clients would send it, while something else happens: what each request got, and when it was sent. */
function serveTraffic(loops = 8) {
  const served: { sentAt: number; version: string; status: number }[] = [];
  let stopped = false;
  const running = Promise.all(
    Array.from({ length: loops }, async (_, w) => {
      for (let i = 0; !stopped; i++) {
        const sentAt = performance.now();
        const r = await resolve(`client-${w}-${i}`);
        served.push({ sentAt, version: r.version, status: r.status });
      }
    }),
  );
  return {
    served,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Polls until `probe` says the change is acknowledged; the moment the acknowledgement reached the client. */
async function acknowledged(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return performance.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

describe('GET /api/prompts/{p}/resolve over real HTTP', () => {
  it('a split written through the registry: the same key gets the same version, 10,000 keys land within 1 % of it', async () => {
    const split = [
      { version: 'v1.9.0', percent: 30 },
      { version: 'v2.0.0', percent: 70 },
    ];
    await expect(
      stack.adapters.registry.setTraffic({
        prompt: 'customer-support',
        split: [
          { version: 'v1.9.0', percent: 30 },
          { version: 'v2.0.0', percent: 60 },
        ],
        key: 'it-split-bad',
        actor: 'it',
        reason: 'shares that do not add up',
        action: 'traffic',
      }),
    ).rejects.toMatchObject({ type: 'InvalidRequest' });
    await stack.adapters.registry.setTraffic({
      prompt: 'customer-support',
      split,
      key: 'it-split',
      actor: 'it',
      reason: '30/70',
      action: 'traffic',
    });
    const audit = (await stack.adapters.registry.audit({ prompt: 'customer-support' })).at(-1);
    expect(audit).toMatchObject({ action: 'traffic', actor: 'it', reason: '30/70', detail: { after: split } });

    const first = await resolveAll(keys);
    const again = await resolveAll(keys);
    expect(again).toEqual(first);
    const share = first.filter((v) => v === 'v1.9.0').length / keys.length;
    expect(Math.abs(share - 0.3)).toBeLessThan(0.01);
    expect(new Set(first)).toEqual(new Set(['v1.9.0', 'v2.0.0']));
  });

  it('a rollback switched by the worker in another OS process: once acknowledged, no request is served the old version', async () => {
    await stack.adapters.registry.setTraffic({
      prompt: 'customer-support',
      split: [{ version: 'v2.0.0', percent: 100 }],
      key: 'it-all-v2',
      actor: 'it',
      reason: 'back to one version',
      action: 'traffic',
    });
    const worker = stack.spawnWorker();
    try {
      const traffic = serveTraffic();
      const r = await http(stack.url, 'POST', '/api/rollback', {
        prompt: 'customer-support',
        target_version: 'v1.9.0',
        reason: 'resolve drill',
      });
      expect(r.status).toBe(202);
      const id: string = r.body.rollback_id;
      const ackAt = await acknowledged('the switch', async () =>
        ['verifying', 'completed', 'escalated'].includes((await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body.status),
      );
      await new Promise((res) => setTimeout(res, 500));
      await traffic.stop();

      expect(traffic.served.every((s) => s.status === 200)).toBe(true);
      // The cache was live and serving v2.0.0 when the other process switched…
      expect(traffic.served.some((s) => s.sentAt < ackAt && s.version === 'v2.0.0')).toBe(true);
      // …and nothing sent after the acknowledgement got it.
      const after = traffic.served.filter((s) => s.sentAt >= ackAt);
      expect(after.length).toBeGreaterThan(50);
      expect(after.filter((s) => s.version !== 'v1.9.0')).toEqual([]);
      expect(new Set(await resolveAll(keys.slice(0, 2000)))).toEqual(new Set(['v1.9.0']));

      await acknowledged('the rollback to end', async () =>
        ['completed', 'escalated'].includes((await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body.status),
      );
    } finally {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
  }, 120_000);

  it('a deploy switched by the API process itself: once the 202 is back, no request is served the old version', async () => {
    const traffic = serveTraffic();
    await new Promise((res) => setTimeout(res, 200));
    const r = await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' });
    const ackAt = performance.now();
    expect(r.status).toBe(202);
    await new Promise((res) => setTimeout(res, 300));
    await traffic.stop();

    expect(traffic.served.some((s) => s.sentAt < ackAt && s.version === 'v1.9.0')).toBe(true);
    const after = traffic.served.filter((s) => s.sentAt >= ackAt);
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((s) => s.version !== 'v2.0.0')).toEqual([]);
  });

  it('errors are the API’s problem+json: unknown prompt 404, missing key 400, nothing deployed 404', async () => {
    const problem = expect.stringContaining('application/problem+json');
    const unknown = await http(stack.url, 'GET', '/api/prompts/nope/resolve?key=a');
    expect(unknown).toMatchObject({ status: 404, type: problem, body: { status: 404, title: 'Unknown prompt' } });
    const noKey = await http(stack.url, 'GET', '/api/prompts/customer-support/resolve');
    expect(noKey).toMatchObject({ status: 400, type: problem, body: { status: 400, errors: [{ field: 'key' }] } });
    await http(stack.url, 'PUT', '/api/prompts/undeployed', {});
    const undeployed = await http(stack.url, 'GET', '/api/prompts/undeployed/resolve?key=a');
    expect(undeployed).toMatchObject({ status: 404, type: problem, body: { title: 'Nothing deployed' } });
    // An encoded key is the same key.
    expect((await resolve('a b@c')).version).toBe((await resolve('a b@c')).version);
  });

  it('answers from the fast path still show in the orchestrator’s own /metrics, under the route’s labels', async () => {
    const before = await http(stack.url, 'GET', '/metrics');
    const count = (text: string) =>
      Number(
        /promptback_http_request_duration_seconds_count\{method="GET",route="\/api\/prompts\/:prompt\/resolve",status="200"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    await resolveAll(keys.slice(0, 100));
    const after = await http(stack.url, 'GET', '/metrics');
    expect(count(after.body as string) - count(before.body as string)).toBe(100);
  });

  it('with tokens configured: a viewer, operator or admin token is needed; the answer is the same JSON', async () => {
    const secured = await startStack({
      namespace: 'it-resolve',
      worker: false,
      env: { AUTH_TOKENS: 'vera:viewer:tv,olga:operator:to,ada:admin:ta,ingo:ingest:ti', DATABASE_URL: stack.env.DATABASE_URL! },
    });
    try {
      const get = (token?: string) =>
        http(secured.url, 'GET', '/api/prompts/customer-support/resolve?key=user-1', undefined, {
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        });
      const expected = { version: 'v2.0.0', template: TEMPLATES['v2.0.0'] };
      for (const t of ['tv', 'to', 'ta']) expect(await get(t)).toMatchObject({ status: 200, body: expected });
      expect(await get()).toMatchObject({ status: 401, body: { title: 'Unauthorized' } });
      expect(await get('wrong')).toMatchObject({ status: 401, body: { detail: 'the bearer token is not valid' } });
      expect(await get('ti')).toMatchObject({ status: 403, body: { title: 'Forbidden' } });
    } finally {
      await secured.stop(); // its own folder goes; the shared database stays with the first stack
    }
  });
});
