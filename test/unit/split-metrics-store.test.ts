import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metricsUrlFor } from '../../src/adapters/sql/db';
import { createLogger } from '../../src/main/logger';
import { loadConfig } from '../../src/main/config';
import { openAdapters, type Adapters } from '../../src/main/wiring';

let dir: string;
let file: string;
let a: Adapters | undefined;
let holder: SQLite.Database | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-split-'));
  file = path.join(dir, 'promptback.db');
});
afterEach(async () => {
  if (holder?.inTransaction) holder.exec('rollback');
  holder?.close();
  holder = undefined;
  await a?.db.close();
  a = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function deployed(ad: Adapters): Promise<void> {
  await ad.registry.upsertPrompt({ name: 'customer-support' }, 'admin');
  for (const v of ['v1.9.0', 'v2.0.0']) {
    await ad.registry.addVersion({ prompt: 'customer-support', version: v, template: `template ${v}` }, 'admin');
    await ad.registry.switchActive({
      prompt: 'customer-support',
      to: v,
      action: 'deploy',
      key: `dep-${v}`,
      actor: 'admin',
      reason: 'deploy',
    });
  }
}

describe('metrics in their own database', () => {
  it('defaults to a sibling SQLite file; Postgres keeps one database unless METRICS_DATABASE_URL says otherwise', () => {
    const c = loadConfig({ DATA_DIR: dir });
    expect(c.metricsDatabaseUrl).toBe(path.join(dir, 'promptback-metrics.db'));
    expect(loadConfig({ DATABASE_URL: 'postgres://h/db' }).metricsDatabaseUrl).toBe('postgres://h/db');
    expect(loadConfig({ DATABASE_URL: 'postgres://h/db', METRICS_DATABASE_URL: 'postgres://h/m' }).metricsDatabaseUrl).toBe(
      'postgres://h/m',
    );
    expect(metricsUrlFor(':memory:')).toBe(':memory:');
  });

  it('a rollback switch commits while a long metrics write holds the metrics write lock', async () => {
    a = await openAdapters({ databaseUrl: file }, createLogger('silent'));
    await deployed(a);
    // Another writer in the middle of a long metrics batch: it holds the metrics database's write lock.
    holder = new SQLite(metricsUrlFor(file));
    holder.exec('begin immediate');
    holder
      .prepare(
        'insert into metric_buckets (prompt, version, bucket, requests, errors, quality_sum, quality_count) values (?, ?, ?, ?, ?, ?, ?)',
      )
      .run('customer-support', 'v2.0.0', 1, 1, 1, 0, 0);

    const t0 = performance.now();
    const r = await a.registry.switchActive({
      prompt: 'customer-support',
      to: 'v1.9.0',
      action: 'rollback',
      key: 'rb-1',
      actor: 'monitor',
      reason: 'error rate 12 % > 5 %',
    });
    const ms = performance.now() - t0;

    expect(r).toMatchObject({ switched: true, from: 'v2.0.0', to: 'v1.9.0' });
    expect((await a.registry.getPrompt('customer-support'))?.active_version).toBe('v1.9.0');
    expect((await a.registry.audit({ prompt: 'customer-support' })).some((row) => row.action === 'rollback')).toBe(true);
    expect(ms).toBeLessThan(1000); // busy_timeout is 5 s: sharing the lock would wait it out and fail
  });

  it('ingest goes on while the registry is write-locked, and the metrics it stores are read back', async () => {
    a = await openAdapters({ databaseUrl: file }, createLogger('silent'));
    await deployed(a);
    holder = new SQLite(file);
    holder.exec('begin immediate');
    holder.prepare("update prompts set description = 'held' where name = ?").run('customer-support');
    const now = new Date();
    const n = await a.metrics.ingest(
      Array.from({ length: 500 }, (_, i) => ({ prompt: 'customer-support', version: 'v2.0.0', ok: i >= 50, latency_ms: 100, at: now })),
    );
    expect(n).toBe(500);
    const w = await a.metrics.window('customer-support', 'v2.0.0', new Date(now.getTime() - 300_000), new Date(now.getTime() + 1000));
    expect({ requests: w.requests, errors: w.errors }).toEqual({ requests: 500, errors: 50 });
  });

  it('closing the store twice returns (the ingest thread stops once)', async () => {
    const ad = await openAdapters({ databaseUrl: file }, createLogger('silent'));
    await ad.metrics.ingest([{ prompt: 'p', version: 'v', ok: true, latency_ms: 1, at: new Date() }]);
    await ad.db.close();
    await expect(Promise.race([ad.db.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 3000))])).resolves.toBe(
      'closed',
    );
  });

  it('a store that kept metrics in one file keeps its history after the split (copied once)', async () => {
    const single = await openAdapters({ databaseUrl: file, metricsDatabaseUrl: file, metricsIngest: 'inline' }, createLogger('silent'));
    await deployed(single);
    const at = new Date(Date.now() - 600_000);
    await single.metrics.ingest(
      Array.from({ length: 40 }, (_, i) => ({ prompt: 'customer-support', version: 'v1.9.0', ok: i >= 4, latency_ms: 90, at })),
    );
    await single.db.close();

    const window = async (ad: Adapters) =>
      (await ad.metrics.window('customer-support', 'v1.9.0', new Date(at.getTime() - 1000), new Date(at.getTime() + 1000))).requests;
    a = await openAdapters({ databaseUrl: file }, createLogger('silent'));
    expect(await window(a)).toBe(40);
    await a.db.close();
    a = await openAdapters({ databaseUrl: file }, createLogger('silent'));
    expect(await window(a)).toBe(40); // not copied twice
  });
});
