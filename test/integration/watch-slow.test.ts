import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PromptbackClient } from '../../packages/client/src/index';
import { PromptWatch } from '../../src/api/watch';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { waitFor } from '../support/stack';

// The watch stream over a real store and a real socket, without the rest of the API: what happens to a client that
// stops reading while large events keep coming.
let dir: string;
let a: Adapters;
let watch: PromptWatch;
let server: http.Server;
let url: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-watch-slow-'));
  a = await openAdapters({ databaseUrl: path.join(dir, 'db') }, createLogger('silent'));
  await a.registry.upsertPrompt({ name: 'big' }, 'test');
  for (const v of ['v1', 'v2']) await a.registry.addVersion({ prompt: 'big', version: v, template: `${v} `.repeat(128 * 1024) }, 'test');
  await a.registry.switchActive({ prompt: 'big', to: 'v1', action: 'deploy', key: 'd', actor: 'test', reason: 'test' });
  watch = new PromptWatch({
    routes: a.routes,
    registry: a.registry,
    log: createLogger('silent'),
    slowConsumerMs: 500,
    maxBufferedBytes: 64 * 1024,
  });
  a.registry.onRoutesChanged(() => watch.changed());
  const app = express();
  app.get('/api/prompts/:prompt/watch', (req, res, next) => {
    watch.serve(String(req.params.prompt), req, res).catch(next);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  watch?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await a?.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('closes a watcher that stops reading, and keeps serving the others', async () => {
  const client = new PromptbackClient({ url });
  await client.watch('big');
  const stalled = net.connect(Number(new URL(url).port), '127.0.0.1');
  await new Promise((r) => stalled.once('connect', r));
  stalled.write('GET /api/prompts/big/watch HTTP/1.1\r\nHost: x\r\n\r\n');
  stalled.pause(); // reads nothing from here on
  let stalledClosed = false;
  stalled.on('close', () => (stalledClosed = true));
  stalled.on('error', () => undefined);
  await waitFor('both watchers', () => Promise.resolve(watch.size === 2 ? true : undefined), 5000);

  for (let i = 0; i < 40; i++) {
    const to = i % 2 === 0 ? 'v2' : 'v1';
    await a.registry.switchActive({ prompt: 'big', to, action: 'rollback', key: `s${i}`, actor: 'test', reason: 'test' });
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor('the stalled watcher to be closed', () => Promise.resolve(watch.size === 1 ? true : undefined), 10_000);
  await waitFor(
    'the reading client to serve the last switch',
    async () => ((await client.get('big')).version === 'v1' ? true : undefined),
    5000,
  );
  expect(client.staleness('big')!.mode).toBe('stream');
  await waitFor(
    'the stalled socket to see it',
    () => Promise.resolve(stalledClosed || stalled.destroyed || stalled.readableEnded ? true : undefined),
    5000,
  ).catch(() => undefined);
  stalled.destroy();
  await client.close(100);
});
