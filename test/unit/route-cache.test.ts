import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickVersion } from '../../src/domain/traffic';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';

let dir: string;
let api: Adapters;
let worker: Adapters;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-routes-'));
  const file = path.join(dir, 'db.sqlite');
  // Two connections to one file, as `npm run api` and `npm run worker` have.
  api = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  worker = await openAdapters({ databaseUrl: file }, createLogger('silent'));
  await api.registry.upsertPrompt({ name: 'cs' }, 'admin');
  for (const v of ['v1', 'v2']) await api.registry.addVersion({ prompt: 'cs', version: v, template: `template ${v}` }, 'admin');
  await api.registry.switchActive({ prompt: 'cs', to: 'v2', action: 'deploy', key: 'd2', actor: 'admin', reason: 'deploy' });
});
afterEach(async () => {
  await api.db.close();
  await worker.db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('routes from memory', () => {
  it('answers from memory: a write that bypasses the registry on the same connection is not seen until invalidated', async () => {
    expect(await api.routes.get('cs')).toEqual({ split: [{ version: 'v2', percent: 100 }], templates: { v2: 'template v2' } });
    // Same connection, no registry hook: data_version does not move, so only a cached answer can still say v2.
    await api.db.kysely.updateTable('traffic').set({ version: 'v1' }).where('prompt', '=', 'cs').execute();
    expect((await api.routes.get('cs'))?.split).toEqual([{ version: 'v2', percent: 100 }]);
    api.routes.invalidate();
    expect((await api.routes.get('cs'))?.split).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('a switch in this process is visible on the very next answer', async () => {
    await api.routes.get('cs');
    await api.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb1', actor: 'op', reason: 'r' });
    expect((await api.routes.get('cs'))?.split).toEqual([{ version: 'v1', percent: 100 }]);
  });

  it('a switch committed by another process (another connection to the file) is visible on the very next answer', async () => {
    await api.routes.get('cs');
    await worker.registry.switchActive({ prompt: 'cs', to: 'v1', action: 'rollback', key: 'rb2', actor: 'op', reason: 'r' });
    expect((await api.routes.get('cs'))?.split).toEqual([{ version: 'v1', percent: 100 }]);
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
    expect(route.templates).toEqual({ v1: 'template v1', v2: 'template v2' });
    // Stickiness and shares over 10,000 keys: within 1 % of the split.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const v = pickVersion(route.split, `user-${i}`)!;
      counts[v] = (counts[v] ?? 0) + 1;
      expect(pickVersion(route.split, `user-${i}`)).toBe(v);
    }
    expect(Math.abs(counts.v1! / 10_000 - 0.4)).toBeLessThan(0.01);
  });

  it('an unknown prompt is undefined, and becomes known as soon as it is created', async () => {
    expect(await api.routes.get('new')).toBeUndefined();
    await api.registry.upsertPrompt({ name: 'new' }, 'admin');
    expect(await api.routes.get('new')).toEqual({ split: [], templates: {} });
  });
});
