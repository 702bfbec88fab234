import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, startStack, type Reply, type Stack } from '../support/stack';

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

/**
 * A request whose path is sent byte for byte: fetch resolves `.` and `..` segments (even `%2e`) before sending,
 * a hand-written client or a proxy does not.
 */
function verbatim(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const nested = (depth: number): unknown => {
  let v: unknown = 'deep';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

type Case = [string, string, string, unknown, number, RegExp, { raw?: boolean; headers?: Record<string, string> }?];
const cases: Case[] = [
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
  // Names that look like path traversal are not names.
  ['rollback of prompt ..', 'POST', '/api/rollback', { prompt: '..' }, 400, /"field":"prompt"/],
  ['rollback of prompt .', 'POST', '/api/rollback', { prompt: '.', target_version: 'v1.9.0' }, 400, /"field":"prompt"/],
  ['rollback to version ..', 'POST', '/api/rollback', { prompt: 'customer-support', target_version: '..' }, 400, /target_version/],
  ['related names ..', 'PUT', '/api/prompts/customer-support', { related: ['triage', '..'] }, 400, /related\[1\]/],
  ['monitor of prompt .', 'POST', '/api/monitors', { prompt: '.' }, 400, /"field":"prompt"/],
  ['version named .', 'POST', '/api/prompts/customer-support/versions', { version: '.', template: 't' }, 400, /"field":"version"/],
  [
    'metric event for prompt ..',
    'POST',
    '/api/metrics',
    { events: [{ prompt: '..', version: 'v2.0.0', ok: true, latency_ms: 1 }] },
    400,
    /events\[0\]\.prompt/,
  ],
  // Lone UTF-16 surrogates cannot be stored as UTF-8: refused, naming the field.
  [
    'lone surrogate in a template',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 'hi \ud800' },
    400,
    /"field":"template"/,
  ],
  ['lone surrogate in a description', 'PUT', '/api/prompts/customer-support', { description: '\udfff!' }, 400, /"field":"description"/],
  [
    'lone surrogate in a reason',
    'POST',
    '/api/rollback',
    { prompt: 'customer-support', target_version: 'v1.9.0', reason: 'x\ud83d' },
    400,
    /"field":"reason"/,
  ],
  // zod's pattern lets an offset through that Date cannot read: it was an Invalid Date, then a 500.
  [
    'metric event at an offset of +24:00',
    'POST',
    '/api/metrics',
    {
      events: [
        { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 1 },
        { prompt: 'customer-support', version: 'v2.0.0', ok: false, latency_ms: 1, at: '2026-01-01T00:00:00+24:00' },
      ],
    },
    400,
    /"field":"events\[1\]\.at","message":"not a valid time/,
  ],
  [
    'series from an offset of +99:99',
    'GET',
    '/api/prompts/customer-support/metrics/series?from=2026-01-01T00:00:00%2B99:99',
    undefined,
    400,
    /"field":"from"/,
  ],
  // A NUL character: JSON allows it, Postgres stores it in no text column (a rollback's reason went into jsonb: a 500).
  [
    'NUL in a rollback reason',
    'POST',
    '/api/rollback',
    { prompt: 'customer-support', target_version: 'v1.9.0', reason: 'bad \u0000 version' },
    400,
    /"field":"reason","message":"contains a NUL character/,
  ],
  [
    'NUL in a template',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 'hi \u0000' },
    400,
    /"field":"template"/,
  ],
  [
    'NUL in a metadata key',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 't', metadata: { 'k\u0000': 1 } },
    400,
    /the member name contains a NUL/,
  ],
  ['lone surrogate in a comment', 'POST', '/api/rollbacks/does-not-exist/approve', { comment: '\ud800' }, 400, /"field":"comment"/],
  [
    'lone surrogate in metadata',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 't', metadata: { labels: ['ok', 'bad \udc00'] } },
    400,
    /"field":"metadata\.labels\[1\]"/,
  ],
  [
    'lone surrogate in a metadata key',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 't', metadata: { 'k\ud800': 1 } },
    400,
    /metadata/,
  ],
  // Free-form JSON nested without end.
  [
    'metadata nested 40 deep',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 't', metadata: nested(40) },
    400,
    /"field":"metadata/,
  ],
  [
    'metadata nested 100,000 deep',
    'POST',
    '/api/prompts/customer-support/versions',
    `{"version":"v3","template":"t","metadata":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
    400,
    /"field":"metadata/,
    { raw: true },
  ],
  ['policy nested 40 deep', 'PUT', '/api/prompts/customer-support', { policy: { rules: nested(40) } }, 400, /policy/],
  // Cross-site mutations from a browser are refused; curl and scripts send no Origin.
  [
    'a rollback from a foreign Origin',
    'POST',
    '/api/rollback',
    { prompt: 'customer-support', target_version: 'v1.9.0' },
    403,
    /evil\.example/,
    { headers: { origin: 'https://evil.example' } },
  ],
  [
    'notify: a critical route with no channel (a critical page is never silenced)',
    'PUT',
    '/api/prompts/customer-support',
    { notify: { routes: { critical: [] } } },
    400,
    /notify\.routes\.critical/,
  ],
  [
    'notify: an unknown severity',
    'PUT',
    '/api/prompts/customer-support',
    { notify: { routes: { urgent: ['slack'] } } },
    400,
    /notify\.routes\.urgent/,
  ],
  [
    'notify: an unknown channel',
    'PUT',
    '/api/prompts/customer-support',
    { notify: { routes: { high: ['slack', 'email'] } } },
    400,
    /notify\.routes\.high\[1\].*email|email.*notify\.routes\.high\[1\]/,
  ],
  ['notify: routes not a map', 'PUT', '/api/prompts/customer-support', { notify: { routes: ['slack'] } }, 400, /notify\.routes/],
  ['notify: an unknown member', 'PUT', '/api/prompts/customer-support', { notify: { channels: ['slack'] } }, 400, /notify.*channels/],
  [
    'a rollback with Sec-Fetch-Site: cross-site',
    'POST',
    '/api/rollback',
    { prompt: 'customer-support', target_version: 'v1.9.0' },
    403,
    /cross-site/,
    { headers: { 'sec-fetch-site': 'cross-site' } },
  ],
  [
    'a version added from Origin null',
    'POST',
    '/api/prompts/customer-support/versions',
    { version: 'v3', template: 't' },
    403,
    /Origin/,
    { headers: { origin: 'null' } },
  ],
  [
    'a monitor stopped from a foreign Origin',
    'DELETE',
    '/api/monitors/customer-support',
    undefined,
    403,
    /Origin/,
    { headers: { origin: 'http://localhost:1' } },
  ],
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

  it('a prompt path parameter . or .. is 400 naming it, on every route that takes one', async () => {
    const before = await snapshot();
    const attempts: [string, string, string?][] = [
      ['PUT', '/api/prompts/..', '{"description":"x"}'],
      ['PUT', '/api/prompts/%2e%2e', '{"description":"x"}'],
      ['PUT', '/api/prompts/.', '{"description":"x"}'],
      ['GET', '/api/prompts/..'],
      ['POST', '/api/prompts/%2E/versions', '{"version":"v1","template":"t"}'],
      ['POST', '/api/prompts/../deploy', '{"version":"v1.9.0"}'],
      ['GET', '/api/prompts/../resolve?key=a'],
      ['GET', '/api/prompts/%2e%2e/metrics'],
      ['GET', '/api/monitors/..'],
      ['DELETE', '/api/monitors/%2e'],
    ];
    for (const [method, path, body] of attempts) {
      const r = await verbatim(method, path, body);
      expect({ method, path, status: r.status, type: r.type }).toEqual({
        method,
        path,
        status: 400,
        type: expect.stringContaining('problem+json'),
      });
      expect(r.body.errors).toEqual([{ field: 'prompt', message: expect.any(String) }]);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('the runbook curl (no Content-Type, no Origin) and a same-origin browser are not refused as cross-site', async () => {
    // Unknown version: the request reaches the use case (404), nothing starts, whatever the headers.
    const body = '{"prompt": "customer-support", "target_version": "v0.0.1"}';
    const url = new URL(stack.url);
    expect((await verbatim('POST', '/api/rollback', body)).status).toBe(404);
    expect((await verbatim('POST', '/api/rollback', body, { origin: url.origin, 'sec-fetch-site': 'same-origin' })).status).toBe(404);
    expect((await verbatim('POST', '/api/rollback', body, { origin: stack.config.publicUrl })).status).toBe(404);
    // Reads are never refused for their Origin.
    expect((await verbatim('GET', '/api/prompts', undefined, { origin: 'https://evil.example' })).status).toBe(200);
  });

  it('a metrics batch naming a prompt or version that does not exist is 404 naming all of them; nothing stored', async () => {
    const before = await snapshot();
    const events = [
      { prompt: 'customer-support', version: 'v2.0.0', ok: true, latency_ms: 120 },
      { prompt: 'customer-support', version: 'v9.9.9', ok: false, latency_ms: 120 },
      { prompt: 'ghost', version: 'v1', ok: true, latency_ms: 120 },
      { prompt: 'ghost', version: 'v1', ok: true, latency_ms: 120 },
    ];
    const r = await http(stack.url, 'POST', '/api/metrics', { events });
    expect(r.status).toBe(404);
    expect(r.type).toContain('application/problem+json');
    expect(r.body.detail).toMatch(/customer-support.*v9\.9\.9/);
    expect(r.body.detail).toMatch(/ghost/);
    expect(r.body.detail).toMatch(/nothing from this batch was stored/);
    expect(r.body.errors).toEqual([
      { field: 'events[1]', message: expect.stringMatching(/v9\.9\.9/) },
      { field: 'events[2]', message: expect.stringMatching(/ghost/) },
    ]);
    expect(await snapshot()).toEqual(before);
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

describe('metric batches arrive as bytes (decoded off the event loop) and are answered as any body', () => {
  const event = '{"prompt": "customer-support", "version": "v2.0.0", "ok": false, "latency_ms": 40}';

  it('malformed JSON, a lone surrogate and deep nesting are 400s naming what is wrong; nothing stored', async () => {
    const before = await snapshot();
    const malformed = await verbatim('POST', '/api/metrics', `{"events": [${event},`);
    expect(malformed).toMatchObject({ status: 400, type: expect.stringContaining('problem+json'), body: { title: 'Malformed JSON' } });
    expect(malformed.body.detail).toMatch(/not valid JSON/);
    const lone = await verbatim(
      'POST',
      '/api/metrics',
      '{"events": [{"prompt": "customer-support\\ud800", "version": "v2.0.0", "ok": true, "latency_ms": 1}]}',
    );
    expect(lone.status).toBe(400);
    expect(lone.body.errors).toEqual([{ field: 'events[0].prompt', message: expect.stringMatching(/surrogate/) }]);
    const deep = await verbatim('POST', '/api/metrics', JSON.stringify({ events: [nested(40)] }), { 'content-type': 'application/json' });
    expect(deep.status).toBe(400);
    expect(deep.body.detail).toMatch(/nested deeper/);
    // No body at all: the batch lacks its events.
    const empty = await verbatim('POST', '/api/metrics', '');
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual([{ field: 'events', message: expect.any(String) }]);
    expect(await snapshot()).toEqual(before);
  });

  it('a batch in UTF-8 with a BOM, or in UTF-16 (decoded by the JSON parser), is stored like any other', async () => {
    const read = async () => (await http(stack.url, 'GET', '/api/prompts/customer-support/metrics?version=v2.0.0&window_s=60')).body;
    const before = await read();
    const body = `{"events": [${event}]}`;
    const bom = await verbatim('POST', '/api/metrics', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]), {
      'content-type': 'application/json; charset=utf-8',
    });
    expect(bom).toMatchObject({ status: 202, body: { accepted: 1 } });
    // Of two charsets the last counts, on this route as on every other (the JSON parser refuses latin1).
    const twice = await verbatim('POST', '/api/metrics', body, { 'content-type': 'application/json; charset=utf-8; charset=latin1' });
    expect(twice.status).toBe(415);
    const utf16 = await verbatim('POST', '/api/metrics', Buffer.from(body, 'utf16le'), {
      'content-type': 'application/json; charset=utf-16le',
    });
    expect(utf16).toMatchObject({ status: 202, body: { accepted: 1 } });
    const after = await read();
    expect({ requests: after.requests - before.requests, errors: after.errors - before.errors }).toEqual({ requests: 2, errors: 2 });
  });
});

describe('notify: per-prompt routing override', () => {
  it('is stored with the prompt and shown by GET /api/prompts/{p}; null clears it', async () => {
    const put = await http(stack.url, 'PUT', '/api/prompts/triage-notify', {
      notify: { routes: { critical: ['pagerduty', 'slack'], medium: [] } },
    });
    expect(put.status).toBe(201);
    let got = await http(stack.url, 'GET', '/api/prompts/triage-notify');
    expect(got.body.notify).toEqual({ routes: { critical: ['pagerduty', 'slack'], medium: [] } });
    await http(stack.url, 'PUT', '/api/prompts/triage-notify', { notify: null });
    got = await http(stack.url, 'GET', '/api/prompts/triage-notify');
    expect(got.body.notify).toBeNull();
  });
});
