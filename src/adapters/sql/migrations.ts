import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Versioned schema migrations, applied in name order at start-up by kysely's Migrator. Never edit one that has
 * shipped: add the next. Written with kysely's schema builder so SQLite and Postgres share them.
 */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  // An auto-incrementing key is spelled differently by the two dialects.
  const idType = dialect === 'postgres' ? 'serial' : 'integer';
  const id = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  return {
    '0001_registry': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('prompts')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('owner', 'text')
          .addColumn('related', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('policy', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('active_version', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('versions')
          .addColumn('prompt', 'text', (c) => c.notNull().references('prompts.name'))
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('template', 'text', (c) => c.notNull())
          .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('deployed_at', 'text')
          .addColumn('state', 'text', (c) => c.notNull().defaultTo('hot'))
          .addColumn('known_good', 'integer')
          .addColumn('rolled_back_from', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('versions_pk', ['prompt', 'version'])
          .execute();
        await db.schema
          .createTable('traffic')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('percent', 'double precision', (c) => c.notNull())
          .addPrimaryKeyConstraint('traffic_pk', ['prompt', 'version'])
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', idType, id)
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('from_version', 'text')
          .addColumn('to_version', 'text')
          .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('rollback_id', 'text', (c) => c.unique())
          .addColumn('switch_key', 'text', (c) => c.unique())
          .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.createIndex('audit_log_prompt').on('audit_log').columns(['prompt', 'id']).execute();
        await db.schema
          .createTable('deployments')
          .addColumn('deployment_id', 'text', (c) => c.primaryKey())
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('strategy', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('requested_by', 'text', (c) => c.notNull())
          .addColumn('from_version', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_rollbacks_outbox': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('rollbacks')
          .addColumn('rollback_id', 'text', (c) => c.primaryKey())
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('open', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('view', 'text', (c) => c.notNull())
          .execute();
        // At most one open rollback per prompt, enforced by the store itself so that racing requests cannot both win.
        await db.schema
          .createIndex('rollbacks_one_open_per_prompt')
          .on('rollbacks')
          .column('prompt')
          .unique()
          .where(sql.ref('open'), '=', 1)
          .execute();
        await db.schema.createIndex('rollbacks_prompt_created').on('rollbacks').columns(['prompt', 'created_at']).execute();
        await db.schema
          .createTable('outbox')
          .addColumn('id', idType, id)
          .addColumn('key', 'text', (c) => c.notNull().unique())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('rollback_id', 'text')
          .addColumn('title', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0003_metric_buckets': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('metric_buckets')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('bucket', 'bigint', (c) => c.notNull())
          .addColumn('requests', 'integer', (c) => c.notNull())
          .addColumn('errors', 'integer', (c) => c.notNull())
          .addColumn('latency_hist', 'text', (c) => c.notNull())
          .addColumn('quality_sum', 'double precision', (c) => c.notNull())
          .addColumn('quality_count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('metric_buckets_pk', ['prompt', 'version', 'bucket'])
          .execute();
      },
    },
    '0004_monitors': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('monitors')
          .addColumn('prompt', 'text', (c) => c.primaryKey())
          .addColumn('workflow_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('interval_s', 'double precision', (c) => c.notNull())
          .addColumn('started_by', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('stopped_by', 'text')
          .addColumn('last_check_at', 'text')
          .addColumn('active_version', 'text')
          .addColumn('last_verdict', 'text')
          .addColumn('last_action', 'text')
          .addColumn('checks', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_version_sequence': {
      async up(db: Kysely<unknown>) {
        // Creation order that does not depend on clock resolution (two versions in one millisecond).
        await db.schema
          .alterTable('versions')
          .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0006_deployment_detail': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('deployments')
          .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
      },
    },
    '0007_rollback_input': {
      async up(db: Kysely<unknown>) {
        // What started the rollback workflow, so a claimed rollback whose workflow never started can be started later.
        await db.schema.alterTable('rollbacks').addColumn('input', 'text').execute();
      },
    },
    '0009_metrics_latency_bins': {
      async up(db: Kysely<unknown>) {
        // The latency histogram as one row per (bucket, bin) instead of JSON text in the bucket row: concurrent
        // batches merge it with INSERT … ON CONFLICT DO UPDATE (count = count + excluded.count) in the database,
        // where the read-modify-write of the JSON lost whole batches under concurrent ingest on Postgres.
        await db.schema
          .createTable('metric_latency')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('bucket', 'bigint', (c) => c.notNull())
          .addColumn('bin', 'integer', (c) => c.notNull())
          .addColumn('count', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('metric_latency_pk', ['prompt', 'version', 'bucket', 'bin'])
          .execute();
        const old = db as unknown as Kysely<{
          metric_buckets: { prompt: string; version: string; bucket: number; latency_hist: string };
          metric_latency: { prompt: string; version: string; bucket: number; bin: number; count: number };
        }>;
        let after: { prompt: string; version: string; bucket: number } | undefined;
        for (;;) {
          // Keyset pages over the primary key, so a large store is copied in bounded memory.
          let q = old.selectFrom('metric_buckets').select(['prompt', 'version', 'bucket', 'latency_hist']);
          if (after) {
            const a = after;
            q = q.where((eb) =>
              eb.or([
                eb('prompt', '>', a.prompt),
                eb.and([eb('prompt', '=', a.prompt), eb('version', '>', a.version)]),
                eb.and([eb('prompt', '=', a.prompt), eb('version', '=', a.version), eb('bucket', '>', a.bucket)]),
              ]),
            );
          }
          const rows = await q.orderBy('prompt').orderBy('version').orderBy('bucket').limit(1000).execute();
          if (rows.length === 0) break;
          const bins = rows.flatMap((r) =>
            Object.entries(JSON.parse(r.latency_hist || '{}') as Record<string, number>).map(([bin, count]) => ({
              prompt: r.prompt,
              version: r.version,
              bucket: Number(r.bucket),
              bin: Number(bin),
              count,
            })),
          );
          for (let i = 0; i < bins.length; i += 5000)
            await old
              .insertInto('metric_latency')
              .values(bins.slice(i, i + 5000))
              .execute();
          const last = rows[rows.length - 1]!;
          after = { prompt: last.prompt, version: last.version, bucket: Number(last.bucket) };
        }
        await db.schema.alterTable('metric_buckets').dropColumn('latency_hist').execute();
      },
    },
    '0012_metric_rollup': {
      async up(db: Kysely<unknown>) {
        // 1-min resolution beside the 1-s one: the storage schedule moves 1-s buckets older than a couple of hours here
        // and drops these after a month, so the store stays bounded at any traffic rate.
        // On SQLite the rows live in their primary key (WITHOUT ROWID) instead of a table plus a copy in its key index.
        const clustered = <T extends { modifyEnd(e: ReturnType<typeof sql>): T }>(t: T): T =>
          dialect === 'sqlite' ? t.modifyEnd(sql`without rowid`) : t;
        await db.schema
          .createTable('metric_buckets_1m')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('bucket', 'bigint', (c) => c.notNull())
          .addColumn('requests', 'integer', (c) => c.notNull())
          .addColumn('errors', 'integer', (c) => c.notNull())
          .addColumn('quality_sum', 'double precision', (c) => c.notNull())
          .addColumn('quality_count', 'integer', (c) => c.notNull())
          // The minute's latency histogram as JSON {bin: count}: one row per minute instead of one per bin (~100 at
          // production rates) is a fifth of the bytes on SQLite, a fifteenth on Postgres. Only the storage pass writes
          // these rows (ingest writes 1-s rows), merging in SQL, so the read-modify-write race of migration 0009 is absent.
          .addColumn('latency_hist', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('metric_buckets_1m_pk', ['prompt', 'version', 'bucket'])
          .$call(clustered)
          .execute();
        // The oldest due bucket is found by time across all prompts; 1-s latency bins are then reached per (prompt,
        // version) through their primary key, so only the bucket tables carry a time index.
        await db.schema.createIndex('metric_buckets_time').on('metric_buckets').column('bucket').execute();
        await db.schema.createIndex('metric_buckets_1m_time').on('metric_buckets_1m').column('bucket').execute();
        await db.schema.createIndex('outbox_created').on('outbox').column('created_at').execute();
        await db.schema.createIndex('rollbacks_finished').on('rollbacks').columns(['open', 'updated_at']).execute();
      },
    },
    '0011_route_version': {
      async up(db: Kysely<unknown>) {
        // Postgres has no data_version: a counter every statement that changes what `resolve` answers bumps in its own
        // transaction, so an API process on any host sees a committed switch with one cheap read.
        if (dialect !== 'postgres') return;
        await sql`CREATE TABLE route_version (id integer PRIMARY KEY, v bigint NOT NULL)`.execute(db);
        await sql`INSERT INTO route_version (id, v) VALUES (1, 0)`.execute(db);
        await sql`CREATE FUNCTION promptback_bump_route_version() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN UPDATE route_version SET v = v + 1 WHERE id = 1; RETURN NULL; END $$`.execute(db);
        for (const table of ['prompts', 'versions', 'traffic']) {
          await sql`CREATE TRIGGER ${sql.raw(`${table}_route_version`)} AFTER INSERT OR UPDATE OR DELETE ON ${sql.table(table)}
            FOR EACH STATEMENT EXECUTE FUNCTION promptback_bump_route_version()`.execute(db);
        }
      },
    },
    '0010_delivery_dispatch': {
      async up(db: Kysely<unknown>) {
        // When the dispatcher turned the outbox row into deliveries; rows written before dispatch existed count as done.
        await db.schema.alterTable('outbox').addColumn('routed_at', 'text').execute();
        await sql`update outbox set routed_at = created_at`.execute(db);
        await db.schema.createIndex('outbox_unrouted').on('outbox').columns(['routed_at', 'id']).execute();
        await db.schema
          .createTable('deliveries')
          .addColumn('id', idType, id)
          .addColumn('delivery_key', 'text', (c) => c.notNull().unique())
          .addColumn('outbox_id', 'integer', (c) => c.notNull())
          .addColumn('outbox_key', 'text', (c) => c.notNull())
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('rollback_id', 'text')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('lifecycle', 'text')
          .addColumn('title', 'text', (c) => c.notNull())
          // PagerDuty dedup_key of a trigger, so acknowledge/resolve reach the same incident.
          .addColumn('external_key', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'text')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'text')
          .addColumn('last_http_status', 'integer')
          .addColumn('last_reason', 'text')
          .addColumn('history', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('sent_at', 'text')
          .execute();
        await db.schema.createIndex('deliveries_rollback').on('deliveries').columns(['rollback_id', 'id']).execute();
        await db.schema.createIndex('deliveries_due').on('deliveries').columns(['status', 'next_attempt_at']).execute();
      },
    },
    '0012_prompt_metrics_provider': {
      async up(db: Kysely<unknown>) {
        // Where each prompt's metrics are read from; null (every existing prompt) is promptback's own ingest.
        await db.schema.alterTable('prompts').addColumn('metrics', 'text').execute();
      },
    },
    '0014_metric_fillfactor': {
      async up(db: Kysely<unknown>) {
        // Postgres: room in each page for the next versions of its rows. A metrics row is updated by every batch of its
        // second (counts add up); with full pages each update lands on another page and inserts into every index
        // (prompt/version/bucket, bucket), with room it stays on its page and touches no index (a HOT update).
        // Applies to pages written from now on. SQLite updates in place: nothing to do.
        if (dialect !== 'postgres') return;
        for (const table of ['metric_buckets', 'metric_latency'])
          await sql`ALTER TABLE ${sql.table(table)} SET (fillfactor = 50)`.execute(db);
      },
    },
    '0015_metric_latency_in_bucket': {
      async up(db: Kysely<unknown>) {
        // Each second's latency histogram in its bucket row, packed (adapters/metrics/packed-bins) and appended to by
        // every batch's upsert, so that a batch writes one row per prompt and second, not one per (second, latency
        // bin): with latencies spread as real traffic's, those were ~35 new rows a prompt each second, each inserted
        // into the primary-key index at the prompt's place (SQLite rewrote each such page in the WAL per commit).
        // Rows already in metric_latency stay there and are read with the new ones until the roll-up or retention
        // takes them.
        await db.schema
          .alterTable('metric_buckets')
          .addColumn('latency_bins', dialect === 'postgres' ? 'bytea' : 'blob')
          .execute();
        if (dialect !== 'postgres') return; // SQLite: hist_bins is registered on each connection (openDb)
        // The packed pairs as rows (bin, count), for the roll-up: little-endian int32s, 8 bytes a pair.
        await sql`
          CREATE OR REPLACE FUNCTION hist_bins(packed bytea) RETURNS TABLE (bin integer, count integer)
          LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT get_byte(packed, i) | (get_byte(packed, i + 1) << 8) | (get_byte(packed, i + 2) << 16) | (get_byte(packed, i + 3) << 24),
                   get_byte(packed, i + 4) | (get_byte(packed, i + 5) << 8) | (get_byte(packed, i + 6) << 16) | (get_byte(packed, i + 7) << 24)
            FROM generate_series(0, coalesce(length(packed), 0) - 8, 8) AS i
          $$`.execute(db);
      },
    },
    '0016_metric_latency_compact': {
      async up(db: Kysely<unknown>) {
        // Postgres: a latency_bins value merged by bin, ascending (the upsert applies it once a busy second's value has
        // grown past 1 kB; adapters/metrics/packed-bins). SQLite registers it on each connection (openDb).
        if (dialect !== 'postgres') return;
        await sql`
          CREATE OR REPLACE FUNCTION hist_compact(packed bytea) RETURNS bytea
          LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
          DECLARE
            merged bytea := ''::bytea;
            pair bytea;
            r record;
          BEGIN
            FOR r IN SELECT bin, sum(count)::bigint AS c FROM hist_bins(packed) GROUP BY bin ORDER BY bin LOOP
              pair := '\\x0000000000000000'::bytea;
              FOR k IN 0..3 LOOP
                pair := set_byte(pair, k, (r.bin >> (8 * k)) & 255);
                pair := set_byte(pair, 4 + k, ((r.c >> (8 * k)) & 255)::integer);
              END LOOP;
              merged := merged || pair;
            END LOOP;
            RETURN CASE WHEN length(merged) = 0 THEN NULL ELSE merged END;
          END
          $$`.execute(db);
      },
    },
    '0017_route_version_per_prompt': {
      async up(db: Kysely<unknown>) {
        // route_version becomes 64 counters (route_counters), a prompt's changes bumping the one its name hashes to, and
        // route_version a view of their sum (it only grows), which every probe reads as before: replicas not yet
        // upgraded see every prompt's changes too. With one row, every change of every prompt held that row's lock until
        // it committed: a rollback queued behind any other prompt's deploy, stage or registration in flight (on a busy
        // box tens of ms each), and registering prompts in parallel ran one at a time. Now two prompts wait for each
        // other only when they share a counter (1 in 64). A statement that changes no row (a retried switch, an unknown
        // version) bumps nothing: it changed no route.
        if (dialect !== 'postgres') return;
        // A session holding these tables (idle in a transaction, say) fails the start-up with this error rather than
        // queueing every read of them behind the migration.
        await sql`SET LOCAL lock_timeout = '10s'`.execute(db);
        await sql`ALTER TABLE route_version RENAME TO route_counters`.execute(db);
        await sql`INSERT INTO route_counters (id, v) SELECT g, 0 FROM generate_series(0, 63) g WHERE g <> 1`.execute(db);
        await sql`CREATE VIEW route_version AS SELECT 1 AS id, CAST(sum(v) AS bigint) AS v FROM route_counters`.execute(db);
        await sql`CREATE FUNCTION promptback_route_counter(prompt text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
          AS 'SELECT hashtext(prompt) & 63'`.execute(db);
        // The counters of the prompts a statement changed, bumped in ascending order; none when it changed no row. Every
        // transaction changes one prompt (src/adapters/registry/sql.ts): one counter, so no two wait for each other in a
        // cycle. One that changed several prompts in several statements could, with one that changed them in the other
        // order: change them in one statement, or in name order. A counter that is not there fails the statement.
        for (const [table, key] of [
          ['prompts', 'name'],
          ['versions', 'prompt'],
          ['traffic', 'prompt'],
        ] as const) {
          await sql`DROP TRIGGER ${sql.raw(`${table}_route_version`)} ON ${sql.table(table)}`.execute(db);
          for (const [op, rows] of [
            ['INSERT', `SELECT ${key} FROM new_rows`],
            ['UPDATE', `SELECT ${key} FROM new_rows UNION ALL SELECT ${key} FROM old_rows`],
            ['DELETE', `SELECT ${key} FROM old_rows`],
          ] as const) {
            const fn = `promptback_bump_routes_${table}_${op.toLowerCase()}`;
            await sql`CREATE FUNCTION ${sql.raw(fn)}() RETURNS trigger LANGUAGE plpgsql AS ${sql.lit(`
              DECLARE c integer;
              BEGIN
                FOR c IN SELECT DISTINCT promptback_route_counter(k) FROM (${rows}) changed(k) ORDER BY 1 LOOP
                  UPDATE route_counters SET v = v + 1 WHERE id = c;
                  IF NOT FOUND THEN RAISE EXCEPTION 'route counter % is missing from route_counters', c; END IF;
                END LOOP;
                RETURN NULL;
              END`)}`.execute(db);
            const transition = {
              INSERT: 'NEW TABLE AS new_rows',
              UPDATE: 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
              DELETE: 'OLD TABLE AS old_rows',
            }[op];
            await sql`CREATE TRIGGER ${sql.raw(`${table}_routes_${op.toLowerCase()}`)} AFTER ${sql.raw(op)} ON ${sql.table(table)}
              REFERENCING ${sql.raw(transition)} FOR EACH STATEMENT EXECUTE FUNCTION ${sql.raw(fn)}()`.execute(db);
          }
        }
        await sql`DROP FUNCTION promptback_bump_route_version()`.execute(db);
      },
    },
    '0013_prompt_notify': {
      async up(db: Kysely<unknown>) {
        // A prompt's own notification routing; null (every existing prompt) keeps the global routes.
        await db.schema.alterTable('prompts').addColumn('notify', 'text').execute();
      },
    },
  };
}
