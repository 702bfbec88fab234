import { type Kysely, PostgresAdapter } from 'kysely';
import { isTerminal, type RollbackInput, type RollbackStatus, type RollbackView } from '../../domain/rollback';
import type { AuditEntry } from '../../ports/registry';
import type { ClaimResult, RollbackStore } from '../../ports/rollbacks';
import { changeWithAudit } from '../sql/audit';
import { isUniqueViolation, json, lockedPrompt, parseJson, pgLiteral, pgScript } from '../sql/db';
import type { Database } from '../sql/schema';

const abortReason = (view: RollbackView): string =>
  `aborted by rollback ${view.rollback_id} (${view.reason}, requested by ${view.requested_by})`;

const row = (v: RollbackView) => ({
  rollback_id: v.rollback_id,
  prompt: v.prompt,
  status: v.status,
  severity: v.severity,
  open: isTerminal(v.status) ? 0 : 1,
  created_at: v.requested_at,
  updated_at: v.updated_at,
  view: json(v),
});

export class SqlRollbackStore implements RollbackStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * In one transaction: the rollback row (the unique index keeps one open per prompt) and the end of any canary
   * rolling out on the prompt — it is aborted at once, naming this rollback, so its next stage or promotion is
   * refused and it cannot overwrite the rollback's traffic.
   */
  async claim(view: RollbackView, input?: RollbackInput): Promise<ClaimResult> {
    try {
      await (this.db.getExecutor().adapter instanceof PostgresAdapter
        ? this.claimInOneRoundTrip(view, input)
        : this.claimInTransaction(view, input));
      return { ok: true };
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      const existing = await this.get(view.rollback_id);
      if (existing) return { ok: true };
      const open = await this.openFor(view.prompt);
      // The open one may have closed between the insert and this read: try once more.
      if (open === undefined) return this.claim(view, input);
      return { ok: false, open_rollback_id: open };
    }
  }

  private async claimInTransaction(view: RollbackView, input?: RollbackInput): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      // The version it rolls back from is the one serving as it opens (a deploy may have landed just before): read
      // under the prompt's lock, in the statement that takes it.
      const prompt = await lockedPrompt(tx, view.prompt);
      const opened = prompt?.active_version ? { ...view, from_version: prompt.active_version } : view;
      await tx
        .insertInto('rollbacks')
        .values({ ...row(opened), input: input ? json(input) : null })
        .execute();
      const canaries = await tx
        .selectFrom('deployments')
        .select(['deployment_id', 'detail'])
        .where('prompt', '=', view.prompt)
        .where('status', '=', 'rolling_out')
        .execute();
      for (const c of canaries) {
        const reason = abortReason(view);
        await tx
          .updateTable('deployments')
          .set({
            status: 'aborted',
            updated_at: view.updated_at,
            detail: json({ ...parseJson<Record<string, unknown>>(c.detail, {}), reason, aborted_by_rollback: view.rollback_id }),
          })
          .where('deployment_id', '=', c.deployment_id)
          .execute();
      }
    });
  }

  /**
   * Postgres: the claim in one round trip (not five), as two statements in one message — one implicit transaction.
   * The first takes the prompt's row lock, in the order a canary's start and stages take it; the second, with a
   * snapshot taken once the lock is granted, sees any canary that committed before, writes the rollback row with the
   * version serving under the lock as its from_version, and aborts the rolling-out canary (its detail kept). One
   * statement could not do it: its snapshot predates the lock wait, and a canary started meanwhile would be missed.
   * A second open rollback for the prompt (or this one again) fails the transaction on the unique index, and nothing
   * of it is written.
   */
  private async claimInOneRoundTrip(view: RollbackView, input?: RollbackInput): Promise<void> {
    const r = row(view);
    const note = json({ reason: abortReason(view), aborted_by_rollback: view.rollback_id });
    const v = pgLiteral;
    await pgScript(this.db, [
      `select 1 from prompts where name = ${v(view.prompt)} for update`,
      `with locked as (select active_version from prompts where name = ${v(view.prompt)}),
      aborted as (
        update deployments
        set status = 'aborted', updated_at = ${v(view.updated_at)},
          detail = (coalesce(nullif(detail, ''), '{}')::jsonb || ${v(note)}::jsonb)::text
        where prompt = ${v(view.prompt)} and status = 'rolling_out'
        returning deployment_id
      )
      insert into rollbacks (rollback_id, prompt, status, severity, open, created_at, updated_at, view, input)
      select ${v(r.rollback_id)}, ${v(r.prompt)}, ${v(r.status)}, ${v(r.severity)}, ${v(r.open)}, ${v(r.created_at)}, ${v(r.updated_at)},
        case when coalesce(locked.active_version, '') = '' then ${v(r.view)}
          else jsonb_set(${v(r.view)}::jsonb, '{from_version}', to_jsonb(locked.active_version))::text end,
        ${v(input ? json(input) : null)}
      from (select 1) as one left join locked on true`,
    ]);
  }

  async save(view: RollbackView, audit?: AuditEntry): Promise<void> {
    const r = row(view);
    // Only move forward: a retried, older write never overwrites a newer state.
    const upsert = (db: Kysely<Database>) =>
      db
        .insertInto('rollbacks')
        .values(r)
        .onConflict((oc) =>
          oc
            .column('rollback_id')
            .doUpdateSet({ status: r.status, severity: r.severity, open: r.open, updated_at: r.updated_at, view: r.view })
            .where('rollbacks.updated_at', '<=', r.updated_at),
        )
        .executeTakeFirst();
    await changeWithAudit(this.db, upsert, audit);
  }

  async startInput(id: string): Promise<RollbackInput | undefined> {
    const r = await this.db.selectFrom('rollbacks').select('input').where('rollback_id', '=', id).executeTakeFirst();
    return r?.input ? parseJson<RollbackInput>(r.input, undefined as unknown as RollbackInput) : undefined;
  }

  async get(id: string): Promise<RollbackView | undefined> {
    const r = await this.db.selectFrom('rollbacks').select('view').where('rollback_id', '=', id).executeTakeFirst();
    return r && parseJson<RollbackView>(r.view, undefined as unknown as RollbackView);
  }

  async getBySuffix(prompt: string, suffix: string): Promise<RollbackView | undefined> {
    // Ids are `YYYYMMDD-HHMMSS-<suffix>`: the suffix is the id's last 8 characters (hex, no LIKE wildcards).
    const r = await this.db
      .selectFrom('rollbacks')
      .select('view')
      .where('prompt', '=', prompt)
      .where('rollback_id', 'like', `%-${suffix}`)
      .executeTakeFirst();
    return r && parseJson<RollbackView>(r.view, undefined as unknown as RollbackView);
  }

  async list(filter: { prompt?: string; status?: RollbackStatus; limit?: number }): Promise<RollbackView[]> {
    let q = this.db.selectFrom('rollbacks').select('view');
    if (filter.prompt !== undefined) q = q.where('prompt', '=', filter.prompt);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('rollback_id', 'desc')
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map((r) => parseJson<RollbackView>(r.view, undefined as unknown as RollbackView));
  }

  async listOpen(): Promise<RollbackView[]> {
    const rows = await this.db.selectFrom('rollbacks').select('view').where('open', '=', 1).orderBy('created_at').execute();
    return rows.map((r) => parseJson<RollbackView>(r.view, undefined as unknown as RollbackView));
  }

  async openFor(prompt: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('rollbacks')
      .select('rollback_id')
      .where('prompt', '=', prompt)
      .where('open', '=', 1)
      .executeTakeFirst();
    return r?.rollback_id;
  }
}
