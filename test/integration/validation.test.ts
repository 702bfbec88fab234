import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-validation' });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

/** Everything a user could observe of the stored state, to compare before and after a refused request. */
async function snapshot() {
  return {
    prompt: (await http(stack.url, 'GET', '/api/prompts/customer-support')).body,
    prompts: (await http(stack.url, 'GET', '/api/prompts')).body,
    rollbacks: (await http(stack.url, 'GET', '/api/rollbacks')).body,
    audit: await stack.adapters.registry.audit({}),
    metrics: (await http(stack.url, 'GET', '/api/prompts/customer-support/metrics?window_s=3600')).body,
  };
}

const cases: [string, string, string, unknown, number, RegExp, { raw?: boolean }?][] = [
  ['malformed JSON', 'POST', '/api/rollback', '{"prompt": "customer-support", ', 400, /not valid JSON/, { raw: true }],
  ['unknown prompt', 'POST', '/api/rollback', { prompt: 'nope', target_version: 'v1.9.0' }, 404, /no prompt named nope/],
  ['unknown version', 'POST', '/api/rollback', { prompt: 'customer-support', target_version: 'v9.9.9' }, 404, /no version v9\.9\.9/],
  ['wrong type', 'POST', '/api/rollback', { prompt: 42 }, 400, /prompt/],
  ['unknown mode', 'POST', '/api/rollback', { prompt: 'customer-support', mode: 'sideways' }, 400, /mode/],
  ['unknown field', 'POST', '/api/rollback', { prompt: 'customer-support', target: 'v1.9.0' }, 400, /target/],
  ['bad version name', 'POST', '/api/prompts/customer-support/versions', { version: 'v 1/0', template: 't' }, 400, /version/],
  ['duplicate version', 'POST', '/api/prompts/customer-support/versions', { version: 'v1.9.0', template: 'other' }, 409, /already exists/],
  ['version of unknown prompt', 'POST', '/api/prompts/ghost/versions', { version: 'v1', template: 't' }, 404, /no prompt named ghost/],
  ['deploy unknown version', 'POST', '/api/prompts/customer-support/deploy', { version: 'v3.0.0' }, 404, /no version v3\.0\.0/],
  ['deploy wrong strategy', 'POST', '/api/prompts/customer-support/deploy', { version: 'v1.9.0', strategy: 'yolo' }, 400, /strategy/],
  ['prompt body not an object', 'PUT', '/api/prompts/customer-support', [1, 2], 400, /body/],
  ['related not names', 'PUT', '/api/prompts/customer-support', { related: ['ok', 'not ok!'] }, 400, /related\[1\]/],
  ['resolve without key', 'GET', '/api/prompts/customer-support/resolve', undefined, 400, /key/],
  ['resolve of an unknown prompt', 'GET', '/api/prompts/nope/resolve?key=a', undefined, 404, /no prompt named nope/],
  ['resolve with a bad prompt name', 'GET', '/api/prompts/bad%20name/resolve?key=a', undefined, 400, /prompt/],
  ['unknown rollback', 'GET', '/api/rollbacks/does-not-exist', undefined, 404, /no rollback does-not-exist/],
  ['bad status filter', 'GET', '/api/rollbacks?status=exploded', undefined, 400, /status/],
  ['metrics: empty batch', 'POST', '/api/metrics', { events: [] }, 400, /at least one event/],
];

describe('bad input → 4xx problem+json naming the field, and nothing stored changes', () => {
  it.each(cases)('%s', async (_name, method, path, body, status, detail, opts) => {
    const before = await snapshot();
    const r = await http(stack.url, method, path, body, opts);
    expect(r.status).toBe(status);
    expect(r.type).toContain('application/problem+json');
    expect(r.body).toMatchObject({ status, title: expect.any(String), type: expect.any(String) });
    expect(`${r.body.detail} ${JSON.stringify(r.body.errors ?? [])}`).toMatch(detail);
    expect(await snapshot()).toEqual(before);
  });

  it('an oversized body (> 1 MiB) is 413 and stores nothing', async () => {
    const before = await snapshot();
    const r = await http(stack.url, 'POST', '/api/prompts/customer-support/versions', {
      version: 'v-big',
      template: 'x'.repeat(1_100_000),
    });
    expect(r.status).toBe(413);
    expect(r.type).toContain('application/problem+json');
    expect(r.body.detail).toMatch(/1 MiB/);
    expect(await snapshot()).toEqual(before);
  });

  it('a metrics batch with bad events is refused whole, naming each bad index', async () => {
    const before = await snapshot();
    const events = [
      { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 120 },
      { prompt: 'customer-support', version: 'v2.0.0', ok: 'yes', latency_ms: 120 },
      { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: -5, quality: 2 },
    ];
    const r = await http(stack.url, 'POST', '/api/metrics', { events });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/index 1, 2/);
    expect(r.body.errors.map((e: { field: string }) => e.field)).toEqual(['events[1].ok', 'events[2].latency_ms', 'events[2].quality']);
    expect(await snapshot()).toEqual(before);
  });

  it('more than 10,000 events in one call is refused', async () => {
    const events = Array.from({ length: 10_001 }, () => ({ prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 1 }));
    const r = await http(stack.url, 'POST', '/api/metrics', { events });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(/at most 10000 events/);
  });

  it('a valid batch is stored and read back in the window', async () => {
    // v1.9.0 served an hour ago: it is the baseline, judged on its own last window of traffic.
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const events = [
      { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 100, quality: 0.9 },
      { prompt: 'customer-support', version: 'v2.0.0', ok: false, latency_ms: 300, quality: 0.5 },
      { prompt: 'customer-support', version: 'v1.9.0', ok: true, latency_ms: 80, quality: 0.95, at: hourAgo },
    ];
    const r = await http(stack.url, 'POST', '/api/metrics', { events });
    expect(r).toMatchObject({ status: 202, body: { accepted: 3 } });
    const m = (await http(stack.url, 'GET', '/api/prompts/customer-support/metrics?version=v2.0.0&window_s=60')).body;
    expect(m).toMatchObject({ requests: 2, errors: 1, error_rate: 0.5 });
    expect(m.quality_mean).toBeCloseTo(0.7);
    expect(m.baseline).toMatchObject({ version: 'v1.9.0', requests: 1, errors: 0, quality_mean: 0.95 });
  });
});
