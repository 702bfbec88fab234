import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDomainError, type DomainError, type DomainErrorType } from '../../src/domain/errors';
import { ROLLBACK_STATUSES, isTerminal, type RollbackInput, type RollbackStatus, type RollbackView } from '../../src/domain/rollback';
import type { MetricEvent, MetricsStore } from '../../src/ports/metrics';
import type { MonitorStore } from '../../src/ports/monitors';
import type { AuditEntry, Deployment, Registry } from '../../src/ports/registry';
import type { RollbackStore } from '../../src/ports/rollbacks';

export interface ContractStores {
  registry: Registry;
  rollbacks: RollbackStore;
  monitors: MonitorStore;
  metrics: MetricsStore;
  close(): Promise<void>;
}

/**
 * The one contract the Registry, RollbackStore and MetricsStore ports promise, run against every adapter
 * (SQLite today, Postgres next): `registryContract('postgres', openPostgres)` runs the identical suite.
 *
 * `open` is called before every test and must return empty stores; `close` after it. The registry's clock
 * must move forward between calls, as real time does.
 */
export function registryContract(name: string, open: () => Promise<ContractStores>): void {
  describe(`store contract: ${name}`, () => {
    let s: ContractStores;
    beforeEach(async () => {
      s = await open();
    });
    afterEach(async () => {
      await s.close();
    });

    describe('Registry: prompts', () => {
      it('upsertPrompt creates a prompt, with no active version and an audit row naming the actor', async () => {
        const { created, prompt } = await s.registry.upsertPrompt(
          { name: 'customer-support', description: 'answers tickets', owner: 'team-cs', related: ['triage'], policy: { window_s: 300 } },
          'alice',
        );
        expect(created).toBe(true);
        expect(prompt).toMatchObject({
          name: 'customer-support',
          description: 'answers tickets',
          owner: 'team-cs',
          related: ['triage'],
          policy: { window_s: 300 },
          active_version: null,
        });
        expect(await s.registry.getPrompt('customer-support')).toEqual(prompt);
        expect((await s.registry.listPrompts()).map((p) => p.name)).toEqual(['customer-support']);

        const audit = await s.registry.audit({ prompt: 'customer-support' });
        expect(audit).toHaveLength(1);
        expect(audit[0]).toMatchObject({ actor: 'alice', action: 'prompt.create', prompt: 'customer-support', rollback_id: null });
      });

      it('a prompt keeps where its metrics are read from: builtin by default, prometheus with its queries until changed', async () => {
        const { prompt } = await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        expect(prompt.metrics).toEqual({ provider: 'builtin' });
        const prometheus = {
          provider: 'prometheus' as const,
          queries: {
            requests: 'sum(increase(llm_requests_total{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
            errors: 'sum(increase(llm_request_errors_total{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
            latency_p99_ms: 'max(llm_p99_ms{version="{{version}}"})',
          },
        };
        await s.registry.upsertPrompt({ name: 'cs', metrics: prometheus }, 'alice');
        await s.registry.upsertPrompt({ name: 'cs', description: 'other fields leave it alone' }, 'bob');
        expect((await s.registry.getPrompt('cs'))?.metrics).toEqual(prometheus);
        expect((await s.registry.listPrompts())[0]?.metrics).toEqual(prometheus);
        await s.registry.upsertPrompt({ name: 'cs', metrics: { provider: 'builtin' } }, 'bob');
        expect((await s.registry.getPrompt('cs'))?.metrics).toEqual({ provider: 'builtin' });
      });

      it('a prompt keeps its notification routing override until changed; none (null) by default and after clearing', async () => {
        const { prompt } = await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        expect(prompt.notify).toBeNull();
        const notify = { routes: { critical: ['pagerduty' as const, 'slack' as const], medium: [] } };
        await s.registry.upsertPrompt({ name: 'cs', notify }, 'alice');
        await s.registry.upsertPrompt({ name: 'cs', description: 'other fields leave it alone' }, 'bob');
        expect((await s.registry.getPrompt('cs'))?.notify).toEqual(notify);
        expect((await s.registry.listPrompts())[0]?.notify).toEqual(notify);
        await s.registry.upsertPrompt({ name: 'cs', notify: null }, 'bob');
        expect((await s.registry.getPrompt('cs'))?.notify).toBeNull();
      });

      it('upsertPrompt on an existing prompt updates it: created false, unnamed fields kept, a second audit row', async () => {
        const first = await s.registry.upsertPrompt({ name: 'cs', description: 'v1 desc', owner: 'team-cs', related: ['a'] }, 'alice');
        const { created, prompt } = await s.registry.upsertPrompt(
          { name: 'cs', description: 'v2 desc', policy: { max_error_rate: 0.03 } },
          'bob',
        );
        expect(created).toBe(false);
        expect(prompt).toMatchObject({
          name: 'cs',
          description: 'v2 desc',
          owner: 'team-cs',
          related: ['a'],
          policy: { max_error_rate: 0.03 },
          created_at: first.prompt.created_at,
        });
        expect(await s.registry.getPrompt('cs')).toEqual(prompt);
        expect(await s.registry.listPrompts()).toHaveLength(1);

        const audit = await s.registry.audit({ prompt: 'cs' });
        expect(audit.map((a) => [a.action, a.actor])).toEqual([
          ['prompt.create', 'alice'],
          ['prompt.update', 'bob'],
        ]);
      });

      it('getPrompt of an unknown name is undefined; listPrompts is sorted by name', async () => {
        expect(await s.registry.getPrompt('nope')).toBeUndefined();
        for (const n of ['zeta', 'alpha', 'mid']) await s.registry.upsertPrompt({ name: n }, 'alice');
        expect((await s.registry.listPrompts()).map((p) => p.name)).toEqual(['alpha', 'mid', 'zeta']);
      });

      it('appendAudit records any other attributable change', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        await s.registry.appendAudit({
          at: '2025-01-01T00:00:00.000Z',
          actor: 'carol',
          action: 'monitor.start',
          prompt: 'cs',
          from_version: null,
          to_version: null,
          reason: 'watch it',
          detail: { interval_s: 30 },
        });
        const rows = await s.registry.audit({ prompt: 'cs' });
        expect(rows.at(-1)).toMatchObject({
          actor: 'carol',
          action: 'monitor.start',
          reason: 'watch it',
          detail: { interval_s: 30 },
          rollback_id: null,
        });
      });

      it('appendAudit with a key writes its row once, however often and however concurrently it is called', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        const row = (reason: string) => ({
          at: '2025-01-01T00:00:00.000Z',
          actor: 'system:reconciler',
          action: 'rollback.start',
          prompt: 'cs',
          from_version: null,
          to_version: null,
          reason,
          detail: {},
        });
        await Promise.all([1, 2, 3].map((n) => s.registry.appendAudit(row(`attempt ${n}`), { key: 'reconciler.start/rb-1' })));
        await s.registry.appendAudit(row('retry'), { key: 'reconciler.start/rb-1' });
        await s.registry.appendAudit(row('another rollback'), { key: 'reconciler.start/rb-2' });
        const rows = (await s.registry.audit({ prompt: 'cs' })).filter((r) => r.action === 'rollback.start');
        expect(rows.map((r) => r.reason)).toEqual([expect.stringMatching(/^attempt \d$/), 'another rollback']);
      });
    });

    describe('Registry: versions', () => {
      beforeEach(async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
      });

      it('addVersion stores an immutable, hot, untested, never-deployed version and audits it', async () => {
        const v = await s.registry.addVersion(
          { prompt: 'cs', version: 'v1.9.0', template: 'Be kind.', metadata: { model: 'm1' } },
          'alice',
        );
        expect(v).toMatchObject({
          prompt: 'cs',
          version: 'v1.9.0',
          template: 'Be kind.',
          metadata: { model: 'm1' },
          deployed_at: null,
          state: 'hot',
          known_good: null,
          rolled_back_from: false,
        });
        expect(await s.registry.getVersion('cs', 'v1.9.0')).toEqual(v);
        expect((await s.registry.audit({ prompt: 'cs' })).at(-1)).toMatchObject({
          actor: 'alice',
          action: 'version.create',
          to_version: 'v1.9.0',
        });
      });

      it('listVersions is oldest first, not in name order', async () => {
        for (const version of ['v1.9.0', 'v1.10.0', 'v1.2.0']) {
          await s.registry.addVersion({ prompt: 'cs', version, template: version }, 'alice');
          await tick();
        }
        expect((await s.registry.listVersions('cs')).map((v) => v.version)).toEqual(['v1.9.0', 'v1.10.0', 'v1.2.0']);
        expect(await s.registry.listVersions('other')).toEqual([]);
      });

      it('adding an existing version is VersionExists, and the stored one is untouched', async () => {
        await s.registry.addVersion({ prompt: 'cs', version: 'v1', template: 'original' }, 'alice');
        const auditBefore = await s.registry.audit({ prompt: 'cs' });
        const err = await rejection(
          s.registry.addVersion({ prompt: 'cs', version: 'v1', template: 'changed' }, 'mallory'),
          'VersionExists',
        );
        expect(err.details).toMatchObject({ prompt: 'cs', version: 'v1' });
        expect((await s.registry.getVersion('cs', 'v1'))?.template).toBe('original');
        expect(await s.registry.listVersions('cs')).toHaveLength(1);
        expect(await s.registry.audit({ prompt: 'cs' })).toEqual(auditBefore);
      });

      it('the same version name under another prompt is a different version', async () => {
        await s.registry.upsertPrompt({ name: 'other' }, 'alice');
        await s.registry.addVersion({ prompt: 'cs', version: 'v1', template: 'cs' }, 'alice');
        await s.registry.addVersion({ prompt: 'other', version: 'v1', template: 'other' }, 'alice');
        expect((await s.registry.getVersion('other', 'v1'))?.template).toBe('other');
      });

      it('adding a version to an unknown prompt is UnknownPrompt, and nothing is stored', async () => {
        await rejection(s.registry.addVersion({ prompt: 'ghost', version: 'v1', template: 't' }, 'alice'), 'UnknownPrompt');
        expect(await s.registry.getVersion('ghost', 'v1')).toBeUndefined();
        expect(await s.registry.getPrompt('ghost')).toBeUndefined();
        expect(await s.registry.audit({ prompt: 'ghost' })).toEqual([]);
      });
    });

    describe('Registry: switchActive', () => {
      beforeEach(async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        for (const version of ['v1.9.0', 'v2.0.0', 'v2.1.0']) {
          await s.registry.addVersion({ prompt: 'cs', version, template: `template ${version}` }, 'alice');
        }
      });

      const deploy = (to: string, key: string) =>
        s.registry.switchActive({ prompt: 'cs', to, action: 'deploy', key, actor: 'deployer', reason: 'release' });
      const rollback = (to: string, key: string) =>
        s.registry.switchActive({ prompt: 'cs', to, action: 'rollback', key, actor: 'oncall', reason: 'error rate 30 %' });

      it('a deploy moves all traffic to the target, sets active_version and deployed_at, and audits without a rollback id', async () => {
        const r = await deploy('v1.9.0', 'dep-1');
        expect(r).toMatchObject({ switched: true, from: null, to: 'v1.9.0' });
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v1.9.0');
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v1.9.0', percent: 100 }]);
        expect((await s.registry.getVersion('cs', 'v1.9.0'))?.deployed_at).toBe(r.at);
        expect((await s.registry.getVersion('cs', 'v2.0.0'))?.deployed_at).toBeNull();

        const rows = (await s.registry.audit({ prompt: 'cs' })).filter((a) => a.action === 'deploy');
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ actor: 'deployer', from_version: null, to_version: 'v1.9.0', rollback_id: null, at: r.at });
      });

      it("a deploy with its record writes the deployment in the switch's transaction, with the switch's from_version and time; once per key", async () => {
        await deploy('v1.9.0', 'dep-1');
        const record = {
          deployment_id: 'dep-2',
          prompt: 'cs',
          version: 'v2.0.0',
          strategy: 'immediate',
          status: 'completed',
          requested_by: 'deployer',
          created_at: '2026-11-27T10:00:00.000Z',
        } as const;
        const req = { prompt: 'cs', to: 'v2.0.0', action: 'deploy', key: 'dep-2', actor: 'deployer', reason: 'release', record } as const;
        const r = await s.registry.switchActive(req);
        expect(await s.registry.getDeployment('dep-2')).toMatchObject({ ...record, from_version: 'v1.9.0', updated_at: r.at });
        // A retry with the key switches nothing and records nothing more (its row is the first one).
        expect(await s.registry.switchActive(req)).toMatchObject({ switched: false, at: r.at });
        expect(await s.registry.getDeployment('dep-2')).toMatchObject({ from_version: 'v1.9.0', updated_at: r.at });
        // A deploy the store refuses (an unknown version) records no deployment either.
        await rejection(
          s.registry.switchActive({ ...req, to: 'v9.9.9', key: 'dep-3', record: { ...record, deployment_id: 'dep-3' } }),
          'UnknownVersion',
        );
        expect(await s.registry.getDeployment('dep-3')).toBeUndefined();
      });

      it('a rollback moves 100 % of traffic to the target, marks the version left, and writes exactly one audit row with the rollback id', async () => {
        await deploy('v1.9.0', 'dep-1');
        await deploy('v2.0.0', 'dep-2');
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v2.0.0', percent: 100 }]);

        const r = await rollback('v1.9.0', 'rb-1');
        expect(r).toMatchObject({ switched: true, from: 'v2.0.0', to: 'v1.9.0' });
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v1.9.0');
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v1.9.0', percent: 100 }]);
        expect((await s.registry.getVersion('cs', 'v2.0.0'))?.rolled_back_from).toBe(true);
        expect((await s.registry.getVersion('cs', 'v1.9.0'))?.rolled_back_from).toBe(false);
        expect((await s.registry.getVersion('cs', 'v2.1.0'))?.rolled_back_from).toBe(false);

        const rows = await s.registry.audit({ rollback_id: 'rb-1' });
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          action: 'rollback',
          actor: 'oncall',
          prompt: 'cs',
          from_version: 'v2.0.0',
          to_version: 'v1.9.0',
          reason: 'error rate 30 %',
          rollback_id: 'rb-1',
          at: r.at,
        });
      });

      it('is idempotent per key: a retry returns switched:false, changes nothing, adds no audit row', async () => {
        await deploy('v2.0.0', 'dep-1');
        const first = await rollback('v1.9.0', 'rb-1');
        const auditAfterFirst = await s.registry.audit({ prompt: 'cs' });

        const retry = await rollback('v1.9.0', 'rb-1');
        expect(retry).toEqual({ switched: false, from: 'v2.0.0', to: 'v1.9.0', at: first.at });
        expect(await s.registry.audit({ prompt: 'cs' })).toEqual(auditAfterFirst);
        expect(await s.registry.audit({ rollback_id: 'rb-1' })).toHaveLength(1);
      });

      it('a late retry of an old switch does not undo a later one', async () => {
        await deploy('v2.0.0', 'dep-1');
        await rollback('v1.9.0', 'rb-1');
        await deploy('v2.1.0', 'dep-2');

        const late = await rollback('v1.9.0', 'rb-1');
        expect(late.switched).toBe(false);
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v2.1.0');
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v2.1.0', percent: 100 }]);
        expect((await s.registry.getVersion('cs', 'v2.1.0'))?.rolled_back_from).toBe(false);
        const retriedDeploy = await deploy('v2.1.0', 'dep-2');
        expect(retriedDeploy.switched).toBe(false);
      });

      it('concurrent calls with one key switch once', async () => {
        await deploy('v2.0.0', 'dep-1');
        const results = await Promise.all([rollback('v1.9.0', 'rb-1'), rollback('v1.9.0', 'rb-1'), rollback('v1.9.0', 'rb-1')]);
        expect(results.filter((r) => r.switched)).toHaveLength(1);
        expect(await s.registry.audit({ rollback_id: 'rb-1' })).toHaveLength(1);
      });

      it('an unknown target version is UnknownVersion and leaves everything as it was; the key stays usable', async () => {
        await deploy('v2.0.0', 'dep-1');
        const prompt = await s.registry.getPrompt('cs');
        const versions = await s.registry.listVersions('cs');
        const audit = await s.registry.audit({ prompt: 'cs' });

        const err = await rejection(rollback('v9.9.9', 'rb-1'), 'UnknownVersion');
        expect(err.details).toMatchObject({ prompt: 'cs', version: 'v9.9.9' });
        expect(await s.registry.getPrompt('cs')).toEqual(prompt);
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v2.0.0', percent: 100 }]);
        expect(await s.registry.listVersions('cs')).toEqual(versions);
        expect(await s.registry.audit({ prompt: 'cs' })).toEqual(audit);

        // The failed attempt did not burn the idempotency key.
        expect((await rollback('v1.9.0', 'rb-1')).switched).toBe(true);
      });

      it('an unknown prompt is UnknownPrompt', async () => {
        await rejection(
          s.registry.switchActive({ prompt: 'ghost', to: 'v1.9.0', action: 'rollback', key: 'rb-x', actor: 'a', reason: 'r' }),
          'UnknownPrompt',
        );
        expect(await s.registry.audit({ rollback_id: 'rb-x' })).toEqual([]);
      });

      it('the audit filter by prompt shows only that prompt', async () => {
        await s.registry.upsertPrompt({ name: 'other' }, 'alice');
        await s.registry.addVersion({ prompt: 'other', version: 'v1', template: 't' }, 'alice');
        await s.registry.switchActive({ prompt: 'other', to: 'v1', action: 'deploy', key: 'dep-o', actor: 'x', reason: '' });
        await deploy('v2.0.0', 'dep-1');
        const rows = await s.registry.audit({ prompt: 'cs' });
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((r) => r.prompt === 'cs')).toBe(true);
        expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort((a, b) => a - b));
      });
    });

    describe('Registry: staged traffic and retention', () => {
      const setup = async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'admin');
        for (const v of ['v1', 'v2']) await s.registry.addVersion({ prompt: 'cs', version: v, template: v }, 'admin');
        await s.registry.switchActive({ prompt: 'cs', to: 'v2', action: 'deploy', key: 'd2', actor: 'admin', reason: 'deploy' });
      };

      it('setTraffic writes a split once per key, keeps the active version until one version has 100 %, and audits', async () => {
        await setup();
        const split = [
          { version: 'v2', percent: 75 },
          { version: 'v1', percent: 25 },
        ];
        expect(await s.registry.setTraffic({ prompt: 'cs', split, key: 'g/0', actor: 'op', reason: 'stage 1', action: 'traffic' })).toEqual(
          { changed: true },
        );
        expect(
          await s.registry.setTraffic({
            prompt: 'cs',
            split: [{ version: 'v1', percent: 100 }],
            key: 'g/0',
            actor: 'op',
            reason: 'retry',
            action: 'traffic',
          }),
        ).toEqual({
          changed: false,
        });
        expect(await s.registry.getTraffic('cs')).toEqual([
          { version: 'v1', percent: 25 },
          { version: 'v2', percent: 75 },
        ]);
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v2');
        await s.registry.setTraffic({
          prompt: 'cs',
          split: [{ version: 'v1', percent: 100 }],
          key: 'g/1',
          actor: 'op',
          reason: 'done',
          action: 'traffic',
        });
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v1');
        expect((await s.registry.audit({ prompt: 'cs' })).filter((r) => r.action === 'traffic')).toHaveLength(2);
      });

      it('setTraffic refuses a split that does not sum to 100 or names an unknown version, and changes nothing', async () => {
        await setup();
        const before = await s.registry.getTraffic('cs');
        await expect(
          s.registry.setTraffic({
            prompt: 'cs',
            split: [{ version: 'v1', percent: 60 }],
            key: 'bad',
            actor: 'op',
            reason: 'x',
            action: 'traffic',
          }),
        ).rejects.toMatchObject({ type: 'InvalidRequest' });
        await expect(
          s.registry.setTraffic({
            prompt: 'cs',
            split: [{ version: 'v9', percent: 100 }],
            key: 'bad2',
            actor: 'op',
            reason: 'x',
            action: 'traffic',
          }),
        ).rejects.toMatchObject({ type: 'UnknownVersion' });
        expect(await s.registry.getTraffic('cs')).toEqual(before);
      });

      it('applyRetention archives and purges in one audited step; known-good results are recorded', async () => {
        await setup();
        await s.registry.setKnownGood('cs', 'v1', true, 'qa', 'accuracy 80 %');
        expect((await s.registry.getVersion('cs', 'v1'))?.known_good).toBe(true);
        await s.registry.applyRetention('cs', { archive: ['v1'], purge: [] }, 'retention');
        expect((await s.registry.getVersion('cs', 'v1'))?.state).toBe('archived');
        await s.registry.addVersion({ prompt: 'cs', version: 'v3', template: 'v3' }, 'admin');
        await s.registry.applyRetention('cs', { archive: [], purge: ['v3'] }, 'retention');
        expect(await s.registry.getVersion('cs', 'v3')).toBeUndefined();
        expect((await s.registry.audit({ prompt: 'cs' })).filter((r) => r.action === 'retention')).toHaveLength(2);
      });
    });

    describe('Registry: deployments', () => {
      it('records a deployment and updates its status', async () => {
        const d = {
          deployment_id: 'dep-1',
          prompt: 'cs',
          version: 'v2.0.0',
          strategy: 'canary' as const,
          status: 'pending',
          requested_by: 'alice',
          created_at: '2025-01-01T00:00:00.000Z',
          updated_at: '2025-01-01T00:00:00.000Z',
          from_version: 'v1.9.0',
          detail: { stage: 0 },
        };
        await s.registry.recordDeployment(d);
        expect(await s.registry.getDeployment('dep-1')).toEqual(d);
        await s.registry.recordDeployment({ ...d, status: 'completed', updated_at: '2025-01-01T00:05:00.000Z', detail: { stage: 3 } });
        expect(await s.registry.getDeployment('dep-1')).toMatchObject({
          status: 'completed',
          updated_at: '2025-01-01T00:05:00.000Z',
          detail: { stage: 3 },
        });
        expect(await s.registry.getDeployment('nope')).toBeUndefined();
      });
    });

    describe('One change in flight per prompt (checked in the transaction that makes the change)', () => {
      beforeEach(async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        for (const version of ['v1.9.0', 'v2.0.0', 'v2.1.0']) {
          await s.registry.addVersion({ prompt: 'cs', version, template: `template ${version}` }, 'alice');
        }
        await s.registry.switchActive({ prompt: 'cs', to: 'v2.0.0', action: 'deploy', key: 'dep-0', actor: 'alice', reason: '' });
      });
      const deploy = (to: string, key: string, prompt = 'cs') =>
        s.registry.switchActive({ prompt, to, action: 'deploy', key, actor: 'deployer', reason: 'release' });
      const canary = (id: string, version = 'v2.1.0', prompt = 'cs'): Deployment => ({
        deployment_id: id,
        prompt,
        version,
        strategy: 'canary',
        status: 'rolling_out',
        requested_by: 'deployer',
        created_at: at(0),
        updated_at: at(0),
        from_version: 'v2.0.0',
        detail: { plan: { stages: [1, 5, 25, 100] } },
      });
      const stage = (id: string, n: number, percent: number) =>
        s.registry.setTraffic({
          prompt: 'cs',
          split: [
            { version: 'v2.0.0', percent: 100 - percent },
            { version: 'v2.1.0', percent },
          ],
          key: `${id}/stage-${n}`,
          actor: 'deployer',
          reason: `canary stage ${n + 1}`,
          action: 'canary',
        });

      it('a deploy while a rollback is open is ChangeInFlight naming it, and changes nothing', async () => {
        await s.rollbacks.claim({ ...view('rb-1', 'cs', 0), from_version: 'v2.0.0' });
        const audit = await s.registry.audit({ prompt: 'cs' });
        const err = await rejection(deploy('v2.1.0', 'dep-1'), 'ChangeInFlight');
        expect(err.details).toMatchObject({ rollback_id: 'rb-1' });
        expect(err.message).toContain('rb-1');
        expect((await s.registry.getPrompt('cs'))?.active_version).toBe('v2.0.0');
        expect(await s.registry.audit({ prompt: 'cs' })).toEqual(audit);
        expect((await rejection(s.registry.beginDeployment(canary('dep-c')), 'ChangeInFlight')).details).toMatchObject({
          rollback_id: 'rb-1',
        });
        expect(await s.registry.getDeployment('dep-c')).toBeUndefined();
      });

      it('a deploy (immediate or canary) while a canary rolls out is ChangeInFlight naming the deployment', async () => {
        await s.registry.beginDeployment(canary('dep-c'));
        expect((await s.registry.rollingOut()).map((d) => d.deployment_id)).toEqual(['dep-c']);
        expect((await rejection(deploy('v1.9.0', 'dep-1'), 'ChangeInFlight')).details).toMatchObject({ deployment_id: 'dep-c' });
        expect((await rejection(s.registry.beginDeployment(canary('dep-d')), 'ChangeInFlight')).details).toMatchObject({
          deployment_id: 'dep-c',
        });
        // The canary's own stages and promotion go on.
        expect(await stage('dep-c', 0, 1)).toEqual({ changed: true });
        expect((await deploy('v2.1.0', 'dep-c')).switched).toBe(true);
        // The promoted version already had a share: it now has all of it, and the other version none.
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v2.1.0', percent: 100 }]);
        await s.registry.recordDeployment({ ...canary('dep-c'), status: 'completed', updated_at: at(9) });
        expect(await s.registry.rollingOut()).toEqual([]);
      });

      it("a rollback claim aborts the rolling-out canary at once, naming the rollback; the canary's next stage and promotion are refused and traffic stays", async () => {
        await s.registry.beginDeployment(canary('dep-c'));
        await stage('dep-c', 0, 1);
        // The claim's view names another from_version: the one serving under the prompt's lock is stored.
        const input: RollbackInput = {
          rollback_id: 'rb-1',
          prompt: 'cs',
          target_version: 'v1.9.0',
          reason: 'error rate 30 %',
          severity: 'high',
          mode: 'immediate',
          requested_by: 'alice',
          requested_at: at(0),
          verification: { interval_s: 5, duration_s: 60, max_error_rate: 0.01, min_samples: 10 },
        };
        expect(await s.rollbacks.claim({ ...view('rb-1', 'cs', 0), from_version: 'v1.0.0' }, input)).toEqual({ ok: true });
        expect((await s.rollbacks.get('rb-1'))?.from_version).toBe('v2.0.0');
        expect(await s.rollbacks.startInput('rb-1')).toEqual(input);
        const d = await s.registry.getDeployment('dep-c');
        expect(d?.status).toBe('aborted');
        expect(d?.updated_at).toBe(at(0));
        // The canary's own detail is kept; the abort adds why and by which rollback.
        expect(d?.detail).toMatchObject({ plan: { stages: [1, 5, 25, 100] }, aborted_by_rollback: 'rb-1' });
        expect(String(d?.detail?.reason)).toContain('rb-1');
        expect(String(d?.detail?.reason)).toContain('requested by alice');

        const refused = await rejection(stage('dep-c', 1, 5), 'DeploymentAborted');
        expect(refused.message).toContain('rb-1');
        await rejection(deploy('v2.1.0', 'dep-c'), 'DeploymentAborted');
        expect(await s.registry.getTraffic('cs')).toEqual([
          { version: 'v2.0.0', percent: 99 },
          { version: 'v2.1.0', percent: 1 },
        ]);
        // A late progress write of the canary does not revive it.
        await s.registry.recordDeployment({ ...canary('dep-c'), updated_at: at(5) });
        expect((await s.registry.getDeployment('dep-c'))?.status).toBe('aborted');
        // The rollback itself switches as usual.
        expect(
          (await s.registry.switchActive({ prompt: 'cs', to: 'v1.9.0', action: 'rollback', key: 'rb-1', actor: 'oncall', reason: 'r' }))
            .switched,
        ).toBe(true);
        expect(await s.registry.getTraffic('cs')).toEqual([{ version: 'v1.9.0', percent: 100 }]);
      });

      it('racing deploys and rollback claims (20 trials): never a deploy that lands after the claim', async () => {
        for (let i = 0; i < 20; i++) {
          const prompt = `race-${i}`;
          await s.registry.upsertPrompt({ name: prompt }, 'alice');
          for (const version of ['v1', 'v2']) await s.registry.addVersion({ prompt, version, template: version }, 'alice');
          await deploy('v1', `dep-${i}-a`, prompt);
          const [claim, deployed] = await Promise.allSettled([
            s.rollbacks.claim({ ...view(`rb-${i}`, prompt, i), from_version: 'v1', to_version: 'v1' }),
            deploy('v2', `dep-${i}-b`, prompt),
          ]);
          expect(claim).toEqual({ status: 'fulfilled', value: { ok: true } });
          if (deployed.status === 'fulfilled') {
            // The deploy landed first: the rollback rolls back from what it deployed.
            expect((await s.rollbacks.get(`rb-${i}`))?.from_version, `trial ${i}`).toBe('v2');
          } else {
            expect(deployed.reason, `trial ${i}`).toMatchObject({ type: 'ChangeInFlight', details: { rollback_id: `rb-${i}` } });
            expect((await s.registry.getPrompt(prompt))?.active_version).toBe('v1');
          }
        }
      });

      it('racing canary starts and rollback claims (20 trials): either the canary is refused or the claim aborts it', async () => {
        for (let i = 0; i < 20; i++) {
          const prompt = `crace-${i}`;
          await s.registry.upsertPrompt({ name: prompt }, 'alice');
          for (const version of ['v1', 'v2']) await s.registry.addVersion({ prompt, version, template: version }, 'alice');
          await deploy('v1', `dep-${i}-a`, prompt);
          const [claim, begun] = await Promise.allSettled([
            s.rollbacks.claim(view(`rb-${i}`, prompt, i)),
            s.registry.beginDeployment(canary(`can-${i}`, 'v2', prompt)),
          ]);
          expect(claim.status).toBe('fulfilled');
          const d = await s.registry.getDeployment(`can-${i}`);
          if (begun.status === 'fulfilled') expect(d?.status, `trial ${i}`).toBe('aborted');
          else expect(d, `trial ${i}`).toBeUndefined();
        }
      });

      it('a rollback marks the version left as rolled back from unless told not to (mark_from_rolled_back: false)', async () => {
        await s.registry.switchActive({
          prompt: 'cs',
          to: 'v1.9.0',
          action: 'rollback',
          key: 'rb-1',
          actor: 'oncall',
          reason: 'not the prompt: upstream outage',
          mark_from_rolled_back: false,
        });
        expect((await s.registry.getVersion('cs', 'v2.0.0'))?.rolled_back_from).toBe(false);
        await deploy('v2.1.0', 'dep-2');
        await s.registry.switchActive({ prompt: 'cs', to: 'v1.9.0', action: 'rollback', key: 'rb-2', actor: 'oncall', reason: 'errors' });
        expect((await s.registry.getVersion('cs', 'v2.1.0'))?.rolled_back_from).toBe(true);
      });
    });

    describe('A change and its audit row in one transaction (the reconciler writes them so)', () => {
      const audit = (action: string, s2 = 10): AuditEntry => ({
        at: at(s2),
        actor: 'system:reconciler',
        action,
        prompt: 'cs',
        from_version: 'v2.0.0',
        to_version: 'v1.9.0',
        reason: 'its workflow is terminated without having recorded an outcome',
        detail: { n: 1 },
      });
      /** An audit row the store cannot write (a NOT NULL column left empty): the change must not be written either. */
      const unwritable = (action: string): AuditEntry => ({ ...audit(action), at: null as unknown as string });
      const actions = async () => (await s.registry.audit({ prompt: 'cs' })).map((r) => r.action);

      it('rollbacks.save with an audit row writes both; if the row cannot be written, neither (the rollback stays open)', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        const open = view('rb-a', 'cs', 0);
        await s.rollbacks.claim(open);
        const released: RollbackView = { ...open, status: 'failed', updated_at: at(10) };
        await expect(s.rollbacks.save(released, unwritable('rollback.released'))).rejects.toThrow();
        expect(await s.rollbacks.get('rb-a')).toEqual(open);
        expect(await s.rollbacks.openFor('cs')).toBe('rb-a');
        expect(await actions()).not.toContain('rollback.released');

        await s.rollbacks.save(released, audit('rollback.released'));
        expect(await s.rollbacks.get('rb-a')).toEqual(released);
        expect(await s.rollbacks.openFor('cs')).toBeUndefined();
        expect(await s.registry.audit({ prompt: 'cs' })).toContainEqual(expect.objectContaining({ ...audit('rollback.released') }));
      });

      it('rollbacks.save that writes nothing (older than the stored state) writes no audit row', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        await s.rollbacks.claim(view('rb-a', 'cs', 0));
        const newer: RollbackView = { ...view('rb-a', 'cs', 0, 'completed'), updated_at: at(20) };
        await s.rollbacks.save(newer);
        await s.rollbacks.save({ ...view('rb-a', 'cs', 0, 'failed'), updated_at: at(10) }, audit('rollback.released'));
        expect(await s.rollbacks.get('rb-a')).toEqual(newer);
        expect(await actions()).not.toContain('rollback.released');
      });

      it('recordDeployment with an audit row writes both, neither when the row cannot be written, and no row for an ended one', async () => {
        await s.registry.upsertPrompt({ name: 'cs' }, 'alice');
        const d: Deployment = {
          deployment_id: 'dep-1',
          prompt: 'cs',
          version: 'v2.0.0',
          strategy: 'canary',
          status: 'rolling_out',
          requested_by: 'alice',
          created_at: at(0),
          updated_at: at(0),
          from_version: 'v1.9.0',
          detail: { stage: 1 },
        };
        await s.registry.recordDeployment(d);
        const failed: Deployment = {
          ...d,
          status: 'failed',
          updated_at: at(10),
          detail: { stage: 1, reason: 'its canary workflow is gone' },
        };
        await expect(s.registry.recordDeployment(failed, unwritable('deployment.failed'))).rejects.toThrow();
        expect(await s.registry.getDeployment('dep-1')).toEqual(d);
        expect(await actions()).not.toContain('deployment.failed');

        await s.registry.recordDeployment(failed, audit('deployment.failed'));
        expect(await s.registry.getDeployment('dep-1')).toEqual(failed);
        expect((await actions()).filter((a) => a === 'deployment.failed')).toHaveLength(1);
        // Ended: a later write of another status changes nothing, so it records nothing; nor does the same status
        // again (the canary recorded its own end meanwhile: its reason stays, and the change is on record once).
        await s.registry.recordDeployment({ ...failed, status: 'completed', updated_at: at(20) }, audit('deployment.completed'));
        await s.registry.recordDeployment({ ...failed, updated_at: at(30), detail: { reason: 'again' } }, audit('deployment.failed'));
        expect(await s.registry.getDeployment('dep-1')).toEqual(failed);
        expect(await actions()).not.toContain('deployment.completed');
        expect((await actions()).filter((a) => a === 'deployment.failed')).toHaveLength(1);
      });

      it('monitors.record writes the row and its audit row together, only over the status it was read with', async () => {
        const m = {
          prompt: 'cs',
          workflow_id: 'monitor/cs',
          status: 'pending' as const,
          interval_s: 30,
          started_by: 'alice',
          started_at: at(0),
          stopped_by: null,
          updated_at: at(0),
        };
        await s.monitors.upsert(m);
        const running = { ...m, status: 'running' as const, started_at: at(10), updated_at: at(10) };
        await expect(s.monitors.record(running, unwritable('monitor.start'), 'pending')).rejects.toThrow();
        expect(await s.monitors.get('cs')).toMatchObject({ status: 'pending', started_at: at(0) });
        expect(await actions()).not.toContain('monitor.start');

        expect(await s.monitors.record(running, audit('monitor.start'), 'pending')).toBe(true);
        expect(await s.monitors.get('cs')).toMatchObject({ status: 'running', started_at: at(10) });
        expect(await actions()).toContain('monitor.start');
        // Read as pending, but running since (or stopped by an operator): the newer row stays, nothing is recorded.
        expect(await s.monitors.record({ ...running, started_at: at(20) }, audit('monitor.recorded'), 'pending')).toBe(false);
        await s.monitors.upsert({ ...running, status: 'stopped', stopped_by: 'olga', updated_at: at(30) });
        expect(await s.monitors.record({ ...running, started_at: at(40) }, audit('monitor.recorded'), 'running')).toBe(false);
        expect(await s.monitors.get('cs')).toMatchObject({ status: 'stopped', stopped_by: 'olga' });
        // Read as missing: written only while there is still no row.
        expect(await s.monitors.record({ ...running, started_at: at(50) }, audit('monitor.recorded'), null)).toBe(false);
        expect(await s.monitors.record({ ...running, prompt: 'other' }, { ...audit('monitor.recorded'), prompt: 'other' }, null)).toBe(
          true,
        );
        expect(await s.monitors.get('other')).toMatchObject({ status: 'running' });
        expect(await actions()).not.toContain('monitor.recorded');
      });
    });

    describe('RollbackStore', () => {
      it('claim records an open rollback that get and openFor return', async () => {
        const a = view('rb-a', 'cs', 0);
        expect(await s.rollbacks.claim(a)).toEqual({ ok: true });
        expect(await s.rollbacks.get('rb-a')).toEqual(a);
        expect(await s.rollbacks.openFor('cs')).toBe('rb-a');
        expect(await s.rollbacks.openFor('other')).toBeUndefined();
        expect(await s.rollbacks.get('nope')).toBeUndefined();
      });

      it("getBySuffix finds a prompt's rollback by the last part of its id, on that prompt only", async () => {
        const a = view('20260101-000000-ab12cd34', 'cs', 0);
        await s.rollbacks.claim(a);
        expect(await s.rollbacks.getBySuffix('cs', 'ab12cd34')).toEqual(a);
        expect(await s.rollbacks.getBySuffix('other', 'ab12cd34')).toBeUndefined();
        expect(await s.rollbacks.getBySuffix('cs', 'b12cd34')).toBeUndefined(); // the whole part, after the dash
        expect(await s.rollbacks.getBySuffix('cs', '00000000')).toBeUndefined();
      });

      it('one open rollback per prompt: a second claim names the one in flight and stores nothing', async () => {
        await s.rollbacks.claim(view('rb-a', 'cs', 0));
        expect(await s.rollbacks.claim(view('rb-b', 'cs', 1))).toEqual({ ok: false, open_rollback_id: 'rb-a' });
        expect(await s.rollbacks.get('rb-b')).toBeUndefined();
        expect(await s.rollbacks.openFor('cs')).toBe('rb-a');
        // Another prompt is not blocked.
        expect(await s.rollbacks.claim(view('rb-c', 'other', 2))).toEqual({ ok: true });
      });

      it('racing claims for one prompt: exactly one wins, the others name it', async () => {
        const results = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id, i) => s.rollbacks.claim(view(id, 'cs', i))));
        const winners = results.filter((r) => r.ok);
        expect(winners).toHaveLength(1);
        const open = await s.rollbacks.openFor('cs');
        expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 3 }, () => ({ ok: false, open_rollback_id: open })));
      });

      it('claiming the same rollback again (a retry) succeeds', async () => {
        await s.rollbacks.claim(view('rb-a', 'cs', 0));
        expect(await s.rollbacks.claim(view('rb-a', 'cs', 0))).toEqual({ ok: true });
      });

      it.each(ROLLBACK_STATUSES.filter((st) => isTerminal(st)))(
        'saving status %s releases the prompt for the next rollback',
        async (status) => {
          const a = view('rb-a', 'cs', 0);
          await s.rollbacks.claim(a);
          await s.rollbacks.save({ ...a, status, updated_at: at(10) });
          expect(await s.rollbacks.openFor('cs')).toBeUndefined();
          expect(await s.rollbacks.claim(view('rb-b', 'cs', 20))).toEqual({ ok: true });
          expect(await s.rollbacks.openFor('cs')).toBe('rb-b');
          expect((await s.rollbacks.get('rb-a'))?.status).toBe(status);
        },
      );

      it.each(ROLLBACK_STATUSES.filter((st) => !isTerminal(st)))('saving status %s keeps the prompt blocked', async (status) => {
        const a = view('rb-a', 'cs', 0);
        await s.rollbacks.claim(a);
        await s.rollbacks.save({ ...a, status, updated_at: at(10) });
        expect(await s.rollbacks.openFor('cs')).toBe('rb-a');
        expect(await s.rollbacks.claim(view('rb-b', 'cs', 20))).toEqual({ ok: false, open_rollback_id: 'rb-a' });
      });

      it('save keeps the whole view: timeline, verification, decided_by', async () => {
        const a = view('rb-a', 'cs', 0);
        await s.rollbacks.claim(a);
        const later: RollbackView = {
          ...a,
          status: 'verifying',
          decided_by: 'bob',
          timeline: [{ at: at(5), event: 'switched', detail: { from_version: 'v2.0.0', to_version: 'v1.9.0' } }],
          verification: { checks: [], result: 'pending' },
          updated_at: at(5),
        };
        await s.rollbacks.save(later);
        expect(await s.rollbacks.get('rb-a')).toEqual(later);
      });

      it('save never overwrites a newer state with an older one', async () => {
        const a = view('rb-a', 'cs', 0);
        await s.rollbacks.claim(a);
        await s.rollbacks.save({ ...a, status: 'verifying', updated_at: at(20) });
        await s.rollbacks.save({ ...a, status: 'rolling_back', updated_at: at(10) });
        expect(await s.rollbacks.get('rb-a')).toMatchObject({ status: 'verifying', updated_at: at(20) });

        await s.rollbacks.save({ ...a, status: 'completed', updated_at: at(30) });
        // A stale, retried write of an open status does not reopen a finished rollback.
        await s.rollbacks.save({ ...a, status: 'verifying', updated_at: at(25) });
        expect(await s.rollbacks.get('rb-a')).toMatchObject({ status: 'completed', updated_at: at(30) });
        expect(await s.rollbacks.openFor('cs')).toBeUndefined();
        expect(await s.rollbacks.claim(view('rb-b', 'cs', 40))).toEqual({ ok: true });
      });

      it('save of an unclaimed rollback stores it', async () => {
        const a = { ...view('rb-a', 'cs', 0), status: 'failed' as const };
        await s.rollbacks.save(a);
        expect(await s.rollbacks.get('rb-a')).toEqual(a);
      });

      it('list is newest first and filters by prompt and status', async () => {
        // Requested at t=0 (cs, completed), t=20 (other, open), t=10 (cs, open): a list by insertion order would differ.
        await s.rollbacks.claim(view('rb-old', 'cs', 0));
        await s.rollbacks.save({ ...view('rb-old', 'cs', 0), status: 'completed', updated_at: at(5) });
        await s.rollbacks.claim(view('rb-new', 'other', 20));
        await s.rollbacks.claim(view('rb-mid', 'cs', 10));

        expect((await s.rollbacks.list({})).map((r) => r.rollback_id)).toEqual(['rb-new', 'rb-mid', 'rb-old']);
        expect((await s.rollbacks.list({ prompt: 'cs' })).map((r) => r.rollback_id)).toEqual(['rb-mid', 'rb-old']);
        expect((await s.rollbacks.list({ status: 'completed' })).map((r) => r.rollback_id)).toEqual(['rb-old']);
        expect((await s.rollbacks.list({ prompt: 'cs', status: 'rolling_back' })).map((r) => r.rollback_id)).toEqual(['rb-mid']);
        expect(await s.rollbacks.list({ prompt: 'other', status: 'completed' })).toEqual([]);
        expect((await s.rollbacks.list({ limit: 2 })).map((r) => r.rollback_id)).toEqual(['rb-new', 'rb-mid']);
        expect((await s.rollbacks.list({})).find((r) => r.rollback_id === 'rb-old')?.status).toBe('completed');
      });
    });

    metricsStoreTests(() => s);
  });
}

/** Awaits a promise that must reject with a DomainError of `type`, and returns the error. */
async function rejection(p: Promise<unknown>, type: DomainErrorType): Promise<DomainError> {
  const outcome = await p.then(
    (value: unknown) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a ${type} DomainError, but it resolved with ${JSON.stringify(outcome.resolved)}`);
  expect(isDomainError(outcome.error), `expected a DomainError, got ${String(outcome.error)}`).toBe(true);
  const err = outcome.error as DomainError;
  expect(err.type).toBe(type);
  return err;
}

const BASE = Date.parse('2025-01-01T00:00:00.000Z');
const at = (s: number): string => new Date(BASE + s * 1000).toISOString();

/** A rollback requested `s` seconds after BASE, open (rolling back). */
function view(rollback_id: string, prompt: string, s: number, status: RollbackStatus = 'rolling_back'): RollbackView {
  return {
    rollback_id,
    workflow_id: `rollback/${prompt}/${rollback_id}`,
    prompt,
    from_version: 'v2.0.0',
    to_version: 'v1.9.0',
    reason: 'error rate 30 %',
    severity: 'high',
    mode: 'immediate',
    status,
    requested_by: 'alice',
    requested_at: at(s),
    timeline: [],
    updated_at: at(s),
  };
}

/** Lets a real clock move on, so "oldest first" is well defined whatever clock the adapter was given. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));

/** The MetricsStore part of the contract, for a store that stands alone (another way of writing the same tables). */
export function metricsContract(name: string, open: () => Promise<Pick<ContractStores, 'metrics' | 'close'>>): void {
  describe(`store contract: ${name}`, () => {
    let s: Pick<ContractStores, 'metrics' | 'close'>;
    beforeEach(async () => {
      s = await open();
    });
    afterEach(async () => {
      await s.close();
    });
    metricsStoreTests(() => s);
  });
}

function metricsStoreTests(stores: () => { metrics: MetricsStore }): void {
  const s = {
    get metrics() {
      return stores().metrics;
    },
  };
  describe('MetricsStore', () => {
    // Window bounds are never on whole seconds in production (a monitor reads [now - 300 s, now)): nor here.
    const T0 = Date.parse('2025-03-01T12:00:00.437Z');
    const from = new Date(T0);
    const to = new Date(T0 + 300_000);
    const ev = (over: Partial<MetricEvent> & { ms: number }): MetricEvent => {
      const { ms, ...rest } = over;
      return { prompt: 'cs', version: 'v2.0.0', ok: true, latency_ms: 500, at: new Date(T0 + ms), ...rest };
    };

    it('an empty window has zero requests and nulls, never zeros that look healthy', async () => {
      expect(await s.metrics.window('cs', 'v2.0.0', from, to)).toMatchObject({
        requests: 0,
        errors: 0,
        error_rate: null,
        latency_ms: { p50: null, p95: null, p99: null },
        quality_mean: null,
        window_s: 300,
      });
    });

    it('counts requests and errors, and the error rate', async () => {
      const events = Array.from({ length: 1_000 }, (_, i) => ev({ ms: 1_000 + i * 298, ok: i % 40 !== 0 }));
      expect(await s.metrics.ingest(events)).toBe(1_000);
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w).toMatchObject({ requests: 1_000, errors: 25, window_s: 300 });
      expect(w.error_rate).toBeCloseTo(0.025, 10);
    });

    it('p50 and p99 are within 2 % of the exact values', async () => {
      // Latencies 100, 101, …, 1099 ms in a shuffled order: exact p50 = 599, p99 = 1089 (nearest rank).
      const latencies = Array.from({ length: 1_000 }, (_, i) => 100 + ((i * 337) % 1_000));
      await s.metrics.ingest(latencies.map((latency_ms, i) => ev({ ms: 1_000 + i * 250, latency_ms })));
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(Math.abs(w.latency_ms.p50! - 599) / 599).toBeLessThanOrEqual(0.02);
      expect(Math.abs(w.latency_ms.p99! - 1089) / 1089).toBeLessThanOrEqual(0.02);
      expect(w.latency_ms.p95!).toBeGreaterThan(w.latency_ms.p50!);
    });

    it('quality_mean averages only the events that carry a quality score', async () => {
      await s.metrics.ingest([
        ev({ ms: 1_000, quality: 0.9 }),
        ev({ ms: 2_000, quality: 0.6 }),
        ev({ ms: 3_000 }),
        ev({ ms: 90_000, quality: 0.3 }),
      ]);
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w.requests).toBe(4);
      expect(w.quality_mean).toBeCloseTo(0.6, 10);
    });

    it('quality_mean is null when no event carried a score', async () => {
      await s.metrics.ingest([ev({ ms: 1_000 })]);
      expect((await s.metrics.window('cs', 'v2.0.0', from, to)).quality_mean).toBeNull();
    });

    it('the window is [from, to) to the second: the seconds it touches count whole, none beyond them', async () => {
      // from = 12:00:00.437, to = 12:05:00.437: the seconds 12:00:00 … 12:05:00 count.
      await s.metrics.ingest([
        ev({ ms: -600_000, ok: false }),
        ev({ ms: -438, ok: false }), // 11:59:59.999
        ev({ ms: -437 }), // 12:00:00.000
        ev({ ms: -1 }),
        ev({ ms: 0 }),
        ev({ ms: 150_000 }),
        ev({ ms: 299_999 }),
        ev({ ms: 300_000 }), // 12:05:00.437
        ev({ ms: 300_562 }), // 12:05:00.999
        ev({ ms: 300_563, ok: false }), // 12:05:01.000
        ev({ ms: 360_000, ok: false }),
      ]);
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w).toMatchObject({ requests: 7, errors: 0, error_rate: 0, window_s: 300 });
    });

    it('traffic right after a window starts (verification since a switch) is never lost to the bucket edge', async () => {
      const since = new Date(T0 + 10_463); // 12:00:10.900
      await s.metrics.ingest([ev({ ms: 10_513 }), ev({ ms: 10_600, ok: false })]); // 12:00:10.950, 12:00:11.037
      const w = await s.metrics.window('cs', 'v2.0.0', since, new Date(T0 + 11_100.5));
      expect(w).toMatchObject({ requests: 2, errors: 1 });
    });

    it('a window ending now, at any millisecond, reads what was just ingested', async () => {
      const now = new Date();
      await s.metrics.ingest([
        { prompt: 'cs', version: 'v2.0.0', ok: false, latency_ms: 800, at: new Date(now.getTime() - 2_500) },
        { prompt: 'cs', version: 'v2.0.0', ok: true, latency_ms: 800, at: new Date(now.getTime() - 1_000) },
      ]);
      const w = await s.metrics.window('cs', 'v2.0.0', new Date(now.getTime() - 300_000.5), new Date(now.getTime() + 0.25));
      expect(w).toMatchObject({ requests: 2, errors: 1, error_rate: 0.5 });
      expect(await s.metrics.lastWindow('cs', 'v2.0.0', 300)).toMatchObject({ requests: 2, errors: 1 });
    });

    it('concurrent batches into the same seconds all count: nothing acknowledged is lost', async () => {
      // 20 writers, 100 events each, over the same 3 seconds: every count, sum and latency bin is merged, not replaced.
      const batches = Array.from({ length: 20 }, (_, b) =>
        Array.from({ length: 100 }, (_, i) =>
          ev({ ms: 10_000 + (i % 3) * 1_000, ok: (b * 100 + i) % 10 !== 0, latency_ms: b < 10 ? 100 : 1_000, quality: b < 10 ? 1 : 0 }),
        ),
      );
      const acks = await Promise.all(batches.map((batch) => s.metrics.ingest(batch)));
      expect(acks).toEqual(Array.from({ length: 20 }, () => 100));
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w).toMatchObject({ requests: 2_000, errors: 200, quality_samples: 2_000 });
      expect(w.quality_mean).toBeCloseTo(0.5, 10);
      // Half the events at 100 ms, half at 1 s: p50 is ~100 ms, p99 ~1 s, only if every batch's bins were kept.
      expect(Math.abs(w.latency_ms.p50! - 100) / 100).toBeLessThanOrEqual(0.02);
      expect(Math.abs(w.latency_ms.p99! - 1_000) / 1_000).toBeLessThanOrEqual(0.02);
    });

    it("a version's window does not include other versions or other prompts", async () => {
      await s.metrics.ingest([
        ev({ ms: 1_000 }),
        ev({ ms: 1_000, version: 'v1.9.0', ok: false, latency_ms: 9_000, quality: 0.1 }),
        ev({ ms: 1_000, prompt: 'other', ok: false, latency_ms: 9_000, quality: 0.1 }),
      ]);
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w).toMatchObject({ requests: 1, errors: 0, quality_mean: null });
      expect(w.latency_ms.p99!).toBeLessThan(1_000);
      expect(await s.metrics.window('cs', 'v1.9.0', from, to)).toMatchObject({ requests: 1, errors: 1, quality_mean: 0.1 });
      expect(await s.metrics.window('other', 'v2.0.0', from, to)).toMatchObject({ requests: 1, errors: 1 });
    });

    it('separate batches for the same moments add up', async () => {
      await s.metrics.ingest([ev({ ms: 1_000, latency_ms: 100, quality: 1 }), ev({ ms: 2_000, ok: false, latency_ms: 100 })]);
      await s.metrics.ingest([ev({ ms: 1_000, latency_ms: 2_000, quality: 0 }), ev({ ms: 2_500, latency_ms: 2_000 })]);
      const w = await s.metrics.window('cs', 'v2.0.0', from, to);
      expect(w).toMatchObject({ requests: 4, errors: 1, error_rate: 0.25, quality_mean: 0.5 });
      expect(Math.abs(w.latency_ms.p99! - 2_000) / 2_000).toBeLessThanOrEqual(0.02);
      expect(Math.abs(w.latency_ms.p50! - 100) / 100).toBeLessThanOrEqual(0.02);
    });

    it('a batch spread over many seconds is stored whole', async () => {
      // 10,000 events, one per 29 ms over ~290 s, latencies over the whole histogram range.
      const events = Array.from({ length: 10_000 }, (_, i) =>
        ev({ ms: 1_000 + i * 29, ok: i % 100 !== 0, latency_ms: (i * 7919) % 60_000 }),
      );
      expect(await s.metrics.ingest(events)).toBe(10_000);
      expect(await s.metrics.window('cs', 'v2.0.0', from, to)).toMatchObject({ requests: 10_000, errors: 100 });
    });

    it('an empty batch stores nothing', async () => {
      expect(await s.metrics.ingest([])).toBe(0);
      expect((await s.metrics.window('cs', 'v2.0.0', from, to)).requests).toBe(0);
    });
  });
}
