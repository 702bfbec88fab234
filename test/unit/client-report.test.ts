import { afterEach, describe, expect, it } from 'vitest';
import { PromptbackClient } from '../../packages/client/src/index';
import { startReceiver, type Receiver } from '../support/receiver';

let receiver: Receiver | undefined;
let client: PromptbackClient | undefined;
afterEach(async () => {
  await client?.close(100);
  await receiver?.close();
  client = receiver = undefined;
});

const event = (i: number) => ({ prompt: 'customer-support', version: 'v1.9.0', ok: i % 2 === 0, latency_ms: 100 + i, quality: 0.9 });
const base = (r: Receiver) => r.url.replace(/\/hook$/, '');

describe('client.report', () => {
  it('batches events to POST /api/metrics and retries a 500 until the API answers 202', async () => {
    let calls = 0;
    receiver = await startReceiver(() =>
      ++calls === 1 ? { status: 500, body: '{"title":"down"}' } : { status: 202, body: '{"accepted":1}' },
    );
    client = new PromptbackClient({
      url: base(receiver),
      token: 'ingest-token',
      metrics: { batchSize: 3, flushIntervalMs: 60_000, minBackoffMs: 20 },
    });
    for (let i = 0; i < 5; i++) client.report(event(i));
    const stats = await client.flush(5000);

    const posts = receiver.received.filter((r) => r.method === 'POST' && r.path === '/api/metrics');
    expect(posts.map((p) => p.json.events.length)).toEqual([3, 3, 2]); // the first batch twice: 500, then 202
    expect(posts[0]!.json).toEqual(posts[1]!.json);
    expect(posts[0]!.headers.authorization).toBe('Bearer ingest-token');
    const delivered = [...posts.slice(1)].flatMap((p) => p.json.events);
    expect(delivered.map((e: { latency_ms: number }) => e.latency_ms)).toEqual([100, 101, 102, 103, 104]);
    expect(delivered.every((e: { at?: string }) => typeof e.at === 'string')).toBe(true);
    expect(stats).toMatchObject({ queued: 0, sent: 5, dropped: 0, rejected: 0, retries: 1 });
  });

  it('holds at most maxQueue events while the API is down: the oldest are dropped and counted', async () => {
    receiver = await startReceiver(() => ({ status: 503, body: '' }));
    client = new PromptbackClient({
      url: base(receiver),
      metrics: { batchSize: 2, maxQueue: 4, flushIntervalMs: 60_000, minBackoffMs: 50, maxBackoffMs: 50 },
    });
    for (let i = 0; i < 10; i++) client.report(event(i));
    const stats = client.metricsStats();
    expect(stats.queued).toBeLessThanOrEqual(4 + 2); // the queue plus one batch in flight
    expect(stats.dropped + stats.queued).toBe(10);
    expect(stats.dropped).toBeGreaterThanOrEqual(4);
    receiver.answer = () => ({ status: 202, body: '{}' });
    const after = await client.flush(5000);
    const sent = receiver.received
      .filter((r) => r.method === 'POST')
      .slice(-3)
      .flatMap((p) => p.json.events.map((e: { latency_ms: number }) => e.latency_ms));
    expect(after).toMatchObject({ queued: 0, sent: 10 - after.dropped });
    expect(sent.slice(-2)).toEqual([108, 109]); // the newest survive
  });

  it('drops the events a 400 names and sends the rest of the batch', async () => {
    receiver = await startReceiver((r) => {
      const bad = (r.json?.events ?? []).flatMap((e: { latency_ms: number }, i: number) =>
        e.latency_ms < 0 ? [{ field: `events[${i}].latency_ms`, message: 'must be ≥ 0' }] : [],
      );
      return bad.length > 0 ? { status: 400, body: JSON.stringify({ status: 400, errors: bad }) } : { status: 202, body: '{}' };
    });
    client = new PromptbackClient({ url: base(receiver), metrics: { batchSize: 10, flushIntervalMs: 60_000 } });
    client.report(event(0));
    client.report({ ...event(1), latency_ms: -1 });
    client.report(event(2));
    const stats = await client.flush(5000);
    expect(stats).toMatchObject({ sent: 2, rejected: 1, queued: 0 });
    expect(receiver.received.at(-1)!.json.events.map((e: { latency_ms: number }) => e.latency_ms)).toEqual([100, 102]);
  });
});
