import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi';
import { ApiError, ConnectionError, createApiClient } from '../../src/client';
import { freePort } from '../support/ports';
import { Conformance, documentedRoutes, mountedRoutes, type OpenApiDoc } from '../support/openapi';
import { http, startStack, waitFor, type Reply, type Stack } from '../support/stack';

/**
 * The OpenAPI document against the running API: every route the Express app mounts is in it, and every answer
 * below — happy paths and the main refusals — is one it describes (status, media type, body by its JSON Schema).
 * Auth is on, so the 401/403 answers are real too.
 */
const TOKENS = { viewer: 'tv', operator: 'to', admin: 'ta', ingest: 'ti' } as const;
type Who = keyof typeof TOKENS | 'nobody' | 'bogus';
const SLACK_SECRET = 'openapi-test-signing-secret';

let stack: Stack;
/**
 * An API whose engine is unreachable. Stopped with the file, not right after its test: the Temporal client may still
 * retry a refused call for a few seconds, and closing its connection under a pending retry throws in a timer.
 */
let down: Stack | undefined;
let doc: OpenApiDoc;
let api: Conformance;

beforeAll(async () => {
  stack = await startStack({
    namespace: 'it-openapi',
    env: {
      AUTH_TOKENS: `vera:viewer:${TOKENS.viewer},olga:operator:${TOKENS.operator},ada:admin:${TOKENS.admin},ingo:ingest:${TOKENS.ingest}`,
      SLACK_SIGNING_SECRET: SLACK_SECRET,
    },
  });
  const r = await http(stack.url, 'GET', '/openapi.json');
  expect(r.status).toBe(200);
  doc = r.body as OpenApiDoc;
  api = new Conformance(doc);
  api.check('GET', '/openapi.json', r);
});
afterAll(async () => {
  await down?.stop();
  await stack?.stop();
});

/**
 * One live request, checked against the document. `route` is the documented path (`/api/prompts/{prompt}`), `url`
 * the concrete one when it has parameters or a query.
 */
async function call(
  method: string,
  route: string,
  opts: { as?: Who; url?: string; body?: unknown; raw?: boolean; headers?: Record<string, string>; base?: string } = {},
): Promise<Reply> {
  const as = opts.as ?? 'admin';
  const auth: Record<string, string> = as === 'nobody' ? {} : { authorization: `Bearer ${as === 'bogus' ? 'not-a-token' : TOKENS[as]}` };
  const r = await http(opts.base ?? stack.url, method, opts.url ?? route, opts.body, {
    ...(opts.raw ? { raw: true } : {}),
    headers: { ...auth, ...opts.headers },
  });
  api.check(method, route, r);
  return r;
}

const expectProblem = (r: Reply, status: number): void => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.type).toContain('application/problem+json');
};

async function seed(prompt: string, versions: string[], deploy: string | undefined): Promise<void> {
  const put = await call('PUT', '/api/prompts/{prompt}', { url: `/api/prompts/${prompt}`, body: { description: `${prompt} assistant` } });
  expect(put.status).toBe(201);
  for (const version of versions) {
    const v = await call('POST', '/api/prompts/{prompt}/versions', {
      url: `/api/prompts/${prompt}/versions`,
      body: { version, template: `You are ${prompt} ${version}.` },
    });
    expect(v.status).toBe(201);
  }
  if (deploy) {
    const d = await call('POST', '/api/prompts/{prompt}/deploy', {
      as: 'operator',
      url: `/api/prompts/${prompt}/deploy`,
      body: { version: deploy },
    });
    expect(d.status).toBe(202);
  }
}

async function traffic(prompt: string, version: string, n: number, errorRate: number): Promise<void> {
  const errors = Math.round(n * errorRate);
  const events = Array.from({ length: n }, (_, i) => ({ prompt, version, ok: i >= errors, latency_ms: 100 + (i % 50) }));
  const r = await call('POST', '/api/metrics', { as: 'ingest', body: { events } });
  expect(r.status).toBe(202);
}

async function pendingApproval(prompt: string): Promise<{ rollback_id: string }> {
  return waitFor(`a pending approval for ${prompt}`, async () => {
    const r = await call('GET', '/api/approvals', { as: 'viewer' });
    return (r.body.approvals as { prompt: string; rollback_id: string }[]).find((a) => a.prompt === prompt);
  });
}

describe('the OpenAPI document', () => {
  it('describes every route the app mounts, and nothing it does not', () => {
    const mounted = mountedRoutes(stack.api.app);
    const documented = documentedRoutes(doc);
    expect(
      mounted.filter((r) => !documented.includes(r)),
      'mounted but missing from the OpenAPI document',
    ).toEqual([]);
    expect(
      documented.filter((r) => !mounted.includes(r)),
      'documented but not mounted',
    ).toEqual([]);
  });

  it('is served as generated from the zod schemas, and as committed in docs/openapi.json', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(doc).toEqual(JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../docs/openapi.json'), 'utf8')));
  });

  it('GET /docs is Swagger UI with its assets served by promptback itself (no CDN)', async () => {
    const page = await call('GET', '/docs');
    expect(page.status).toBe(200);
    const html = String(page.body);
    expect(html).toContain('/openapi.json');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const a of assets) {
      expect(a.startsWith('/'), `${a} is served locally`).toBe(true);
      const r = await fetch(`${stack.url}${a}`);
      expect(r.status, a).toBe(200);
      await r.arrayBuffer();
    }
    const js = await fetch(`${stack.url}/docs/assets/swagger-ui-bundle.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(100_000);
  });
});

describe('GET /docs in a real browser', () => {
  it('shows every documented operation, loading nothing from outside promptback', async () => {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
    try {
      const page = await browser.newPage();
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(stack.url)) foreign.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${stack.url}/docs`);
      const operations = documentedRoutes(doc).length;
      await page.waitForFunction(`document.querySelectorAll('.opblock').length === ${operations}`, undefined, { timeout: 30_000 });
      const shown = await page.$$eval('.opblock', (blocks) =>
        blocks.map((b) => {
          const method = b.querySelector('.opblock-summary-method')?.textContent ?? '';
          const p = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
          return `${method.toUpperCase()} ${p}`;
        }),
      );
      expect(shown.sort()).toEqual(documentedRoutes(doc));
      expect(await page.locator('.info .title').textContent()).toContain('promptback');
      expect(await page.locator('.btn.authorize').isVisible()).toBe(true);
      const shots = path.resolve(__dirname, '../../.data/screenshots');
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, 'docs.png'), fullPage: true });
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe('with the workflow engine down', () => {
  it('readiness, the 503 answers, and a deploy whose monitor is pending are as documented', async () => {
    down = await startStack({ namespace: 'it-openapi', worker: false, env: { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` } });
    const base = down.url;
    const ready = await call('GET', '/readyz', { base, as: 'nobody' });
    expect(ready.status).toBe(503);
    expect(ready.body.checks.temporal).toMatch(/^down: /);
    await call('PUT', '/api/prompts/{prompt}', { base, url: '/api/prompts/offline-bot', body: {} });
    await call('POST', '/api/prompts/{prompt}/versions', {
      base,
      url: '/api/prompts/offline-bot/versions',
      body: { version: 'v1', template: 't' },
    });
    await call('POST', '/api/prompts/{prompt}/versions', {
      base,
      url: '/api/prompts/offline-bot/versions',
      body: { version: 'v2', template: 't' },
    });
    const deployed = await call('POST', '/api/prompts/{prompt}/deploy', {
      base,
      url: '/api/prompts/offline-bot/deploy',
      body: { version: 'v1' },
    });
    expect(deployed.status).toBe(202);
    expect(deployed.body.monitor).toMatchObject({ status: 'pending', error: expect.any(String) });
    await call('POST', '/api/prompts/{prompt}/deploy', { base, url: '/api/prompts/offline-bot/deploy', body: { version: 'v2' } });
    expectProblem(await call('POST', '/api/monitors', { base, body: { prompt: 'offline-bot' } }), 503);
    expectProblem(await call('DELETE', '/api/monitors/{prompt}', { base, url: '/api/monitors/offline-bot' }), 503);
    expectProblem(await call('POST', '/api/rollback', { base, body: { prompt: 'offline-bot', target_version: 'v1' } }), 503);
  }, 60_000);
});

describe('live answers match the document', () => {
  it('health, readiness and /metrics', async () => {
    expect((await call('GET', '/healthz', { as: 'nobody' })).body).toEqual({ status: 'ok' });
    expect((await call('GET', '/readyz', { as: 'nobody' })).status).toBe(200);
    expect((await call('GET', '/metrics', { as: 'viewer' })).status).toBe(200);
    expectProblem(await call('GET', '/metrics', { as: 'nobody' }), 401);
    expectProblem(await call('GET', '/metrics', { as: 'ingest' }), 403);
  });

  it('prompts, versions, deploys and resolve', async () => {
    await seed('customer-support', ['v1.9.0', 'v2.0.0'], 'v1.9.0');
    const deployed = await call('POST', '/api/prompts/{prompt}/deploy', {
      as: 'operator',
      url: '/api/prompts/customer-support/deploy',
      body: { version: 'v2.0.0' },
    });
    expect(deployed.status).toBe(202);
    expect(deployed.body).toMatchObject({ status: 'completed', monitor: { status: 'running' } });

    const updated = await call('PUT', '/api/prompts/{prompt}', {
      url: '/api/prompts/customer-support',
      body: { owner: 'support-team', policy: { reject_cooldown_s: 0 }, notify: { routes: { medium: [] } } },
    });
    expect(updated.status).toBe(200);
    expectProblem(await call('PUT', '/api/prompts/{prompt}', { url: '/api/prompts/customer-support', body: { owner: 7 } }), 400);
    expectProblem(await call('PUT', '/api/prompts/{prompt}', { url: '/api/prompts/x', as: 'operator', body: {} }), 403);
    expectProblem(await call('PUT', '/api/prompts/{prompt}', { url: '/api/prompts/x', as: 'bogus', body: {} }), 401);

    expectProblem(
      await call('PUT', '/api/prompts/{prompt}', {
        url: '/api/prompts/customer-support',
        body: { description: 'x' },
        headers: { 'sec-fetch-site': 'cross-site' },
      }),
      403,
    );
    expectProblem(
      await call('PUT', '/api/prompts/{prompt}', { url: '/api/prompts/customer-support', body: { description: 'x'.repeat(1_100_000) } }),
      413,
    );
    expectProblem(await call('PUT', '/api/prompts/{prompt}', { url: '/api/prompts/customer-support', body: '{"owner":', raw: true }), 400);

    expect((await call('GET', '/api/prompts', { as: 'viewer' })).body.prompts).toHaveLength(1);
    const p = await call('GET', '/api/prompts/{prompt}', { as: 'viewer', url: '/api/prompts/customer-support' });
    expect(p.body).toMatchObject({ active_version: 'v2.0.0', traffic: [{ version: 'v2.0.0', percent: 100 }] });
    expectProblem(await call('GET', '/api/prompts/{prompt}', { as: 'viewer', url: '/api/prompts/nope' }), 404);
    expectProblem(await call('GET', '/api/prompts/{prompt}', { as: 'viewer', url: '/api/prompts/bad%20name' }), 400);

    expectProblem(
      await call('POST', '/api/prompts/{prompt}/versions', {
        url: '/api/prompts/customer-support/versions',
        body: { version: 'v2.0.0', template: 'again' },
      }),
      409,
    );
    expectProblem(
      await call('POST', '/api/prompts/{prompt}/versions', { url: '/api/prompts/customer-support/versions', body: { version: 'v 3' } }),
      400,
    );
    expectProblem(
      await call('POST', '/api/prompts/{prompt}/versions', { url: '/api/prompts/nope/versions', body: { version: 'v1', template: 't' } }),
      404,
    );
    expectProblem(
      await call('POST', '/api/prompts/{prompt}/deploy', {
        as: 'operator',
        url: '/api/prompts/customer-support/deploy',
        body: { version: 'v9' },
      }),
      404,
    );
    expectProblem(
      await call('POST', '/api/prompts/{prompt}/deploy', {
        as: 'operator',
        url: '/api/prompts/customer-support/deploy',
        body: { version: 'v2.0.0', strategy: 'sideways' },
      }),
      400,
    );

    const dep = await call('GET', '/api/deployments/{id}', { as: 'viewer', url: `/api/deployments/${deployed.body.deployment_id}` });
    expect(dep.body).toMatchObject({ version: 'v2.0.0', strategy: 'immediate' });
    expectProblem(await call('GET', '/api/deployments/{id}', { as: 'viewer', url: '/api/deployments/dep-none' }), 404);
    expectProblem(
      await call('POST', '/api/deployments/{id}/abort', { as: 'operator', url: `/api/deployments/${deployed.body.deployment_id}/abort` }),
      409,
    );

    const resolved = await call('GET', '/api/prompts/{prompt}/resolve', {
      as: 'viewer',
      url: '/api/prompts/customer-support/resolve?key=user-1',
    });
    expect(resolved.body).toEqual({ version: 'v2.0.0', template: 'You are customer-support v2.0.0.' });
    expectProblem(await call('GET', '/api/prompts/{prompt}/resolve', { as: 'viewer', url: '/api/prompts/customer-support/resolve' }), 400);
    expectProblem(await call('GET', '/api/prompts/{prompt}/resolve', { as: 'viewer', url: '/api/prompts/nope/resolve?key=k' }), 404);
  });

  it('a canary deployment, aborted', async () => {
    await seed('canary-bot', ['v1', 'v2'], 'v1');
    const started = await call('POST', '/api/prompts/{prompt}/deploy', {
      as: 'operator',
      url: '/api/prompts/canary-bot/deploy',
      body: { version: 'v2', strategy: 'canary' },
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ strategy: 'canary', status: 'rolling_out' });
    const aborted = await call('POST', '/api/deployments/{id}/abort', {
      as: 'operator',
      url: `/api/deployments/${started.body.deployment_id}/abort`,
      body: {},
    });
    expect(aborted.status).toBe(200);
    expect(aborted.body.status).toBe('aborted');
  });

  it('metric events and the metrics summary', async () => {
    await traffic('customer-support', 'v2.0.0', 20, 0);
    expectProblem(await call('POST', '/api/metrics', { as: 'ingest', body: { events: [{ prompt: 'customer-support' }] } }), 400);
    expectProblem(
      await call('POST', '/api/metrics', {
        as: 'ingest',
        body: { events: [{ prompt: 'nope', version: 'v1', ok: true, latency_ms: 1 }] },
      }),
      404,
    );
    expectProblem(await call('POST', '/api/metrics', { as: 'viewer', body: { events: [] } }), 403);
    const m = await call('GET', '/api/prompts/{prompt}/metrics', {
      as: 'viewer',
      url: '/api/prompts/customer-support/metrics?window_s=60',
    });
    expect(m.body).toMatchObject({ prompt: 'customer-support', version: 'v2.0.0', requests: 20, provider: 'builtin' });
    expectProblem(
      await call('GET', '/api/prompts/{prompt}/metrics', { as: 'viewer', url: '/api/prompts/customer-support/metrics?window_s=0' }),
      400,
    );
    expectProblem(await call('GET', '/api/prompts/{prompt}/metrics', { as: 'viewer', url: '/api/prompts/nope/metrics' }), 404);
  });

  it('monitors', async () => {
    await seed('idle-bot', ['v1'], undefined);
    const started = await call('POST', '/api/monitors', { as: 'operator', body: { prompt: 'idle-bot', interval_s: 60 } });
    expect(started.status).toBe(201);
    const again = await call('POST', '/api/monitors', { as: 'operator', body: { prompt: 'idle-bot' } });
    expect(again.status).toBe(200);
    expect(again.body.workflow_id).toBe(started.body.workflow_id);
    expectProblem(await call('POST', '/api/monitors', { as: 'operator', body: { prompt: 'nope' } }), 404);
    expectProblem(await call('POST', '/api/monitors', { as: 'operator', body: { interval_s: 'soon' } }), 400);
    expect((await call('GET', '/api/monitors', { as: 'viewer' })).body.monitors.length).toBeGreaterThanOrEqual(2);
    await waitFor('a monitor check', async () => {
      const m = await call('GET', '/api/monitors/{prompt}', { as: 'viewer', url: '/api/monitors/customer-support' });
      return m.body.last_verdict ? m : undefined;
    });
    expectProblem(await call('GET', '/api/monitors/{prompt}', { as: 'viewer', url: '/api/monitors/nope' }), 404);
    expect((await call('DELETE', '/api/monitors/{prompt}', { as: 'operator', url: '/api/monitors/idle-bot' })).status).toBe(202);
    expectProblem(await call('DELETE', '/api/monitors/{prompt}', { as: 'operator', url: '/api/monitors/nope' }), 404);
  });

  it('an incident: approvals, approve, refused decisions, the rollback, its post-mortem', async () => {
    await traffic('customer-support', 'v2.0.0', 200, 0.03);
    const pending = await pendingApproval('customer-support');
    const id = pending.rollback_id;
    const url = `/api/rollbacks/${id}`;

    const running = await call('GET', '/api/rollbacks/{id}', { as: 'viewer', url });
    expect(running.body.status).toBe('awaiting_approval');
    expectProblem(await call('GET', '/api/rollbacks/{id}/postmortem', { as: 'viewer', url: `${url}/postmortem` }), 409);
    expectProblem(await call('POST', '/api/rollbacks/{id}/pause', { as: 'operator', url: `${url}/pause`, body: {} }), 409);
    expectProblem(await call('POST', '/api/rollbacks/{id}/approve', { as: 'viewer', url: `${url}/approve`, body: {} }), 403);
    expectProblem(await call('POST', '/api/rollbacks/{id}/approve', { as: 'operator', url: `${url}/approve`, body: { comment: 7 } }), 400);

    const approved = await call('POST', '/api/rollbacks/{id}/approve', { as: 'operator', url: `${url}/approve`, body: { comment: 'go' } });
    expect(approved.status).toBe(200);
    expect(approved.body.decision).toMatchObject({ kind: 'approve', by: 'olga', via: 'api' });
    expectProblem(await call('POST', '/api/rollbacks/{id}/reject', { as: 'operator', url: `${url}/reject`, body: {} }), 409);
    expectProblem(await call('POST', '/api/rollbacks/{id}/approve', { as: 'operator', url: '/api/rollbacks/none/approve' }), 404);

    // Verification takes 10 s here; the good version's traffic lets it recover.
    const done = await waitFor(
      'the rollback to finish',
      async () => {
        await traffic('customer-support', 'v1.9.0', 20, 0);
        const r = await call('GET', '/api/rollbacks/{id}', { as: 'viewer', url });
        return r.body.post_mortem ? r : undefined;
      },
      45_000,
    );
    expect(done.body).toMatchObject({ status: 'completed', to_version: 'v1.9.0' });
    const pm = await call('GET', '/api/rollbacks/{id}/postmortem', { as: 'viewer', url: `${url}/postmortem` });
    expect(pm.status).toBe(200);
    expect(String(pm.body)).toContain(id);
    expectProblem(await call('GET', '/api/rollbacks/{id}', { as: 'viewer', url: '/api/rollbacks/none' }), 404);

    const list = await call('GET', '/api/rollbacks', { as: 'viewer', url: '/api/rollbacks?prompt=customer-support&limit=5' });
    expect(list.body.rollbacks[0].rollback_id).toBe(id);
    expectProblem(await call('GET', '/api/rollbacks', { as: 'viewer', url: '/api/rollbacks?status=sideways' }), 400);
  }, 90_000);

  it('an incident rejected, and a Slack button on a decided one', async () => {
    await seed('search-bot', ['v1', 'v2'], 'v1');
    expect(
      (
        await call('POST', '/api/prompts/{prompt}/deploy', {
          as: 'operator',
          url: '/api/prompts/search-bot/deploy',
          body: { version: 'v2' },
        })
      ).status,
    ).toBe(202);
    await traffic('search-bot', 'v2', 200, 0.03);
    const { rollback_id } = await pendingApproval('search-bot');
    const rejected = await call('POST', '/api/rollbacks/{id}/reject', {
      as: 'operator',
      url: `/api/rollbacks/${rollback_id}/reject`,
      body: { comment: 'investigating' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe('rejected');

    const body = `payload=${encodeURIComponent(
      JSON.stringify({ type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'approve', value: rollback_id }] }),
    )}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts };
    const slack = await call('POST', '/api/integrations/slack/actions', {
      as: 'nobody',
      raw: true,
      body,
      headers: { ...headers, 'x-slack-signature': signature },
    });
    expect(slack.status).toBe(200);
    expect(slack.body.text).toMatch(/^Not applied: already rejected by olga/);
    expectProblem(
      await call('POST', '/api/integrations/slack/actions', {
        as: 'nobody',
        raw: true,
        body,
        headers: { ...headers, 'x-slack-signature': 'v0=00' },
      }),
      401,
    );
    const garbage = 'payload=not-json';
    const garbageSig = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${garbage}`).digest('hex')}`;
    expectProblem(
      await call('POST', '/api/integrations/slack/actions', {
        as: 'nobody',
        raw: true,
        body: garbage,
        headers: { ...headers, 'x-slack-signature': garbageSig },
      }),
      400,
    );
  }, 60_000);

  it("an operator's gradual rollback: refused while in flight, paused, resumed, aborted", async () => {
    await seed('faq-bot', ['v1', 'v2'], 'v1');
    expect(
      (await call('POST', '/api/prompts/{prompt}/deploy', { as: 'operator', url: '/api/prompts/faq-bot/deploy', body: { version: 'v2' } }))
        .status,
    ).toBe(202);
    const started = await call('POST', '/api/rollback', {
      as: 'operator',
      body: { prompt: 'faq-bot', target_version: 'v1', mode: 'gradual', reason: 'checking the docs' },
    });
    expect(started.status).toBe(202);
    const url = `/api/rollbacks/${started.body.rollback_id}`;
    expectProblem(await call('POST', '/api/rollback', { as: 'operator', body: { prompt: 'faq-bot', target_version: 'v1' } }), 409);
    expectProblem(await call('POST', '/api/rollback', { as: 'operator', body: { prompt: 'nope' } }), 404);
    expectProblem(await call('POST', '/api/rollback', { as: 'operator', body: { prompt: 'faq-bot', mode: 'sideways' } }), 400);
    expectProblem(await call('POST', '/api/rollback', { as: 'viewer', body: { prompt: 'faq-bot' } }), 403);

    await waitFor('the first stage', async () => {
      const r = await call('GET', '/api/rollbacks/{id}', { as: 'viewer', url });
      return r.body.gradual ? r : undefined;
    });
    const paused = await call('POST', '/api/rollbacks/{id}/pause', { as: 'operator', url: `${url}/pause`, body: {} });
    expect(paused.status).toBe(200);
    expect(paused.body.gradual.paused).toBe(true);
    const resumed = await call('POST', '/api/rollbacks/{id}/resume', { as: 'operator', url: `${url}/resume`, body: {} });
    expect(resumed.status).toBe(200);
    expect(resumed.body.gradual.paused).toBe(false);
    const aborted = await call('POST', '/api/rollbacks/{id}/abort', { as: 'operator', url: `${url}/abort`, body: {} });
    expect(aborted.status).toBe(200);
    expectProblem(await call('POST', '/api/rollbacks/{id}/resume', { as: 'operator', url: `${url}/resume`, body: {} }), 409);
  }, 60_000);

  it('the watch stream: a `version` event whose data is a WatchState', async () => {
    const res = await fetch(`${stack.url}/api/prompts/customer-support/watch`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    api.check('GET', '/api/prompts/{prompt}/watch', { status: res.status, type: res.headers.get('content-type') ?? '', body: '' });
    const reader = res.body!.getReader();
    let text = '';
    while (!/\n\n/.test(text.replace(/^:[^\n]*\n\n?/gm, ''))) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const event = text.split('\n\n').find((block) => /^event: version$/m.test(block))!;
    expect(event).toBeDefined();
    const data = JSON.parse(/^data: (.*)$/m.exec(event)![1]!);
    const state = new Conformance({
      ...doc,
      paths: {
        '/state': {
          get: { responses: { 200: { content: { 'application/json': { schema: { $ref: '#/components/schemas/WatchState' } } } } } },
        },
      },
    });
    state.check('GET', '/state', { status: 200, type: 'application/json', body: data });
    expect(data).toMatchObject({ prompt: 'customer-support', version: 'v1.9.0' });

    const unknown = await http(stack.url, 'GET', '/api/prompts/nope/watch', undefined, {
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    api.check('GET', '/api/prompts/{prompt}/watch', unknown);
    expectProblem(unknown, 404);
  });

  it('the dashboard: its page, its change events and the metrics series it charts', async () => {
    const page = await call('GET', '/', { as: 'nobody', raw: true });
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');

    const res = await fetch(`${stack.url}/api/events`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    api.check('GET', '/api/events', { status: res.status, type: res.headers.get('content-type') ?? '', body: '' });
    const reader = res.body!.getReader();
    let text = '';
    while (!/^event: ready$/m.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    expect(text).toMatch(/^event: ready$/m);

    const series = await call('GET', '/api/prompts/{prompt}/metrics/series', {
      as: 'viewer',
      url: `/api/prompts/customer-support/metrics/series?from=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}&step_s=60`,
    });
    expect(series.status).toBe(200);
    expect(series.body).toMatchObject({ prompt: 'customer-support', step_s: 60 });
    expectProblem(
      await call('GET', '/api/prompts/{prompt}/metrics/series', {
        as: 'viewer',
        url: '/api/prompts/customer-support/metrics/series?step_s=0',
      }),
      400,
    );
    expectProblem(
      await call('GET', '/api/prompts/{prompt}/metrics/series', { as: 'viewer', url: '/api/prompts/nope/metrics/series' }),
      404,
    );
  });

  it('every documented operation was answered with success at least once above', () => {
    const succeeded = new Set([...api.seen].filter((s) => /\s2\d\d$/.test(s)).map((s) => s.replace(/\s\d+$/, '')));
    expect(documentedRoutes(doc).filter((r) => !succeeded.has(r))).toEqual([]);
  });
});

describe('the typed client generated from the document (src/client)', () => {
  it('answers typed bodies, and turns problem+json into ApiError with status, title and detail', async () => {
    const viewer = createApiClient({ url: stack.url, token: TOKENS.viewer });
    const prompt = await viewer.getPrompt('customer-support');
    expect(prompt.traffic.map((t) => t.version)).toContain(prompt.active_version);
    const [latest] = await viewer.listRollbacks({ prompt: 'customer-support', limit: 1 });
    expect((await viewer.getRollback(latest!.rollback_id)).deliveries.length).toBeGreaterThan(0);

    const unknown = await viewer.getPrompt('nope').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ApiError);
    expect(unknown).toMatchObject({ status: 404, title: 'Unknown prompt', detail: expect.stringContaining('no prompt named nope') });

    const forbidden = await viewer.startRollback({ prompt: 'customer-support' }).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403, title: 'Forbidden' });

    const admin = createApiClient({ url: stack.url, token: TOKENS.admin });
    const bad = await admin.addVersion('customer-support', { version: 'v 1', template: 't' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiError);
    expect((bad as ApiError).errors).toEqual([{ field: 'version', message: expect.any(String) }]);
    expect((await admin.putPrompt('client-bot', { description: 'made by the typed client' })).created).toBe(true);
    expect((await admin.putPrompt('client-bot', { owner: 'sdk' })).created).toBe(false);
  });

  it('says when the API cannot be reached at all', async () => {
    const nowhere = createApiClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    await expect(nowhere.listPrompts()).rejects.toBeInstanceOf(ConnectionError);
  });
});
