import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptbackClient } from '../../packages/client/src/index';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { http as call, seedCustomerSupport, startStack, waitFor, type Stack } from '../support/stack';

/** A watch connection read with plain fetch: the events and comments as they arrive. */
async function openWatch(base: string, prompt: string, headers: Record<string, string> = {}) {
  const ctl = new AbortController();
  const res = await fetch(`${base}/api/prompts/${prompt}/watch`, { headers, signal: ctl.signal });
  const events: { id: string; event: string; data: any; at: number }[] = [];
  const comments: string[] = [];
  let text = '';
  const reading =
    res.status === 200 && res.body
      ? (async () => {
          const decoder = new TextDecoder();
          try {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              text += decoder.decode(chunk, { stream: true });
              let end: number;
              while ((end = text.indexOf('\n\n')) >= 0) {
                const block = text.slice(0, end);
                text = text.slice(end + 2);
                const fields: Record<string, string> = Object.fromEntries(
                  block.split('\n').flatMap((l) => (l.startsWith(':') ? [] : [[l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]])),
                );
                for (const l of block.split('\n')) if (l.startsWith(':')) comments.push(l.slice(1).trim());
                if (fields.event)
                  events.push({ id: fields.id ?? '', event: fields.event, data: JSON.parse(fields.data ?? 'null'), at: Date.now() });
              }
            }
          } catch {
            /* aborted */
          }
        })()
      : Promise.resolve();
  return {
    res,
    events,
    comments,
    async close() {
      ctl.abort();
      await reading;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** waitFor over something already in memory. */
const until = <T>(what: string, probe: () => T | undefined, timeoutMs?: number) => waitFor(what, () => Promise.resolve(probe()), timeoutMs);

describe('GET /api/prompts/{prompt}/watch and the SDK', () => {
  let stack: Stack;
  let other: Adapters; // another connection to the same store, as the worker process or a replica commits

  beforeAll(async () => {
    stack = await startStack({ namespace: 'it-watch', env: { VERIFY_DURATION_S: '2' } });
    await seedCustomerSupport(stack.url); // v2.0.0 serves everything
    other = await openAdapters({ databaseUrl: stack.config.databaseUrl }, createLogger('silent'));
  });
  afterAll(async () => {
    await other?.db.close();
    await stack?.stop();
  });

  it('sends the current version, its traffic and templates at connect', async () => {
    const w = await openWatch(stack.url, 'customer-support');
    expect(w.res.status).toBe(200);
    expect(w.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await until('the first event', () => w.events[0]);
    await w.close();
    expect(w.events[0]).toMatchObject({
      event: 'version',
      id: expect.stringMatching(/^\d+-[0-9a-f]{16}$/),
      data: {
        prompt: 'customer-support',
        version: 'v2.0.0',
        traffic: [{ version: 'v2.0.0', percent: 100 }],
        templates: { 'v2.0.0': 'You are a very concise support agent.' },
      },
    });
  });

  it('answers 404 for an unknown prompt, before any stream starts', async () => {
    const r = await call(stack.url, 'GET', '/api/prompts/no-such-prompt/watch');
    expect(r.status).toBe(404);
    expect(r.type).toMatch(/problem\+json/);
  });

  it('a rollback through POST /api/rollback reaches every connected client within 500 ms of the switch', async () => {
    const clients = Array.from({ length: 20 }, () => new PromptbackClient({ url: stack.url }));
    try {
      for (const c of clients) expect((await c.get('customer-support', { key: 'user-1' })).version).toBe('v2.0.0');
      const served = new Map<PromptbackClient, number>();
      for (const c of clients)
        c.on('change', (e) => {
          if (e.version === 'v1.9.0' && !served.has(c)) served.set(c, Date.now());
        });

      const r = await call(stack.url, 'POST', '/api/rollback', {
        prompt: 'customer-support',
        target_version: 'v1.9.0',
        reason: 'watch test',
      });
      expect(r.status).toBe(202);
      // When the switch committed, as seen through /resolve polled every 10 ms.
      const switchedAt = await waitFor(
        'the switch',
        async () => {
          const x = await call(stack.url, 'GET', '/api/prompts/customer-support/resolve?key=user-1');
          return x.body.version === 'v1.9.0' ? Date.now() : (await sleep(10), undefined);
        },
        30_000,
      );
      await until('every client', () => (served.size === clients.length ? true : undefined), 5000);
      const lags = [...served.values()].map((t) => t - switchedAt);
      expect(Math.max(...lags)).toBeLessThan(500);
      for (const c of clients) {
        const a = await c.get('customer-support', { key: 'user-1' });
        expect(a).toEqual({ version: 'v1.9.0', template: 'You are a helpful support agent.' });
        expect(c.staleness('customer-support')).toMatchObject({ mode: 'stream', version: 'v1.9.0' });
        expect(c.staleness('customer-support')!.ms).toBeLessThan(1000);
      }
      await waitFor(
        'the rollback to finish',
        async () => {
          const s = await call(stack.url, 'GET', (r.body as { status_url: string }).status_url.replace(/^https?:\/\/[^/]+/, ''));
          return ['completed', 'escalated', 'failed'].includes(s.body.status) ? s.body.status : undefined;
        },
        60_000,
      );
    } finally {
      await Promise.all(clients.map((c) => c.close(100)));
    }
  });

  it('pushes a split committed by another process (the store probe), and clients pick the server’s version per key', async () => {
    const client = new PromptbackClient({ url: stack.url, prompts: ['customer-support'] });
    try {
      await client.watch('customer-support');
      const split = [
        { version: 'v1.9.0', percent: 50 },
        { version: 'v2.0.0', percent: 50 },
      ];
      await other.registry.setTraffic({
        prompt: 'customer-support',
        split,
        key: 'watch-split',
        actor: 'test',
        reason: 'split',
        action: 'traffic',
      });
      const committed = Date.now();
      await until('the split', () => (client.staleness('customer-support')!.traffic.length === 2 ? true : undefined), 2000);
      expect(Date.now() - committed).toBeLessThan(1000);
      for (let i = 0; i < 50; i++) {
        const key = `user-${i}`;
        const [mine, server] = [
          await client.get('customer-support', { key }),
          await call(stack.url, 'GET', `/api/prompts/customer-support/resolve?key=${key}`),
        ];
        expect(mine).toEqual(server.body);
      }
    } finally {
      await client.close(100);
    }
  });

  it('resumes with Last-Event-ID: nothing when the state is unchanged, the current state when it changed', async () => {
    const first = await openWatch(stack.url, 'customer-support');
    await until('the first event', () => first.events[0]);
    await first.close();
    const lastId = first.events[0]!.id;

    const same = await openWatch(stack.url, 'customer-support', { 'Last-Event-ID': lastId });
    await until('the resume acknowledgement', () => (same.comments.some((c) => c.startsWith('current')) ? true : undefined));
    await sleep(300);
    expect(same.events).toEqual([]);

    await other.registry.setTraffic({
      prompt: 'customer-support',
      split: [{ version: 'v1.9.0', percent: 100 }],
      key: 'watch-resume',
      actor: 'test',
      reason: 'resume',
      action: 'traffic',
    });
    await until('the change on the open stream', () => same.events[0], 2000);
    await same.close();

    const resumed = await openWatch(stack.url, 'customer-support', { 'Last-Event-ID': lastId });
    await until('the current state', () => resumed.events[0], 2000);
    await resumed.close();
    expect(resumed.events[0]!.data.traffic).toEqual([{ version: 'v1.9.0', percent: 100 }]);
    expect(resumed.events[0]!.id).toBe(same.events[0]!.id);
    const ms = (id: string) => Number(id.split('-')[0]);
    expect(ms(resumed.events[0]!.id)).toBeGreaterThan(ms(lastId));
  });

  it('falls back to polling when the stream endpoint is unreachable, and reports staleness when the API is too', async () => {
    // A real loopback proxy in front of the API that refuses the watch route (as a proxy without SSE support might).
    let apiDown = false;
    const target = new URL(stack.url);
    const proxy = http.createServer((req, res) => {
      if (apiDown || req.url?.endsWith('/watch')) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        return res.end('bad gateway');
      }
      const up = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const client = new PromptbackClient({
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      pollIntervalMs: 200,
      maxStalenessMs: 1000,
      reconnectMaxMs: 500,
    });
    const stale: number[] = [];
    client.on('stale', (e) => stale.push(e.ms));
    try {
      expect((await client.get('customer-support', { key: 'user-1' })).version).toBe('v1.9.0');
      expect(client.staleness('customer-support')).toMatchObject({ mode: 'polling', bound_ms: 200 + 5000 });

      await other.registry.setTraffic({
        prompt: 'customer-support',
        split: [{ version: 'v2.0.0', percent: 100 }],
        key: 'watch-poll',
        actor: 'test',
        reason: 'poll',
        action: 'traffic',
      });
      const committed = Date.now();
      await waitFor(
        'the poll to see the switch',
        async () => ((await client.get('customer-support', { key: 'user-1' })).version === 'v2.0.0' ? true : undefined),
        3000,
      );
      expect(Date.now() - committed).toBeLessThan(1500);
      expect((await client.get('customer-support', { key: 'user-1' })).template).toBe('You are a very concise support agent.');
      expect(client.staleness('customer-support')!.ms).toBeLessThan(1000);

      apiDown = true;
      await until('the stale event', () => stale[0], 5000);
      expect(client.staleness('customer-support')!.ms).toBeGreaterThan(1000);
      expect((await client.get('customer-support', { key: 'user-1' })).version).toBe('v2.0.0'); // still served from memory
    } finally {
      await client.close(100);
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('watch auth', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      namespace: 'it-watch',
      worker: false,
      env: { AUTH_TOKENS: 'vera:viewer:viewer-token,ingo:ingest:ingest-token,ada:admin:admin-token' },
    });
    const admin = { authorization: 'Bearer admin-token' };
    await call(stack.url, 'PUT', '/api/prompts/customer-support', {}, { headers: admin });
    await call(stack.url, 'POST', '/api/prompts/customer-support/versions', { version: 'v1', template: 't1' }, { headers: admin });
    await call(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v1' }, { headers: admin });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('needs a viewer token when tokens are configured', async () => {
    expect((await call(stack.url, 'GET', '/api/prompts/customer-support/watch')).status).toBe(401);
    expect(
      (await call(stack.url, 'GET', '/api/prompts/customer-support/watch', undefined, { headers: { authorization: 'Bearer wrong' } }))
        .status,
    ).toBe(401);
    expect(
      (
        await call(stack.url, 'GET', '/api/prompts/customer-support/watch', undefined, {
          headers: { authorization: 'Bearer ingest-token' },
        })
      ).status,
    ).toBe(403);

    const client = new PromptbackClient({ url: stack.url, token: 'viewer-token' });
    try {
      expect(await client.get('customer-support', { key: 'k' })).toEqual({ version: 'v1', template: 't1' });
      expect(client.staleness('customer-support')!.mode).toBe('stream');
    } finally {
      await client.close(100);
    }
  });
});
