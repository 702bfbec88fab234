import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachedRoutes } from '../../src/adapters/registry/cached-routes';
import { openDb, type Db } from '../../src/adapters/sql/db';
import { pickVersion } from '../../src/domain/traffic';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';

let dir: string;
let file: string;
let api: Adapters;
let worker: Adapters;
const extra: Db[] = [];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-routes-'));
  file = path.join(dir, 'db.sqlite');
  // Two connections to one real file, as `npm run api` and `npm run worker` have.
  api = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  worker = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  await api.registry.upsertPrompt({ name: 'cs' }, 'admin');
  for (const v of ['v1', 'v2']) await api.registry.addVersion({ prompt: 'cs', version: v, template: `template ${v}` }, 'admin');
  await api.registry.switchActive({ prompt: 'cs', to: 'v2', action: 'deploy', key: 'd2', actor: 'admin', reason: 'deploy' });
});
afterEach(async () => {
  await api.db.close();
  await worker.db.close();
  for (const db of extra.splice(0)) await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes behind the registry's back on the API's own connection: neither the hook nor data_version sees them. */
const sneakyWrite = (version: string) => api.db.kysely.updateTable('traffic').set({ version }).where('prompt', '=', 'cs').execute();

const split = async (routes: { get(p: string): Promise<{ split: readonly unknown[] } | undefined> }) => (await routes.get('cs'))?.split;

describe('routes from memory', () => {
  it('a hit is answered from memory, with the same answer objects each time', async () => {
    const first = await api.routes.get('cs');
    expect(first).toEqual({ split: [{ version: 'v2', percent: 100 }], answers: { v2: { version: 'v2', template: 'template v2' } } });
    await sneakyWrite('v1');
    // Only a cached answer can still say v2.
    const second = await api.routes.get('cs');
    expect(second?.split).toEqual([{ version: 'v2', percent: 100 }]);
    expect(second?.answers.v2).toBe(first?.answers.v2);
    expect(Object.isFrozen(second?.answers.v2)).toBe(true);
    api.routes.invalidate();
    expect(await split(api.routes)).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('a switch in this process is visible on the very next answer (the registry invalidates)', async () => {
    await api.routes.get('cs');
    await api.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb1', actor: 'op', reason: 'r' });
    expect(await split(api.routes)).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('a switch committed by another connection to the file (the worker process) is visible on the very next answer', async () => {
    await api.routes.get('cs');
    await worker.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb2', actor: 'op', reason: 'r' });
    expect(await split(api.routes)).toEqual([{ version: 'v1', percent: 100 }]);
    await worker.registry.setTraffic({
      prompt: 'cs',
      split: [
        { version: 'v1', percent: 40 },
        { version: 'v2', percent: 60 },
      ],
      key: 's1',
      actor: 'op',
      reason: 'stage',
      action: 'traffic',
    });
    const route = (await api.routes.get('cs'))!;
    expect(route.answers).toEqual({ v1: { version: 'v1', template: 'template v1' }, v2: { version: 'v2', template: 'template v2' } });
    // Stickiness and shares over 10,000 keys: within 1 % of the split.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const v = pickVersion(route.split, `user-${i}`)!;
      counts[v] = (counts[v] ?? 0) + 1;
      expect(pickVersion(route.split, `user-${i}`)).toBe(v);
    }
    expect(Math.abs(counts.v1! / 10_000 - 0.4)).toBeLessThan(0.01);
  });

  it('probes the store once per event-loop turn, however many answers that turn asks for', async () => {
    let probes = 0;
    const routes = new CachedRoutes(api.db.kysely, () => {
      probes++;
      return api.db.dataVersion();
    });
    await routes.get('cs'); // the miss: one shared probe before, one after the read
    probes = 0;
    const answers = await Promise.all(Array.from({ length: 200 }, () => routes.get('cs')));
    expect(answers.every((a) => a?.split[0]?.version === 'v2')).toBe(true);
    expect(probes).toBe(1);
    // Each turn probes again: a commit by another connection between two turns is never missed.
    await worker.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb3', actor: 'op', reason: 'r' });
    expect(await split(routes)).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('a read that overlapped an invalidation is answered but not kept', async () => {
    // The reader on a connection of its own, its results held back until released; a probe that never moves, so
    // that only the in-process invalidation can tell.
    const reader = await openDb(file);
    extra.push(reader);
    let release!: () => void;
    let entered!: () => void;
    const inRead = new Promise<void>((r) => (entered = r));
    let hold: Promise<void> | undefined = new Promise<void>((r) => (release = r));
    const gate: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        const h = hold;
        hold = undefined;
        if (h) {
          entered();
          await h;
        }
        return args.result;
      },
    };
    const routes = new CachedRoutes(reader.kysely.withPlugin(gate), () => 0);
    api.registry.onRoutesChanged(() => routes.invalidate());

    const pending = routes.get('cs');
    await inRead; // the read has happened (v2) and is held
    await api.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb4', actor: 'op', reason: 'r' });
    const askedAfter = routes.get('cs'); // must not join the read in flight…
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r)); // …which it would have by now
    release();
    expect((await askedAfter)?.split).toEqual([{ version: 'v1', percent: 100 }]);
    expect((await pending)?.split).toEqual([{ version: 'v2', percent: 100 }]); // asked before the switch: either answer is fair
    expect(await split(routes)).toEqual([{ version: 'v1', percent: 100 }]); // but it was not kept
  });

  it('after a switch, a burst of misses for one prompt costs one read of the store', async () => {
    let reads = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        reads++;
        return args.node;
      },
      transformResult: (args) => Promise.resolve(args.result),
    };
    const routes = new CachedRoutes(api.db.kysely.withPlugin(counting), api.db.dataVersion);
    await routes.get('cs');
    await worker.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb5', actor: 'op', reason: 'r' });
    reads = 0;
    const answers = await Promise.all(Array.from({ length: 50 }, () => routes.get('cs')));
    expect(answers.every((a) => a?.split[0]?.version === 'v1')).toBe(true);
    expect(reads).toBe(1);
  });

  it('without a change probe nothing is cached: every answer reads the store', async () => {
    const routes = new CachedRoutes(api.db.kysely);
    expect(await split(routes)).toEqual([{ version: 'v2', percent: 100 }]);
    await sneakyWrite('v1');
    expect(await split(routes)).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('an unknown prompt is undefined, and becomes known as soon as it is created; nothing deployed is an empty split', async () => {
    expect(await api.routes.get('new')).toBeUndefined();
    await api.registry.upsertPrompt({ name: 'new' }, 'admin');
    expect(await api.routes.get('new')).toEqual({ split: [], answers: {} });
    expect(await api.routes.get('newer')).toBeUndefined();
    await worker.registry.upsertPrompt({ name: 'newer' }, 'admin');
    expect(await api.routes.get('newer')).toEqual({ split: [], answers: {} });
  });
});
