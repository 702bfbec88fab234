import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { DEFAULT_STORAGE_BUDGET } from '../../src/domain/storage';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { SqlRollbackStore } from '../../src/adapters/rollbacks/sql';
import { SqlMonitorStore } from '../../src/adapters/monitors/sql';
import { openDb, pgArray } from '../../src/adapters/sql/db';
import type { Database } from '../../src/adapters/sql/schema';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { advancingClock } from '../support/clock';
import { metricsMigrationContract } from './metrics-migration';
import { storageContract } from './storage.contract';
import { SqlStorage } from '../../src/adapters/storage/sql';
import { OutboxNotifier } from '../../src/adapters/notifier/outbox';
import { createLogger } from '../../src/main/logger';
import { registryContract } from './registry.contract';

// In CI the server must be there (`npm run setup` installs Debian's postgresql): a missing one fails the run,
// it is never skipped. On a laptop without it the suite is skipped.
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const installed = findPostgres() !== undefined;

describe.runIf(inCI && !installed)('PostgreSQL in CI', () => {
  it('the PostgreSQL server binaries are installed, so the store contract runs on Postgres', () => {
    throw new Error(
      'CI is set but initdb/pg_ctl were not found: run `npm run setup` (installs Debian postgresql); Postgres is never skipped in CI',
    );
  });
});

describe.runIf(installed)('the same store contract on PostgreSQL', () => {
  let instance: PgInstance;
  beforeAll(async () => {
    instance = await startPostgres();
  }, 60_000);
  afterAll(() => instance?.stop());

  it('a connection Postgres ends under a query (a restart, a failover) fails that query only: the process goes on', async () => {
    const url = await instance.newDatabase();
    const db = await openDb(url);
    const admin = await openDb(await instance.newDatabase());
    try {
      // A query in flight on a checked-out connection, and one idle inside a transaction between two statements.
      // Each outcome is taken at once: they fail as the backends go, before the assertions below read them.
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => 'answered',
          (e: unknown) => e,
        );
      const inFlight = outcome(sql`SELECT pg_sleep(30)`.execute(db.kysely));
      const inTransaction = outcome(
        db.kysely.transaction().execute(async (tx) => {
          await sql`SELECT 1`.execute(tx);
          await new Promise((r) => setTimeout(r, 1500));
          await sql`SELECT 2`.execute(tx);
        }),
      );
      await new Promise((r) => setTimeout(r, 500));
      const killed = await sql<{ n: number }>`
        SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = ${new URL(url).pathname.slice(1)} AND backend_type = 'client backend'
          AND (query LIKE '%pg_sleep%' OR state = 'idle in transaction')`.execute(admin.kysely);
      expect(killed.rows[0]!.n).toBe(2);
      expect(await inFlight).toBeInstanceOf(Error);
      expect(await inTransaction).toBeInstanceOf(Error);
      // The pool opens fresh connections: the store answers again.
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(db.kysely)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
      await admin.close();
    }
  }, 60_000);

  registryContract('postgres', async () => {
    const db = await openDb(await instance.newDatabase());
    expect(db.dialect).toBe('postgres');
    const clock = advancingClock();
    return {
      registry: new SqlRegistry(db.kysely, clock),
      rollbacks: new SqlRollbackStore(db.kysely),
      monitors: new SqlMonitorStore(db.kysely),
      metrics: new SqlMetricsStore(db.kysely),
      close: () => db.close(),
    };
  });

  // A kysely handle openDb did not make (an embedding application's own): a rollback's switch takes the transaction
  // path (switchOnce) there, which must keep the same contract on Postgres, concurrent calls with one key included.
  registryContract('postgres, through a handle of its own (the transaction path)', async () => {
    const url = await instance.newDatabase();
    const migrated = await openDb(url);
    await migrated.close();
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const clock = advancingClock();
    return {
      registry: new SqlRegistry(kysely, clock),
      rollbacks: new SqlRollbackStore(kysely),
      monitors: new SqlMonitorStore(kysely),
      metrics: new SqlMetricsStore(kysely),
      close: () => kysely.destroy(),
    };
  });

  metricsMigrationContract('postgres', () => instance.newDatabase());

  storageContract('postgres', async () => {
    const db = await openDb(await instance.newDatabase());
    let now = new Date('2025-01-01T00:00:00.000Z');
    const clock = { now: () => now };
    return {
      metrics: new SqlMetricsStore(db.kysely),
      storage: new SqlStorage(db.kysely, db.dialect),
      rollbacks: new SqlRollbackStore(db.kysely),
      registry: new SqlRegistry(db.kysely, advancingClock()),
      notifier: new OutboxNotifier(db.kysely, createLogger('silent'), clock),
      setNow: (d: Date) => {
        now = d;
      },
      db: db.kysely,
      close: () => db.close(),
    };
  });

  it('metrics tables keep room in each page, so that the updates of a second’s counts stay on their page (HOT)', async () => {
    const db = await openDb(await instance.newDatabase());
    try {
      const r = await sql<{ relname: string; reloptions: string[] | null }>`
        SELECT relname, reloptions FROM pg_class WHERE relname IN ('metric_buckets', 'metric_latency') ORDER BY relname`.execute(db.kysely);
      expect(r.rows).toEqual([
        { relname: 'metric_buckets', reloptions: ['fillfactor=50'] },
        { relname: 'metric_latency', reloptions: ['fillfactor=50'] },
      ]);
    } finally {
      await db.close();
    }
  });

  it('an array literal (pgArray) reads back as the values it was built from: quotes, backslashes, NULL as text, bytes, null', async () => {
    const db = await openDb(await instance.newDatabase());
    try {
      const texts = [
        'plain',
        'NULL',
        'null',
        '',
        ' padded ',
        'a,b',
        '{braces}',
        'quo"te',
        'back\\slash',
        '\\"both',
        'ümlaut ✓',
        'new\nline',
      ];
      const numbers = [0, -1, 1.5, 1e-7, 2 ** 40, 1_795_664_545];
      const bytes = [
        Buffer.from([0, 1, 254, 255]),
        Buffer.alloc(0),
        null,
        new Uint8Array(new Uint8Array([120, 121, 122, 119]).buffer, 1, 2),
      ];
      const { rows } = await sql<{ t: string[]; n: number[]; b: (Buffer | null)[] }>`
        SELECT ${pgArray(texts)}::text[] AS t, ${pgArray(numbers)}::double precision[] AS n, ${pgArray(bytes)}::bytea[] AS b`.execute(
        db.kysely,
      );
      expect(rows[0]!.t).toEqual(texts);
      expect(rows[0]!.n).toEqual(numbers);
      expect(rows[0]!.b.map((x) => (x === null ? null : [...x]))).toEqual([[0, 1, 254, 255], [], null, [121, 122]]);
      expect(() => pgArray([Number.NaN])).toThrow(/finite/);
    } finally {
      await db.close();
    }
  });

  it('a deploy whose record the store refuses switches nothing: the switch, its audit row and the record are one transaction', async () => {
    const db = await openDb(await instance.newDatabase());
    try {
      const registry = new SqlRegistry(db.kysely, advancingClock());
      await registry.upsertPrompt({ name: 'cs' }, 'alice');
      for (const version of ['v1', 'v2']) await registry.addVersion({ prompt: 'cs', version, template: version }, 'alice');
      await registry.switchActive({ prompt: 'cs', to: 'v1', action: 'deploy', key: 'dep-1', actor: 'alice', reason: '' });
      // The store refuses the next deployment's row (a real trigger).
      await sql
        .raw(
          `CREATE FUNCTION refuse_deployment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no space left on device'; END $$;
           CREATE TRIGGER refuse_deployment BEFORE INSERT ON deployments FOR EACH ROW EXECUTE FUNCTION refuse_deployment()`,
        )
        .execute(db.kysely);
      const record = {
        deployment_id: 'dep-2',
        prompt: 'cs',
        version: 'v2',
        strategy: 'immediate',
        status: 'completed',
        requested_by: 'bob',
        created_at: '2026-11-27T10:00:00.000Z',
      } as const;
      const deploy = () =>
        registry.switchActive({ prompt: 'cs', to: 'v2', action: 'deploy', key: 'dep-2', actor: 'bob', reason: '', record });
      await expect(deploy()).rejects.toThrow(/no space left on device/);
      expect((await registry.getPrompt('cs'))?.active_version).toBe('v1');
      expect(await registry.getTraffic('cs')).toEqual([{ version: 'v1', percent: 100 }]);
      expect((await registry.audit({ prompt: 'cs' })).filter((r) => r.action === 'deploy').map((r) => r.to_version)).toEqual(['v1']);
      await sql.raw('DROP TRIGGER refuse_deployment ON deployments').execute(db.kysely);
      const r = await deploy();
      expect(r).toMatchObject({ switched: true, from: 'v1', to: 'v2' });
      expect(await registry.getDeployment('dep-2')).toMatchObject({ from_version: 'v1', updated_at: r.at });
    } finally {
      await db.close();
    }
  });

  it('a batch for prompts and versions whose names read as SQL words (null, NULL) is stored under those names', async () => {
    const db = await openDb(await instance.newDatabase());
    try {
      const metrics = new SqlMetricsStore(db.kysely);
      const at = new Date('2025-03-01T12:00:00.437Z');
      await metrics.ingest([
        { prompt: 'null', version: 'NULL', ok: false, latency_ms: 120, quality: 0.5, at },
        { prompt: 'null', version: 'NULL', ok: true, latency_ms: 80, at },
        { prompt: 'NULL', version: 'v1', ok: true, latency_ms: 80, at },
      ]);
      const from = new Date(at.getTime() - 10_000);
      const to = new Date(at.getTime() + 10_000);
      expect(await metrics.window('null', 'NULL', from, to)).toMatchObject({ requests: 2, errors: 1, quality_mean: 0.5 });
      expect(await metrics.window('NULL', 'v1', from, to)).toMatchObject({ requests: 1, errors: 0 });
    } finally {
      await db.close();
    }
  });

  it('a roll-up and an ingest that each hold a second the other wants both finish: the roll-up moves only the seconds it locked', async () => {
    const url = await instance.newDatabase();
    const db = await openDb(url);
    const store = new SqlMetricsStore(db.kysely);
    const storage = new SqlStorage(db.kysely, db.dialect);
    const T = 1_800_000_000 - (1_800_000_000 % 60);
    const ev = (s: number) => ({ prompt: 'cs', version: 'v1', ok: true, latency_ms: 100, at: new Date((T + s) * 1000) });
    const { holder, waitingOn, end } = await lockScene(url);
    try {
      await store.ingest([ev(20), ev(30)]);
      // Someone holds second 30: the roll-up's ordered lock takes second 20 and waits there.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM metric_buckets WHERE bucket = $1 FOR UPDATE', [T + 30]);
      const rolling = storage.rollUpMetrics(T + 60, DEFAULT_STORAGE_BUDGET);
      await waitingOn('%FOR UPDATE%');
      // Meanwhile a new second is written (the roll-up's lock never saw it), then a batch that updates it and waits for
      // second 20, which the roll-up holds.
      await store.ingest([ev(10)]);
      const ingesting = store.ingest([ev(10), ev(20)]);
      await waitingOn('%insert into%metric_buckets%');
      await holder.query('COMMIT');
      // Before: the roll-up's delete of the whole minute took second 10 too, behind the batch: deadlock, one of them failed.
      await expect(rolling).resolves.toMatchObject({ more: false });
      await expect(ingesting).resolves.toBe(2);
      const w = await store.window('cs', 'v1', new Date(T * 1000), new Date((T + 60) * 1000));
      expect(w.requests).toBe(5);
      await storage.rollUpMetrics(T + 60, DEFAULT_STORAGE_BUDGET);
      const after = await store.window('cs', 'v1', new Date(T * 1000), new Date((T + 60) * 1000));
      expect(after).toEqual(w);
    } finally {
      await end();
      await db.close();
    }
  });
  /**
   * A prompt `cs` with `versions`, the first serving, and another connection (`holder`) in a transaction holding the
   * prompt's row lock; `end` closes both connections.
   */
  async function lockedPrompt(versions: string[]) {
    const url = await instance.newDatabase();
    const db = await openDb(url);
    const scene = await lockScene(url);
    const end = async () => {
      await scene.end();
      await db.close();
    };
    try {
      const registry = new SqlRegistry(db.kysely, advancingClock());
      await registry.upsertPrompt({ name: 'cs' }, 'alice');
      for (const version of versions) await registry.addVersion({ prompt: 'cs', version, template: version }, 'alice');
      await registry.switchActive({ prompt: 'cs', to: versions[0]!, action: 'deploy', key: 'dep-0', actor: 'alice', reason: '' });
      await scene.holder.query('BEGIN');
      await scene.holder.query(`SELECT 1 FROM prompts WHERE name = 'cs' FOR UPDATE`);
      return { db, registry, holder: scene.holder, waitingOn: scene.waitingOn, end };
    } catch (e) {
      await end();
      throw e;
    }
  }

  it("a rollback's switch waiting for the prompt's lock sees what committed meanwhile (a canary's stage, a deploy), and is timed after it", async () => {
    // A change of the prompt holds its lock while the rollback's switch arrives and waits for it.
    const { registry, holder, waitingOn, end } = await lockedPrompt(['v1', 'v2', 'v3']);
    try {
      const switching = registry.switchActive({
        prompt: 'cs',
        to: 'v1',
        action: 'rollback',
        key: 'rb-1',
        actor: 'oncall',
        reason: 'errors',
      });
      await waitingOn('%audit_log%');
      // Meanwhile v2 becomes active, and a canary's stage gives v3 a share: both commit while the switch waits.
      // (Its time is later than the switch's clock read, taken before the switch waited.)
      await holder.query(`UPDATE prompts SET active_version = 'v2', updated_at = '2099-01-01T00:00:00.000Z' WHERE name = 'cs'`);
      await holder.query(`DELETE FROM traffic WHERE prompt = 'cs'`);
      await holder.query(`INSERT INTO traffic (prompt, version, percent) VALUES ('cs', 'v2', 95), ('cs', 'v3', 5)`);
      await holder.query('COMMIT');
      // The switch is from v2 (what served under the lock), and v1 has all the traffic: nothing of v3's share is left.
      // Its time is never before the change it waited for: the audit trail stays in order.
      await expect(switching).resolves.toMatchObject({ switched: true, from: 'v2', to: 'v1', at: '2099-01-01T00:00:00.000Z' });
      expect(await registry.getTraffic('cs')).toEqual([{ version: 'v1', percent: 100 }]);
      expect((await registry.getPrompt('cs'))?.active_version).toBe('v1');
      expect(await registry.audit({ rollback_id: 'rb-1' })).toMatchObject([
        { from_version: 'v2', to_version: 'v1', at: '2099-01-01T00:00:00.000Z' },
      ]);
      expect((await registry.listVersions('cs')).find((v) => v.version === 'v2')?.rolled_back_from).toBe(true);
    } finally {
      await end();
    }
  });

  it("a rollback claim waiting for the prompt's lock sees the canary that started meanwhile, and aborts it", async () => {
    // A canary's start holds the prompt's lock (as beginDeployment does) while the claim arrives and waits for it.
    const { db, registry, holder, waitingOn, end } = await lockedPrompt(['v1', 'v2']);
    const rollbacks = new SqlRollbackStore(db.kysely);
    try {
      const at = new Date().toISOString();
      const claim = rollbacks.claim({
        rollback_id: 'rb-1',
        workflow_id: 'rollback/cs/rb-1',
        prompt: 'cs',
        from_version: 'v1',
        to_version: 'v1',
        reason: 'error rate 30 %',
        severity: 'high',
        mode: 'immediate',
        status: 'rolling_back',
        requested_by: 'oncall',
        requested_at: at,
        timeline: [],
        updated_at: at,
      });
      await waitingOn('%prompts%for update%');
      // The canary starts and commits while the claim waits.
      await holder.query(
        `INSERT INTO deployments (deployment_id, prompt, version, strategy, status, requested_by, from_version, created_at, updated_at, detail)
         VALUES ('can-1', 'cs', 'v2', 'canary', 'rolling_out', 'deployer', 'v1', $1, $1, '{"plan":{"stages":[1,5]}}')`,
        [at],
      );
      await holder.query('COMMIT');
      await expect(claim).resolves.toEqual({ ok: true });
      // Before: the claim was one statement whose snapshot predated the wait; it missed the canary, which rolled on.
      const d = await registry.getDeployment('can-1');
      expect(d?.status).toBe('aborted');
      expect(d?.detail).toMatchObject({ plan: { stages: [1, 5] }, aborted_by_rollback: 'rb-1' });
    } finally {
      await end();
    }
  });
  it('a connection Postgres ends while idle (a restart, a failover) costs nothing: the process lives, the next query reconnects', async () => {
    const url = await instance.newDatabase();
    const lost: Error[] = [];
    const heard = await openDb(url, { onPoolError: (e) => lost.push(e) });
    // The default: no listener given, and the process must live all the same.
    const quiet = await openDb(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      for (const db of [heard, quiet]) await sql`select 1`.execute(db.kysely);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      for (let i = 0; lost.length === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
      expect(lost[0]?.message).toMatch(/terminat/);
      // Before: the pool's 'error' event had no listener, and the process ended here.
      for (const db of [heard, quiet]) expect((await sql<{ one: number }>`select 1 as one`.execute(db.kysely)).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await heard.close();
      await quiet.close();
    }
  });
});

/**
 * Two more connections to `url`: one holds row locks in a transaction, the other watches pg_stat_activity (outside a
 * transaction, whose view of it would stay as it was at its first read).
 */
async function lockScene(url: string) {
  const holder = new pg.Client({ connectionString: url });
  const watcher = new pg.Client({ connectionString: url });
  await holder.connect();
  await watcher.connect();
  /** Waits until a backend waits for a row lock while running `like`. */
  const waitingOn = async (like: string) => {
    for (let i = 0; i < 200; i++) {
      const r = await watcher.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE $1 AND pid <> pg_backend_pid()`,
        [like],
      );
      if (Number(r.rows[0]!.n) > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`nothing waits on a lock running ${like}`);
  };
  const end = async () => {
    await holder.end();
    await watcher.end();
  };
  return { holder, waitingOn, end };
}
