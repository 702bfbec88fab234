/**
 * On Postgres too, the API writes metrics batches on a thread of its own (its own pool): aggregating and encoding a
 * batch never runs on the event loop that serves resolves and switch requests. What a user sees is unchanged:
 * concurrent batches are all stored, once, and read back at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import type { MetricsStore } from '../../src/ports/metrics';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';

const available = findPostgres() !== undefined || process.env.CI === 'true';

describe.runIf(available)('metrics ingest on Postgres', () => {
  let instance: PgInstance;
  let a: Adapters;

  beforeAll(async () => {
    instance = await startPostgres();
    a = await openAdapters({ databaseUrl: await instance.newDatabase() }, createLogger('silent'));
    await a.registry.upsertPrompt({ name: 'cs' }, 'test');
    await a.registry.addVersion({ prompt: 'cs', version: 'v1', template: 't' }, 'test');
  }, 60_000);
  afterAll(async () => {
    await a?.db.close();
    instance?.stop();
  });

  it('stores 20 concurrent batches of 100 through the ingest thread, each event once, and reads them back', async () => {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 5_000 + 337); // an unaligned instant
    const batch = (b: number) =>
      Array.from({ length: 100 }, (_, i) => ({ prompt: 'cs', version: 'v1', ok: (b * 100 + i) % 10 !== 0, latency_ms: 50 + i, at }));
    const stored = await Promise.all(Array.from({ length: 20 }, (_, b) => a.metrics.ingest(batch(b))));
    expect(stored.reduce((x, y) => x + y, 0)).toBe(2000);
    expect(a.metrics.constructor.name).toBe('ThreadedMetricsStore');
    const w = await a.metrics.window('cs', 'v1', new Date(at.getTime() - 1000), new Date(at.getTime() + 1000));
    expect({ requests: w.requests, errors: w.errors }).toEqual({ requests: 2000, errors: 200 });
  });

  it('decodes batches as they arrived in the thread by default on Postgres (METRICS_DECODE=auto)', async () => {
    const body = new TextEncoder().encode(JSON.stringify({ events: [{ prompt: 'cs', version: 'v1', ok: false, latency_ms: 5 }] }));
    expect(await (a.metrics as MetricsStore).ingestEncoded!(body, new Date())).toEqual({ accepted: 1, prompts_with_errors: ['cs'] });
  });

  it('closes twice without waiting on the thread', async () => {
    await a.db.close();
    await expect(Promise.race([a.db.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 3000))])).resolves.toBe(
      'closed',
    );
  });
});
