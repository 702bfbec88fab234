import { PostgresAdapter, sql, type Kysely, type Selectable } from 'kysely';
import { DomainError } from '../../domain/errors';
import { BUILTIN_METRICS, type PromptMetrics } from '../../domain/metrics-provider';
import { isValidSplit, type TrafficShare } from '../../domain/traffic';
import type { Clock } from '../../ports/clock';
import type { PromptNotify } from '../../ports/notifier';
import type {
  AuditEntry,
  AuditRow,
  Deployment,
  PromptInput,
  PromptRecord,
  Registry,
  SwitchRequest,
  SwitchResult,
  TrafficRequest,
  VersionInput,
  VersionRecord,
  VersionRef,
} from '../../ports/registry';
import { DEPLOYMENT_DONE, isUniqueViolation, json, lockedPrompt, lockPrompt, parseJson, pgLiteral, pgScriptResults } from '../sql/db';
import type { Database } from '../sql/schema';
import { auditValues, changeWithAudit, insertAudit } from '../sql/audit';

type Tx = Kysely<Database>;

const toPrompt = (r: Selectable<Database['prompts']>): PromptRecord => ({
  name: r.name,
  description: r.description,
  owner: r.owner,
  related: parseJson<string[]>(r.related, []),
  policy: parseJson<Record<string, unknown>>(r.policy, {}),
  metrics: parseJson<PromptMetrics>(r.metrics, BUILTIN_METRICS),
  notify: parseJson<PromptNotify | null>(r.notify, null),
  active_version: r.active_version,
  created_at: r.created_at,
  updated_at: r.updated_at,
});

const toVersion = (r: Selectable<Database['versions']>): VersionRecord => ({
  prompt: r.prompt,
  version: r.version,
  template: r.template,
  metadata: parseJson<Record<string, unknown>>(r.metadata, {}),
  created_at: r.created_at,
  deployed_at: r.deployed_at,
  state: r.state === 'archived' ? 'archived' : 'hot',
  known_good: r.known_good === null ? null : Number(r.known_good) === 1,
  rolled_back_from: Number(r.rolled_back_from) === 1,
});

const toAudit = (r: Selectable<Database['audit_log']>): AuditRow => ({
  id: Number(r.id),
  at: r.at,
  actor: r.actor,
  action: r.action,
  prompt: r.prompt,
  from_version: r.from_version,
  to_version: r.to_version,
  reason: r.reason,
  rollback_id: r.rollback_id,
  detail: parseJson<Record<string, unknown>>(r.detail, {}),
});

const toDeployment = (row: Selectable<Database['deployments']>): Deployment => ({
  ...row,
  strategy: row.strategy === 'canary' ? 'canary' : 'immediate',
  detail: parseJson<Record<string, unknown>>(row.detail, {}),
});

/** The registry on SQLite or Postgres through one kysely code path. */
export class SqlRegistry implements Registry {
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  /** Called after every commit that changes what `resolve` answers (switches, splits, versions, retention). */
  onRoutesChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  private routesChanged(): void {
    for (const l of this.listeners) l();
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  async upsertPrompt(input: PromptInput, actor: string): Promise<{ created: boolean; prompt: PromptRecord }> {
    const result = await this.db.transaction().execute(async (tx) => {
      const at = this.now();
      const existing = await tx.selectFrom('prompts').selectAll().where('name', '=', input.name).executeTakeFirst();
      if (!existing) {
        await tx
          .insertInto('prompts')
          .values({
            name: input.name,
            description: input.description ?? '',
            owner: input.owner ?? null,
            related: json(input.related ?? []),
            policy: json(input.policy ?? {}),
            metrics: json(input.metrics ?? BUILTIN_METRICS),
            notify: input.notify ? json(input.notify) : null,
            active_version: null,
            created_at: at,
            updated_at: at,
          })
          .execute();
      } else {
        await tx
          .updateTable('prompts')
          .set({
            description: input.description ?? existing.description,
            owner: input.owner === undefined ? existing.owner : input.owner,
            related: input.related === undefined ? existing.related : json(input.related),
            policy: input.policy === undefined ? existing.policy : json(input.policy),
            metrics: input.metrics === undefined ? existing.metrics : json(input.metrics),
            notify: input.notify === undefined ? existing.notify : input.notify ? json(input.notify) : null,
            updated_at: at,
          })
          .where('name', '=', input.name)
          .execute();
      }
      await insertAudit(tx, {
        at,
        actor,
        action: existing ? 'prompt.update' : 'prompt.create',
        prompt: input.name,
        from_version: null,
        to_version: null,
        reason: '',
        detail: { ...input },
      });
      const row = await tx.selectFrom('prompts').selectAll().where('name', '=', input.name).executeTakeFirstOrThrow();
      return { created: !existing, prompt: toPrompt(row) };
    });
    this.routesChanged();
    return result;
  }

  async getPrompt(name: string): Promise<PromptRecord | undefined> {
    const row = await this.db.selectFrom('prompts').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toPrompt(row);
  }

  async listPrompts(): Promise<PromptRecord[]> {
    const rows = await this.db.selectFrom('prompts').selectAll().orderBy('name').execute();
    return rows.map(toPrompt);
  }

  async addVersion(input: VersionInput, actor: string): Promise<VersionRecord> {
    return this.db.transaction().execute(async (tx) => {
      await this.requirePrompt(tx, input.prompt);
      const dup = await this.findVersion(tx, input.prompt, input.version);
      if (dup) {
        throw new DomainError(
          'VersionExists',
          `version ${input.version} of ${input.prompt} already exists; versions are immutable, register a new one`,
          {
            prompt: input.prompt,
            version: input.version,
          },
        );
      }
      const at = this.now();
      const last = await tx
        .selectFrom('versions')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('prompt', '=', input.prompt)
        .executeTakeFirst();
      await tx
        .insertInto('versions')
        .values({
          seq: Number(last?.seq ?? 0) + 1,
          prompt: input.prompt,
          version: input.version,
          template: input.template,
          metadata: json(input.metadata ?? {}),
          created_at: at,
          deployed_at: null,
          state: 'hot',
          known_good: null,
          rolled_back_from: 0,
        })
        .execute();
      await insertAudit(tx, {
        at,
        actor,
        action: 'version.create',
        prompt: input.prompt,
        from_version: null,
        to_version: input.version,
        reason: '',
        detail: { metadata: input.metadata ?? {} },
      });
      const row = await tx
        .selectFrom('versions')
        .selectAll()
        .where('prompt', '=', input.prompt)
        .where('version', '=', input.version)
        .executeTakeFirstOrThrow();
      return toVersion(row);
    });
  }

  async getVersion(prompt: string, version: string): Promise<VersionRecord | undefined> {
    const row = await this.db
      .selectFrom('versions')
      .selectAll()
      .where('prompt', '=', prompt)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toVersion(row);
  }

  async missingVersions(pairs: readonly VersionRef[]): Promise<(VersionRef & { prompt_exists: boolean })[]> {
    if (pairs.length === 0) return [];
    const prompts = [...new Set(pairs.map((p) => p.prompt))];
    const versions = [...new Set(pairs.map((p) => p.version))];
    // Both IN lists over the primary key: one indexed query whatever the batch, exact pairs picked out here.
    const rows = await this.db
      .selectFrom('versions')
      .select(['prompt', 'version'])
      .where('prompt', 'in', prompts)
      .where('version', 'in', versions)
      .execute();
    const found = new Set(rows.map((r) => `${r.prompt}\u0000${r.version}`));
    const missing = pairs.filter((p) => !found.has(`${p.prompt}\u0000${p.version}`));
    if (missing.length === 0) return [];
    const known = await this.db
      .selectFrom('prompts')
      .select('name')
      .where('name', 'in', [...new Set(missing.map((p) => p.prompt))])
      .execute();
    const knownNames = new Set(known.map((r) => r.name));
    return missing.map((p) => ({ prompt: p.prompt, version: p.version, prompt_exists: knownNames.has(p.prompt) }));
  }

  async listVersions(prompt: string): Promise<VersionRecord[]> {
    const rows = await this.db
      .selectFrom('versions')
      .selectAll()
      .where('prompt', '=', prompt)
      .orderBy('seq')
      .orderBy('created_at')
      .execute();
    return rows.map(toVersion);
  }

  async getTraffic(prompt: string): Promise<TrafficShare[]> {
    const rows = await this.db
      .selectFrom('traffic')
      .select(['version', 'percent'])
      .where('prompt', '=', prompt)
      .where('percent', '>', 0)
      // A fixed order, whatever the shares: as a split shifts, keys only move from the shrinking version.
      .orderBy('version')
      .execute();
    return rows.map((r) => ({ version: r.version, percent: Number(r.percent) }));
  }

  async switchActive(req: SwitchRequest): Promise<SwitchResult> {
    try {
      const r = (req.action === 'rollback' ? await this.rollbackInOneRoundTrip(req) : undefined) ?? (await this.switchOnce(req));
      this.routesChanged();
      return r;
    } catch (e) {
      // Two concurrent calls with one key (Postgres runs them in parallel): the loser sees the winner's row.
      if (!isUniqueViolation(e)) throw e;
      const done = await this.db.selectFrom('audit_log').selectAll().where('switch_key', '=', req.key).executeTakeFirst();
      if (!done) throw e;
      return alreadySwitched(done, req.to);
    }
  }

  /**
   * Postgres: a rollback's switch in one round trip (not six), as three statements in one message: one implicit
   * transaction, all or nothing. The first takes the prompt's lock, in the order every change of a prompt takes it. The
   * second, with a snapshot taken once the lock is granted (it sees every change that committed before), does the
   * switch unless this key's switch is already written: the version hot again, active, all traffic, the version it
   * replaces marked rolled back from, and the audit row with that version as from_version. The third reads this key's
   * audit row and whether the prompt exists, for the answer. The same rows and answers as switchOnce (the registry
   * contract runs this on Postgres, switchOnce on SQLite), with two differences. The switch's time is read from the
   * clock before the message is sent, not once the lock is granted; so that a wait for the lock never puts it before
   * the prompt's last change, it is the latest of that time, the prompt's updated_at and its last audit row's.
   * And a rollback that switches nothing (its key's switch written, an unknown prompt or version) still commits its
   * statements, with no row changed (which move no route_version counter). Undefined where there is no such round trip
   * (SQLite, or a handle openDb did not make).
   */
  private async rollbackInOneRoundTrip(req: SwitchRequest): Promise<SwitchResult | undefined> {
    if (!(this.db.getExecutor().adapter instanceof PostgresAdapter)) return undefined;
    const v = pgLiteral;
    const now = this.now();
    const [p, to, key, at] = [v(req.prompt), v(req.to), v(req.key), v(now)];
    const mark = req.mark_from_rolled_back !== false;
    const audit = auditValues({
      at: now,
      actor: req.actor,
      action: req.action,
      prompt: req.prompt,
      from_version: null,
      to_version: req.to,
      reason: req.reason,
      rollback_id: req.key,
      switch_key: req.key,
      detail: req.detail ?? {},
    });
    const results = await pgScriptResults(this.db, [
      `select 1 from prompts where name = ${p} for update`,
      `with locked as (select active_version, updated_at from prompts where name = ${p}),
      stamp as (
        select greatest(${at} collate "C", coalesce((select updated_at from locked), ''),
          coalesce((select at from audit_log where prompt = ${p} order by id desc limit 1), '')) as at
      ),
      target as (
        update versions set state = 'hot'
        where prompt = ${p} and version = ${to} and not exists (select 1 from audit_log where switch_key = ${key})
        returning version
      ),
      active as (
        update prompts set active_version = ${to}, updated_at = (select at from stamp) where name = ${p} and exists (select 1 from target)
        returning name
      ),
      others as (delete from traffic where prompt = ${p} and version <> ${to} and exists (select 1 from target) returning version),
      all_traffic as (
        insert into traffic (prompt, version, percent) select ${p}, ${to}, 100 where exists (select 1 from target)
        on conflict (prompt, version) do update set percent = 100 returning version
      ),
      marked as (
        update versions set rolled_back_from = 1
        where prompt = ${p} and ${mark ? 'true' : 'false'} and version = (select active_version from locked)
          and version <> ${to} and exists (select 1 from target)
        returning version
      )
      insert into audit_log (at, actor, action, prompt, from_version, to_version, reason, rollback_id, switch_key, detail)
      select (select at from stamp), ${v(audit.actor)}, ${v(audit.action)}, ${p}, (select active_version from locked), ${to}, ${v(audit.reason)},
        ${key}, ${key}, ${v(audit.detail)}
      where exists (select 1 from target)
      returning from_version, at`,
      `select (select json_build_object('from_version', from_version, 'to_version', to_version, 'at', at) from audit_log where switch_key = ${key}) as done,
        exists (select 1 from prompts where name = ${p}) as prompt_exists`,
    ]);
    if (!results) return undefined;
    const made = results[1]?.[0] as { from_version: string | null; at: string } | undefined;
    if (made) return { switched: true, from: made.from_version, to: req.to, at: made.at };
    const { done, prompt_exists } = results[2]![0] as {
      done: { from_version: string | null; to_version: string | null; at: string } | null;
      prompt_exists: boolean;
    };
    if (done) return alreadySwitched(done, req.to);
    throw prompt_exists ? unknownVersion(req.prompt, req.to) : unknownPrompt(req.prompt);
  }

  private async switchOnce(req: SwitchRequest): Promise<SwitchResult> {
    return this.db.transaction().execute(async (tx) => {
      const done = await tx.selectFrom('audit_log').selectAll().where('switch_key', '=', req.key).executeTakeFirst();
      if (done) return alreadySwitched(done, req.to);
      // Locked and read in one statement: a switch is as few round trips to the store as it can be.
      const prompt = await this.requirePrompt(tx, req.prompt, { lock: true });
      if (req.action === 'deploy') {
        // A canary's promotion carries its deployment id as the key; an immediate deploy has no row yet.
        const own = await tx.selectFrom('deployments').selectAll().where('deployment_id', '=', req.key).executeTakeFirst();
        if (own) this.refuseIfAborted(own);
        await this.refuseIfChangeInFlight(tx, req.prompt, req.key);
      }
      // Switching to an archived version restores it: it is hot again (and a version that is not there updates nothing).
      const version = await tx
        .updateTable('versions')
        .set({ state: 'hot' })
        .where('prompt', '=', req.prompt)
        .where('version', '=', req.to)
        .returning('version')
        .executeTakeFirst();
      if (!version) {
        throw unknownVersion(req.prompt, req.to);
      }
      const at = this.now();
      const from = prompt.active_version;
      const mark = req.action === 'rollback' && req.mark_from_rolled_back !== false && from !== null && from !== req.to;
      const audit = auditValues({
        at,
        actor: req.actor,
        action: req.action,
        prompt: req.prompt,
        from_version: from,
        to_version: req.to,
        reason: req.reason,
        rollback_id: req.action === 'rollback' ? req.key : null,
        switch_key: req.key,
        detail: req.detail ?? {},
      });
      if (tx.getExecutor().adapter instanceof PostgresAdapter) {
        // Postgres: the rest of the switch is one statement (each part touches other rows), not five round trips.
        await tx
          .with('active', (q) =>
            q.updateTable('prompts').set({ active_version: req.to, updated_at: at }).where('name', '=', req.prompt).returning('name'),
          )
          .with('others', (q) =>
            q.deleteFrom('traffic').where('prompt', '=', req.prompt).where('version', '<>', req.to).returning('version'),
          )
          .with('all_traffic', (q) =>
            q
              .insertInto('traffic')
              .values({ prompt: req.prompt, version: req.to, percent: 100 })
              .onConflict((oc) => oc.columns(['prompt', 'version']).doUpdateSet({ percent: 100 }))
              .returning('version'),
          )
          .with('deployed', (q) =>
            q
              .updateTable('versions')
              .set({ deployed_at: at })
              .where('prompt', '=', req.prompt)
              .where('version', '=', req.to)
              .where(sql<boolean>`${sql.lit(req.action === 'deploy')}`)
              .returning('version'),
          )
          .with('marked', (q) =>
            q
              .updateTable('versions')
              .set({ rolled_back_from: 1 })
              .where('prompt', '=', req.prompt)
              .where('version', '=', from ?? '')
              .where(sql<boolean>`${sql.lit(mark)}`)
              .returning('version'),
          )
          .insertInto('audit_log')
          .values(audit)
          .execute();
      } else {
        await tx.updateTable('prompts').set({ active_version: req.to, updated_at: at }).where('name', '=', req.prompt).execute();
        await tx.deleteFrom('traffic').where('prompt', '=', req.prompt).execute();
        await tx.insertInto('traffic').values({ prompt: req.prompt, version: req.to, percent: 100 }).execute();
        if (req.action === 'deploy') {
          await tx
            .updateTable('versions')
            .set({ deployed_at: at })
            .where('prompt', '=', req.prompt)
            .where('version', '=', req.to)
            .execute();
        }
        if (mark) {
          await tx
            .updateTable('versions')
            .set({ rolled_back_from: 1 })
            .where('prompt', '=', req.prompt)
            .where('version', '=', from)
            .execute();
        }
        await tx.insertInto('audit_log').values(audit).execute();
      }
      if (req.record && req.action === 'deploy') await this.insertDeployment(tx, { ...req.record, from_version: from, updated_at: at });
      return { switched: true, from, to: req.to, at };
    });
  }

  /** A new deployment's row (an immediate deploy's: its switch under this key has not been made before; a canary's). */
  private async insertDeployment(tx: Tx, d: Deployment): Promise<void> {
    await tx
      .insertInto('deployments')
      .values({ ...d, detail: json(d.detail ?? {}) })
      .execute();
  }

  async setTraffic(req: TrafficRequest): Promise<{ changed: boolean }> {
    if (!isValidSplit(req.split)) {
      throw new DomainError(
        'InvalidRequest',
        `traffic shares must be 0–100 and sum to 100, got ${req.split.map((s) => `${s.version}=${s.percent}`).join(', ')}`,
        {
          split: req.split,
        },
      );
    }
    const result = await this.db.transaction().execute(async (tx) => {
      const done = await tx.selectFrom('audit_log').select('id').where('switch_key', '=', req.key).executeTakeFirst();
      if (done) return { changed: false };
      const prompt = await this.requirePrompt(tx, req.prompt, { lock: true });
      const deploymentId = req.deployment_id ?? (req.action === 'canary' ? req.key.split('/')[0] : undefined);
      if (deploymentId !== undefined) {
        const own = await tx.selectFrom('deployments').selectAll().where('deployment_id', '=', deploymentId).executeTakeFirst();
        if (own) this.refuseIfAborted(own);
      }
      for (const s of req.split) {
        const v = await this.findVersion(tx, req.prompt, s.version);
        if (!v) throw unknownVersion(req.prompt, s.version);
      }
      const before = await tx.selectFrom('traffic').select(['version', 'percent']).where('prompt', '=', req.prompt).execute();
      const at = this.now();
      await tx.deleteFrom('traffic').where('prompt', '=', req.prompt).execute();
      const live = req.split.filter((s) => s.percent > 0);
      await tx
        .insertInto('traffic')
        .values(live.map((s) => ({ prompt: req.prompt, version: s.version, percent: s.percent })))
        .execute();
      const whole = live.length === 1 ? live[0]!.version : null;
      if (whole !== null && whole !== prompt.active_version) {
        await tx.updateTable('prompts').set({ active_version: whole, updated_at: at }).where('name', '=', req.prompt).execute();
      }
      await insertAudit(tx, {
        at,
        actor: req.actor,
        action: req.action,
        prompt: req.prompt,
        from_version: prompt.active_version,
        to_version: whole ?? prompt.active_version,
        reason: req.reason,
        switch_key: req.key,
        detail: { before: before.map((b) => ({ version: b.version, percent: Number(b.percent) })), after: live },
      });
      return { changed: true };
    });
    this.routesChanged();
    return result;
  }

  async applyRetention(prompt: string, plan: { archive: string[]; purge: string[] }, actor: string): Promise<void> {
    if (plan.archive.length === 0 && plan.purge.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      const at = this.now();
      if (plan.archive.length > 0) {
        await tx
          .updateTable('versions')
          .set({ state: 'archived' })
          .where('prompt', '=', prompt)
          .where('version', 'in', plan.archive)
          .execute();
      }
      if (plan.purge.length > 0) {
        await tx.deleteFrom('traffic').where('prompt', '=', prompt).where('version', 'in', plan.purge).execute();
        await tx.deleteFrom('versions').where('prompt', '=', prompt).where('version', 'in', plan.purge).execute();
      }
      await insertAudit(tx, {
        at,
        actor,
        action: 'retention',
        prompt,
        from_version: null,
        to_version: null,
        reason: `archived ${plan.archive.join(', ') || 'none'}; purged ${plan.purge.join(', ') || 'none'}`,
        detail: plan,
      });
    });
    this.routesChanged();
  }

  async setKnownGood(prompt: string, version: string, knownGood: boolean, actor: string, reason: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('versions')
        .set({ known_good: knownGood ? 1 : 0 })
        .where('prompt', '=', prompt)
        .where('version', '=', version)
        .execute();
      await insertAudit(tx, {
        at: this.now(),
        actor,
        action: knownGood ? 'version.passed' : 'version.failed',
        prompt,
        from_version: null,
        to_version: version,
        reason,
        detail: {},
      });
    });
  }

  async recordDeployment(d: Deployment, audit?: AuditEntry): Promise<void> {
    const values = { ...d, detail: json(d.detail ?? {}) };
    const upsert = (db: Tx) =>
      db
        .insertInto('deployments')
        .values(values)
        .onConflict((oc) =>
          oc
            .column('deployment_id')
            .doUpdateSet({ status: d.status, updated_at: d.updated_at, detail: values.detail })
            // An ended deployment keeps its status: a canary's late progress write never revives one a rollback aborted.
            // An audited change ends a deployment still going: one that ended meanwhile (its own outcome) is left as it is.
            .where((eb) =>
              audit
                ? eb('deployments.status', 'not in', [...DEPLOYMENT_DONE])
                : eb.or([eb('deployments.status', 'not in', [...DEPLOYMENT_DONE]), eb('deployments.status', '=', d.status)]),
            ),
        )
        .executeTakeFirst();
    await changeWithAudit(this.db, upsert, audit);
  }

  async beginDeployment(d: Deployment): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await lockPrompt(tx, d.prompt);
      await this.refuseIfChangeInFlight(tx, d.prompt, d.deployment_id);
      await this.insertDeployment(tx, d);
    });
  }

  /** Another change in flight for the prompt: an open rollback, or a canary (other than `own`) rolling out. */
  private async refuseIfChangeInFlight(tx: Tx, prompt: string, own: string): Promise<void> {
    const open = await tx
      .selectFrom('rollbacks')
      .select('rollback_id')
      .where('prompt', '=', prompt)
      .where('open', '=', 1)
      .executeTakeFirst();
    if (open) {
      throw new DomainError(
        'ChangeInFlight',
        `prompt ${prompt} has rollback ${open.rollback_id} in flight; deploy after it ends (GET /api/rollbacks/${open.rollback_id})`,
        { prompt, rollback_id: open.rollback_id },
      );
    }
    const canary = await tx
      .selectFrom('deployments')
      .select(['deployment_id', 'version'])
      .where('prompt', '=', prompt)
      .where('status', '=', 'rolling_out')
      .where('deployment_id', '!=', own)
      .executeTakeFirst();
    if (canary) {
      throw new DomainError(
        'ChangeInFlight',
        `prompt ${prompt} has canary deployment ${canary.deployment_id} of ${canary.version} rolling out; abort it or deploy after it ends`,
        { prompt, deployment_id: canary.deployment_id },
      );
    }
  }

  /** A canary step of a deployment that was aborted meanwhile (by a rollback, or an operator). */
  private refuseIfAborted(d: Selectable<Database['deployments']>): void {
    if (d.status === 'rolling_out' || d.strategy !== 'canary') return;
    const reason = parseJson<{ reason?: string }>(d.detail, {}).reason;
    throw new DomainError(
      'DeploymentAborted',
      `deployment ${d.deployment_id} of ${d.prompt} ${d.version} is ${d.status}${reason ? `: ${reason}` : ''}; traffic is left as it is`,
      { deployment_id: d.deployment_id, status: d.status, ...(reason ? { reason } : {}) },
    );
  }

  async getDeployment(id: string): Promise<Deployment | undefined> {
    const row = await this.db.selectFrom('deployments').selectAll().where('deployment_id', '=', id).executeTakeFirst();
    return row && toDeployment(row);
  }

  async rollingOut(): Promise<Deployment[]> {
    const rows = await this.db.selectFrom('deployments').selectAll().where('status', '=', 'rolling_out').orderBy('created_at').execute();
    return rows.map(toDeployment);
  }

  async audit(filter: { prompt?: string; rollback_id?: string }): Promise<AuditRow[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (filter.prompt !== undefined) q = q.where('prompt', '=', filter.prompt);
    if (filter.rollback_id !== undefined) q = q.where('rollback_id', '=', filter.rollback_id);
    const rows = await q.orderBy('id').execute();
    return rows.map(toAudit);
  }

  async appendAudit(row: AuditEntry, opts: { key?: string } = {}): Promise<void> {
    if (opts.key === undefined) return insertAudit(this.db, row);
    // The key goes in the audit log's unique key column (a switch's key there is a deployment's or a rollback's id,
    // so a caller's key carries a prefix of its own): a second insert with it does nothing.
    await this.db
      .insertInto('audit_log')
      .values(auditValues({ ...row, switch_key: opts.key }))
      .onConflict((oc) => oc.column('switch_key').doNothing())
      .execute();
  }

  private findVersion(tx: Tx, prompt: string, version: string) {
    return tx.selectFrom('versions').select('version').where('prompt', '=', prompt).where('version', '=', version).executeTakeFirst();
  }

  /** The prompt's row, or UnknownPrompt; with `lock`, read under the prompt's lock, taken by the same statement. */
  private async requirePrompt(tx: Tx, name: string, opts: { lock?: boolean } = {}): Promise<Selectable<Database['prompts']>> {
    const row = opts.lock
      ? await lockedPrompt(tx, name)
      : await tx.selectFrom('prompts').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw unknownPrompt(name);
    return row;
  }
}

/** The answer to a switch whose key's audit row is already written: nothing changes, and that switch is the result. */
const alreadySwitched = (done: Pick<AuditRow, 'from_version' | 'to_version' | 'at'>, to: string): SwitchResult => ({
  switched: false,
  from: done.from_version,
  to: done.to_version ?? to,
  at: done.at,
});

const unknownPrompt = (prompt: string) => new DomainError('UnknownPrompt', `no prompt named ${prompt}`, { prompt });
const unknownVersion = (prompt: string, version: string) =>
  new DomainError('UnknownVersion', `prompt ${prompt} has no version ${version}`, { prompt, version });
