import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PromptWatch } from '../../src/api/watch';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { waitFor } from '../support/stack';

// Heartbeats over real sockets: every watcher hears from the server at least once per heartbeat period, but not all
// at the same instant (thousands of writes in one burst stall the API's event loop and any switch caught behind them).
const HEARTBEAT_MS = 800;
const WATCHERS = 32;

let dir: string;
let a: Adapters;
let watch: PromptWatch;
let server: http.Server;
let port: number;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-watch-heartbeat-'));
  a = await openAdapters({ databaseUrl: path.join(dir, 'db') }, createLogger('silent'));
  await a.registry.upsertPrompt({ name: 'p' }, 'test');
  await a.registry.addVersion({ prompt: 'p', version: 'v1', template: 'hello' }, 'test');
  await a.registry.switchActive({ prompt: 'p', to: 'v1', action: 'deploy', key: 'd', actor: 'test', reason: 'test' });
  watch = new PromptWatch({ routes: a.routes, registry: a.registry, log: createLogger('silent'), heartbeatMs: HEARTBEAT_MS });
  const app = express();
  app.get('/api/prompts/:prompt/watch', (req, res, next) => {
    watch.serve(String(req.params.prompt), req, res).catch(next);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  watch?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await a?.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('sends every watcher a heartbeat at least once per period, spread over the period instead of all at once', async () => {
  const heard: number[][] = [];
  const sockets = Array.from({ length: WATCHERS }, (_, i) => {
    heard[i] = [];
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.write('GET /api/prompts/p/watch HTTP/1.1\r\nHost: x\r\n\r\n');
    s.on('data', (text: string) => {
      for (const _ of text.matchAll(/^: heartbeat$/gm)) heard[i]!.push(performance.now());
    });
    return s;
  });
  await waitFor('every watcher to connect', () => Promise.resolve(watch.size === WATCHERS ? true : undefined), 10_000);
  const connectedAt = performance.now();
  await waitFor('three heartbeats on every watcher', () => Promise.resolve(heard.every((h) => h.length >= 3) ? true : undefined), 10_000);
  for (const s of sockets) s.destroy();

  for (const h of heard) {
    // At least once per period (with room for a loaded box's timers), from the moment the watcher connected.
    const gaps = [h[0]! - connectedAt, ...h.slice(1).map((t, i) => t - h[i]!)];
    expect(Math.max(...gaps)).toBeLessThan(HEARTBEAT_MS * 1.75);
  }
  // All at once, the first heartbeats of all watchers arrive within a few milliseconds of each other.
  const firsts = heard.map((h) => h[0]!);
  expect(Math.max(...firsts) - Math.min(...firsts)).toBeGreaterThan(HEARTBEAT_MS / 3);
});
