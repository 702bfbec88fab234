import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresAdapter,
  PostgresDialect,
  sql,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type MigrationProvider,
  type Selectable,
  type SqliteDialectConfig,
} from 'kysely';
import pg from 'pg';
import type { Database } from './schema';
import { registerBinFunctions } from '../metrics/packed-bins';
import { migrationsFor, type Dialect } from './migrations';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /**
   * Moves whenever another connection committed a change to what `resolve` answers: SQLite's PRAGMA data_version
   * (any commit, same host), Postgres' route_version (the sum of counters that triggers bump per prompt; any host).
   */
  dataVersion: () => number | Promise<number>;
  /** SQLite: the connection kysely runs on, for a caller that is its only user (the ingest thread). */
  sqlite?: SQLite.Database;
  close(): Promise<void>;
}

/**
 * Opens the store named by `url`: `postgres://…` / `postgresql://…` for Postgres, anything else is a SQLite
 * file path (`sqlite:` prefix optional; `:memory:` for an in-memory database). Applies pending migrations.
 * `poolMax`: Postgres connections this handle opens at most (10).
 */
export async function openDb(url: string, opts: { poolMax?: number; onPoolError?: (err: Error) => void } = {}): Promise<Db> {
  const dialect: Dialect = /^postgres(ql)?:\/\//.test(url) ? 'postgres' : 'sqlite';
  let kysely: Kysely<Database>;
  let dataVersion: () => number | Promise<number>;
  let raw: SQLite.Database | undefined;
  if (dialect === 'postgres') {
    // A database that stops answering (a failover, a partition) fails a connection in 5 s rather than the OS's minutes,
    // and keepalives find a connection whose peer went away: both surface as an outage (storeOutage), not a hang.
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolMax ?? 10,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // An idle connection Postgres ended (a restart, a failover, pg_terminate_backend) is dropped by the pool, and the
    // next query opens another. Unheard, the pool's 'error' event would end the process.
    const onError = opts.onPoolError ?? (() => undefined);
    pool.on('error', onError);
    // A connection in use (a query in flight, a transaction between statements) that Postgres ends emits 'error' on its
    // client, which the pool does not listen to while the client is checked out: unheard, it ended the process at a
    // restart or failover. The query in flight fails with it; the pool drops the client when it comes back.
    pool.on('connect', (client) => client.on('error', onError));
    kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    pools.set(kysely, pool);
    dataVersion = async () => Number((await pool.query<{ v: string }>('SELECT v FROM route_version WHERE id = 1')).rows[0]?.v ?? 0);
  } else {
    const file = url.replace(/^sqlite:(\/\/)?/, '');
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SQLite(file);
    raw = sqlite;
    // WAL lets the API read while the worker writes; busy_timeout waits out the other process's write lock.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    registerBinFunctions(sqlite);
    kysely = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
    const probe = sqlite.prepare('PRAGMA data_version').pluck();
    dataVersion = () => probe.get() as number;
  }
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrationsFor(dialect)) };
  const { error, results } = await new Migrator({ db: kysely, provider }).migrateToLatest();
  if (error) {
    await kysely.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
  }
  return { kysely, dialect, dataVersion, ...(raw ? { sqlite: raw } : {}), close: () => kysely.destroy() };
}

/**
 * Where metrics live by default when the registry is at `url`: a sibling SQLite file (`promptback.db` →
 * `promptback-metrics.db`), so that a switch never waits behind a metrics write for SQLite's one write lock.
 * Postgres (row locks, no database-wide write lock) and in-memory databases keep one database.
 */
export function metricsUrlFor(url: string): string {
  if (/^postgres(ql)?:\/\//.test(url)) return url;
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  if (file === ':memory:' || file === '') return url;
  const ext = path.extname(file);
  return `${ext ? file.slice(0, -ext.length) : file}-metrics${ext || '.db'}`;
}

/** The SQLite file behind `url`, or undefined for Postgres and in-memory databases. */
export function sqliteFile(url: string): string | undefined {
  if (/^postgres(ql)?:\/\//.test(url)) return undefined;
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  return file === ':memory:' ? undefined : path.resolve(file);
}

/**
 * First start with a split metrics file: the metrics a single-file store kept (version histories decide known-good
 * targets) are copied over once, whichever process opens it first (user_version marks it done).
 */
export async function importMetricsOnce(metrics: Db, registryFile: string): Promise<void> {
  await metrics.kysely.connection().execute(async (c) => {
    // ATTACH is refused inside a transaction: attach first, then decide and copy under the write lock.
    await sql`attach database ${registryFile} as reg`.execute(c);
    try {
      await sql`begin immediate`.execute(c);
      try {
        const v = await sql<{ user_version: number }>`pragma main.user_version`.execute(c);
        if (Number(v.rows[0]?.user_version ?? 0) === 0) {
          const tables = await sql<{ name: string }>`
            select r.name from reg.sqlite_master r join main.sqlite_master m on m.name = r.name and m.type = 'table'
            where r.type = 'table' and substr(r.name, 1, 7) = 'metric_'`.execute(c);
          for (const { name } of tables.rows)
            await sql`insert or ignore into main.${sql.id(name)} select * from reg.${sql.id(name)}`.execute(c);
          await sql`pragma main.user_version = 1`.execute(c);
        }
        await sql`commit`.execute(c);
      } catch (e) {
        await sql`rollback`.execute(c).catch(() => undefined);
        throw e;
      }
    } finally {
      await sql`detach database reg`.execute(c);
    }
  });
}

/** Prepared statements kept per SQLite connection (least recently used dropped beyond this). */
export const STATEMENT_CACHE_SIZE = 256;

/**
 * The SQLite connection as kysely sees it, keeping its prepared statements: kysely prepares every query it runs,
 * and preparing costs more than running most of ours (a monitor check, a resolve miss, an ingest batch's insert
 * repeat the same SQL text). Safe because kysely runs one statement at a time to completion on a connection
 * (better-sqlite3 is synchronous; we never stream), and SQLite re-prepares a kept statement after a schema change.
 */
export function withStatementCache(db: SQLite.Database, size = STATEMENT_CACHE_SIZE): SqliteDialectConfig['database'] {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => db.close(),
    prepare(sqlText: string) {
      let stmt = kept.get(sqlText);
      if (stmt) {
        kept.delete(sqlText); // most recently used last
      } else {
        stmt = db.prepare(sqlText);
        if (kept.size >= size) kept.delete(kept.keys().next().value as string);
      }
      kept.set(sqlText, stmt);
      return stmt;
    },
  };
}

/**
 * SQLite transactions that take the write lock up front (BEGIN IMMEDIATE). With the default deferred BEGIN, a
 * read-then-write transaction fails at once with SQLITE_BUSY when another process (API and worker share the file)
 * wrote in between; an immediate one waits its turn under busy_timeout instead.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly cfg: SqliteDialectConfig) {
    super(cfg);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.cfg);
  }
}

export const json = (value: unknown): string => JSON.stringify(value ?? null);
export const parseJson = <T>(text: string | null | undefined, fallback: T): T => {
  if (text === null || text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
};

/** Network errors of a connection to the database (Node's codes). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
/**
 * Postgres SQLSTATEs of an outage: connection exceptions (08000, 08001, 08003, 08004, 08006), insufficient resources
 * (53000, 53100 disk full, 53200 out of memory, 53300 too many connections), shutting down or starting up (57P01–57P03),
 * and a write on a standby (25006: a failover's old primary, or a pool still pointed at it).
 */
const PG_OUTAGE = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53000',
  '53100',
  '53200',
  '53300',
  '57P01',
  '57P02',
  '57P03',
  '25006',
]);
/** SQLite's: busy beyond its timeout (another process holds the write lock), out of disk, failing to read or write. */
const SQLITE_OUTAGE = /^SQLITE_(BUSY|FULL|IOERR)/;
/** What pg says when a connection goes, or the pool cannot get one in time. */
const LOST_CONNECTION = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * Why an error means the store cannot be used right now (an outage, not a bad request, a misconfiguration or a bug),
 * or undefined. The answer names the kind of failure, not the database's address: it goes to clients (503) and into
 * rollback timelines. The API answers these 503 with Retry-After, as it does when the workflow engine does not answer;
 * a rollback waits for the store.
 */
export function storeOutage(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let err: unknown = e; err !== null && typeof err === 'object' && !seen.has(err); err = (err as { cause?: unknown }).cause) {
    seen.add(err);
    const { code, message = '' } = err as { code?: unknown; message?: string };
    const c = typeof code === 'string' ? code : '';
    if (PG_OUTAGE.has(c) || NETWORK_CODES.has(c)) return `the database did not answer (${c})`;
    const lost = LOST_CONNECTION.exec(message);
    if (lost) return `the database did not answer (${lost[1]!.toLowerCase()})`;
    if (SQLITE_OUTAGE.test(c)) return `the database file cannot be used now (${c})`;
    // Node gives one error per address tried (IPv4 and IPv6) for a refused connection.
    if (err instanceof AggregateError)
      for (const inner of err.errors) {
        const why = storeOutage(inner);
        if (why !== undefined) return why;
      }
  }
  return undefined;
}

/** A unique-constraint violation, in either dialect (a racing insert lost). */
export const isUniqueViolation = (e: unknown): boolean => {
  const err = e as { code?: string; message?: string };
  return err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/.test(err.message ?? '');
};

/**
 * Serialises changes to one prompt's traffic (deploys, canary stages, rollback claims) inside a transaction.
 * Postgres: a row lock on the prompt, held to commit. SQLite: every write transaction already holds the
 * database's write lock from its first statement (BEGIN IMMEDIATE), so there is nothing more to take.
 */
export async function lockPrompt(tx: Kysely<Database>, prompt: string): Promise<void> {
  if (!(tx.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`select name from prompts where name = ${prompt} for update`.execute(tx);
}

/** The prompt's row, read under the lock lockPrompt takes (one statement for both); undefined if there is none. */
export async function lockedPrompt(tx: Kysely<Database>, prompt: string): Promise<Selectable<Database['prompts']> | undefined> {
  const q = tx.selectFrom('prompts').selectAll().where('name', '=', prompt);
  return (tx.getExecutor().adapter instanceof PostgresAdapter ? q.forUpdate() : q).executeTakeFirst();
}

/**
 * Postgres: SQL text with a value as a literal, for pgScript (whose protocol takes no parameters). Strings go through
 * pg's escapeLiteral (quotes doubled; backslashes in an E'' string), numbers must be finite, null is NULL.
 */
export function pgLiteral(value: string | number | null): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  return pg.escapeLiteral(value);
}

/** A quote or backslash: an array element holding one is escaped. */
const ARRAY_SPECIAL = /["\\]/;
/**
 * Postgres: an array literal (`'{"a","b"}'`) for a `$1::text[]` (or `::bytea[]`, `::integer[]`…) parameter, built in one
 * pass. pg serialises a JavaScript array element by element (a regular-expression escape per element, twice): for
 * a metrics batch's 1,000-row columns that was a quarter of the ingest thread's work. Every string is quoted (so
 * `NULL` stays a string), a quote or backslash escaped; bytes go as `\x` hex; null is NULL; numbers must be finite.
 */
export function pgArray(values: readonly (string | number | Uint8Array | null)[]): string {
  const out: string[] = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === null) out[i] = 'NULL';
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
      out[i] = String(v);
    } else if (typeof v === 'string') out[i] = ARRAY_SPECIAL.test(v) ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;
    else out[i] = `"\\\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"`;
  }
  return `{${out.join(',')}}`;
}

/**
 * Postgres: statements sent as one message (the simple query protocol) run in one implicit transaction — all commit,
 * or none — and each takes its own snapshot (READ COMMITTED): a row lock the first takes is held to the end, and a
 * later statement sees what committed before that lock was granted. One round trip for what a transaction does in
 * several. Values must be written with pgLiteral.
 */
export async function pgScript(db: Kysely<Database>, statements: readonly string[]): Promise<void> {
  await sql.raw(statements.join(';\n')).execute(db);
}

/** The pool under each Postgres handle openDb made: pgScriptResults reads what kysely does not return. */
const pools = new WeakMap<Kysely<Database>, pg.Pool>();

/**
 * pgScript, answering every statement's rows (in order): kysely returns no rows for a message of several statements.
 * Undefined when `db` is not a Postgres handle openDb made (the caller then takes its transaction path).
 */
export async function pgScriptResults(
  db: Kysely<Database>,
  statements: readonly string[],
): Promise<Record<string, unknown>[][] | undefined> {
  const pool = pools.get(db);
  if (!pool) return undefined;
  const r = (await pool.query(statements.join(';\n'))) as unknown as pg.QueryResult | pg.QueryResult[];
  return (Array.isArray(r) ? r : [r]).map((x) => x.rows as Record<string, unknown>[]);
}

/** Terminal deployment statuses: a deployment in one of them never changes status again. */
export const DEPLOYMENT_DONE = ['completed', 'aborted', 'failed'] as const;
