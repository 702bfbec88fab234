import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRetentionActivities } from '../../src/activities/retention';
import { DEFAULT_RETENTION, retentionPlan, type RetentionFacts } from '../../src/domain/retention';
import { createLogger } from '../../src/main/logger';
import { openAdapters, type Adapters } from '../../src/main/wiring';
import { initialView } from '../../src/domain/rollback';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';

const DAY = 86_400_000;
const now = new Date('2026-11-25T12:00:00Z');
const facts = (ages: number[]): RetentionFacts[] =>
  ages.map((d, i) => ({ version: `v${i + 1}`, created_at: new Date(now.getTime() - d * DAY).toISOString(), state: 'hot' }));

describe('retentionPlan (the seed: last 3 hot, 6 months archived, then purged)', () => {
  it('keeps the newest three hot, archives the rest, purges those older than 6 months', () => {
    const plan = retentionPlan(facts([400, 200, 100, 50, 10, 1]), new Map(), new Set(['v6']), DEFAULT_RETENTION, now);
    expect(plan.purge.map((p) => p.version)).toEqual(['v1', 'v2']);
    expect(plan.archive).toEqual(['v3']);
    expect(plan.kept).toEqual([]);
  });

  it('never purges a referenced version, and never archives or purges the one serving', () => {
    const referenced = new Map([['v1', 'open incident 42']]);
    const plan = retentionPlan(facts([400, 300, 100, 50, 10]), referenced, new Set(['v2']), DEFAULT_RETENTION, now);
    expect(plan.purge).toEqual([]);
    expect(plan.kept).toEqual([{ version: 'v1', why: 'open incident 42' }]);
    expect(plan.archive).toEqual(['v1']);
  });

  it('does not archive again what is already archived', () => {
    const f = facts([100, 50, 10, 5, 1]).map((v, i) => (i === 0 ? { ...v, state: 'archived' as const } : v));
    expect(retentionPlan(f, new Map(), new Set(['v5']), DEFAULT_RETENTION, now).archive).toEqual(['v2']);
  });
});

describe('retention pass on a real SQLite registry', () => {
  let dir: string;
  let a: Adapters;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-ret-'));
    a = await openAdapters({ databaseUrl: path.join(dir, 'db.sqlite') }, createLogger('silent'), { now: () => clock });
  });
  afterEach(async () => {
    await a.db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let clock = new Date(now.getTime() - 400 * DAY);

  it('archives and purges, but keeps a version an open incident or the audit period references', async () => {
    clock = new Date(now.getTime() - 400 * DAY);
    await a.registry.upsertPrompt({ name: 'p' }, 'admin');
    for (const [v, age] of [
      ['v1', 400],
      ['v2', 390],
      ['v3', 380],
      ['v4', 30],
      ['v5', 20],
      ['v6', 10],
      ['v7', 5],
    ] as const) {
      clock = new Date(now.getTime() - age * DAY);
      await a.registry.addVersion({ prompt: 'p', version: v, template: v }, 'admin');
    }
    clock = new Date(now.getTime() - 2 * DAY);
    await a.registry.switchActive({ prompt: 'p', to: 'v7', action: 'deploy', key: 'd7', actor: 'admin', reason: 'deploy' });
    // An open incident names v2 as its target; v3 was named by an audit row 2 days ago (within the audit period).
    await a.rollbacks.claim({
      ...initialView({
        rollback_id: 'rb1',
        prompt: 'p',
        target_version: 'v2',
        reason: 'r',
        severity: 'high',
        mode: 'immediate',
        requested_by: 'op',
        requested_at: clock.toISOString(),
        verification: DEFAULT_VERIFICATION,
      }),
      to_version: 'v2',
    });
    await a.registry.setKnownGood('p', 'v3', true, 'qa', 'baseline test');
    clock = now;
    const summary = await createRetentionActivities({ ...a, clock: { now: () => now } }).retentionPass({
      ...DEFAULT_RETENTION,
      audit_period_s: 30 * 86_400,
    });
    expect(summary.purged.map((p) => p.version)).toEqual(['v1']);
    expect(summary.kept).toEqual([
      { prompt: 'p', version: 'v2', why: 'open incident rb1' },
      { prompt: 'p', version: 'v3', why: expect.stringMatching(/audit row \d+ \(version\.passed/) },
    ]);
    expect(summary.archived.map((x) => x.version)).toEqual(['v2', 'v3', 'v4']);
    const versions = await a.registry.listVersions('p');
    expect(versions.map((v) => [v.version, v.state])).toEqual([
      ['v2', 'archived'],
      ['v3', 'archived'],
      ['v4', 'archived'],
      ['v5', 'hot'],
      ['v6', 'hot'],
      ['v7', 'hot'],
    ]);
    // An archived version is still restorable: switching to it makes it hot again.
    await a.registry.switchActive({ prompt: 'p', to: 'v4', action: 'rollback', key: 'rb2', actor: 'op', reason: 'restore' });
    expect((await a.registry.getVersion('p', 'v4'))?.state).toBe('hot');
    expect((await a.registry.audit({ prompt: 'p' })).filter((r) => r.action === 'retention')).toHaveLength(1);
  });
});
