/**
 * A metrics batch handed to the ingest thread as the bytes that arrived: the thread parses, validates, checks it
 * against the registry and writes it, with the answers the API gives for a batch decoded on its own event loop.
 * On SQLite files and on Postgres, through the adapters the API runs on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadedMetricsStore } from '../../src/adapters/metrics/ingest-thread';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { openDb } from '../../src/adapters/sql/db';
import { INGEST_DECODER_MODULE } from '../../src/main/ingest-decoder';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { BatchRefused, type MetricsStore } from '../../src/ports/metrics';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';

const bytes = (body: unknown): Uint8Array => new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));

function encodedIngestContract(name: string, open: () => Promise<{ url: string; stop(): void }>) {
  describe(`encoded metric batches through the ingest thread (${name})`, () => {
    let a: Adapters;
    let stop: () => void = () => undefined;
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 10_000 + 421);
    const read = (version = 'v1') => a.metrics.window('cs', version, new Date(at.getTime() - 60_000), new Date(at.getTime() + 60_000));
    const encoded = (body: Uint8Array) => (a.metrics as MetricsStore).ingestEncoded!(body, at);
    const refusal = async (body: Uint8Array) => {
      const e = await encoded(body).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(BatchRefused);
      return (e as BatchRefused).problem;
    };

    beforeAll(async () => {
      const db = await open();
      stop = () => db.stop();
      a = await openAdapters({ databaseUrl: db.url, metricsDecode: 'thread' }, createLogger('silent'));
      await a.registry.upsertPrompt({ name: 'cs' }, 'test');
      await a.registry.addVersion({ prompt: 'cs', version: 'v1', template: 't' }, 'test');
    }, 60_000);
    afterAll(async () => {
      await a?.db.close();
      stop();
    });

    it('stores a valid batch once (events without `at` at the time received), naming the prompts it reports errors for', async () => {
      const events = Array.from({ length: 50 }, (_, i) => ({ prompt: 'cs', version: 'v1', ok: i % 5 !== 0, latency_ms: 20 + i }));
      const r = await encoded(bytes({ events }));
      expect(r).toEqual({ accepted: 50, prompts_with_errors: ['cs'] });
      expect(a.metrics.constructor.name).toBe('ThreadedMetricsStore');
      const w = await read();
      expect({ requests: w.requests, errors: w.errors }).toEqual({ requests: 50, errors: 10 });
    });

    it('refuses what the API refuses, with its answers, and stores nothing of a refused batch', async () => {
      const before = await read();
      expect(await refusal(bytes('{"events": ['))).toMatchObject({ status: 400, title: 'Malformed JSON' });
      const invalid = await refusal(
        bytes({
          events: [
            { prompt: 'cs', version: 'v1', ok: true, latency_ms: 1 },
            { prompt: 'cs', version: 'v1', ok: 'yes', latency_ms: 1 },
          ],
        }),
      );
      expect(invalid).toMatchObject({ status: 400, title: 'Invalid metric events', extra: { errors: [{ field: 'events[1].ok' }] } });
      expect(await refusal(bytes({ events: [] }))).toMatchObject({ status: 400, extra: { errors: [{ field: 'events' }] } });
      const unknown = await refusal(
        bytes({
          events: [
            { prompt: 'cs', version: 'v1', ok: true, latency_ms: 1 },
            { prompt: 'cs', version: 'v9', ok: true, latency_ms: 1 },
            { prompt: 'ghost', version: 'v1', ok: true, latency_ms: 1 },
          ],
        }),
      );
      expect(unknown).toMatchObject({ status: 404, extra: { errors: [{ field: 'events[1]' }, { field: 'events[2]' }] } });
      expect(unknown.detail).toMatch(/nothing from this batch was stored/);
      const after = await read();
      expect(after.requests).toBe(before.requests);
    });

    it('a version registered a moment ago is accepted by the next batch', async () => {
      const batch = () => bytes({ events: [{ prompt: 'cs', version: 'v2', ok: true, latency_ms: 5 }] });
      expect((await refusal(batch())).status).toBe(404);
      await a.registry.addVersion({ prompt: 'cs', version: 'v2', template: 't2' }, 'test');
      expect(await encoded(batch())).toEqual({ accepted: 1, prompts_with_errors: [] });
      expect((await read('v2')).requests).toBe(1);
    });

    it("copies a view of a shared buffer (the caller's bytes stay intact) and takes over a whole one", async () => {
      const body = bytes({ events: [{ prompt: 'cs', version: 'v1', ok: true, latency_ms: 7 }] });
      const shared = new Uint8Array(body.length + 16);
      shared.set(body, 8);
      const view = shared.subarray(8, 8 + body.length);
      expect(await encoded(view)).toMatchObject({ accepted: 1 });
      expect(shared.byteLength).toBe(body.length + 16);
      expect(new TextDecoder().decode(view)).toContain('"latency_ms":7');
      const whole = bytes({ events: [{ prompt: 'cs', version: 'v1', ok: true, latency_ms: 8 }] });
      expect(await encoded(whole)).toMatchObject({ accepted: 1 });
      // Handed over without a copy: it is the thread's now.
      expect(whole.byteLength).toBe(0);
      // Handed in again (a caller's mistake), it has no bytes: answered as a body without events, never left hanging.
      expect(await refusal(whole)).toMatchObject({ status: 400, extra: { errors: [{ field: 'events' }] } });
    });

    it('concurrent encoded batches are all stored, once', async () => {
      const before = (await read()).requests;
      const batch = (b: number) =>
        bytes({ events: Array.from({ length: 100 }, (_, i) => ({ prompt: 'cs', version: 'v1', ok: true, latency_ms: b + i })) });
      const done = await Promise.all(Array.from({ length: 20 }, (_, b) => encoded(batch(b))));
      expect(done.reduce((n, r) => n + (r?.accepted ?? 0), 0)).toBe(2000);
      expect((await read()).requests - before).toBe(2000);
    });
  });
}

/** Whether adapters opened with `config` (in a fresh folder: `dir`) leave encoded batches to the caller. */
async function decodesOnTheEventLoop(config: (dir: string) => Parameters<typeof openAdapters>[0]): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-encoded-'));
  const a = await openAdapters(config(dir), createLogger('silent'));
  try {
    expect(a.metrics.constructor.name).toBe('ThreadedMetricsStore');
    // A batch without events: left to the caller (undefined), or refused by the thread's decoder.
    return await (a.metrics as MetricsStore).ingestEncoded!(bytes({ events: [] }), new Date()).then(
      (r) => r === undefined,
      (e: unknown) => {
        if (e instanceof BatchRefused) return false;
        throw e;
      },
    );
  } finally {
    await a.db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('where batches are decoded', () => {
  it('SQLite files, by default (METRICS_DECODE=auto): in the thread', async () => {
    expect(await decodesOnTheEventLoop((dir) => ({ databaseUrl: path.join(dir, 'promptback.db') }))).toBe(false);
  });

  it('SQLite files with METRICS_DECODE=main: on the event loop — the ingest thread takes no encoded batches', async () => {
    expect(await decodesOnTheEventLoop((dir) => ({ databaseUrl: path.join(dir, 'promptback.db'), metricsDecode: 'main' }))).toBe(true);
  });

  it('a registry only this process has (in memory), metrics in a file: on the event loop even with METRICS_DECODE=thread', async () => {
    const config = (dir: string) => ({
      databaseUrl: ':memory:',
      metricsDatabaseUrl: path.join(dir, 'metrics.db'),
      metricsDecode: 'thread' as const,
    });
    expect(await decodesOnTheEventLoop(config)).toBe(true);
  });

  it('SQLite files with METRICS_DECODE=thread: in the thread', async () => {
    expect(await decodesOnTheEventLoop((dir) => ({ databaseUrl: path.join(dir, 'promptback.db'), metricsDecode: 'thread' }))).toBe(false);
  });
});

describe('an ingest thread whose decoder cannot start', () => {
  it('still writes batches; encoded ones are left to the caller, and the log says why', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-encoded-'));
    const file = path.join(dir, 'metrics.db');
    const db = await openDb(file);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    // Nothing listens on port 1: the decoder's registry connection is refused.
    const store = new ThreadedMetricsStore(new SqlMetricsStore(db.kysely), file, log, {
      module: INGEST_DECODER_MODULE,
      options: { registryUrl: 'postgres://promptback@127.0.0.1:1/none' },
    });
    try {
      expect(
        await store.ingestEncoded(bytes({ events: [{ prompt: 'cs', version: 'v1', ok: true, latency_ms: 1 }] }), new Date()),
      ).toBeUndefined();
      expect(await store.ingest([{ prompt: 'cs', version: 'v1', ok: true, latency_ms: 1, at: new Date() }])).toBe(1);
      expect(lines.join('')).toMatch(/decoder did not start/);
      expect(lines.join('')).not.toMatch(/ingest thread unavailable/);
    } finally {
      await store.close();
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

encodedIngestContract('SQLite files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-encoded-'));
  return Promise.resolve({ url: path.join(dir, 'promptback.db'), stop: () => fs.rmSync(dir, { recursive: true, force: true }) });
});

if (findPostgres() !== undefined || process.env.CI === 'true') {
  let pg: PgInstance | undefined;
  encodedIngestContract('Postgres', async () => {
    pg = await startPostgres();
    return { url: await pg.newDatabase(), stop: () => pg?.stop() };
  });
}
