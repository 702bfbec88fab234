import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { withStatementCache } from '../../src/adapters/sql/db';

describe('SQLite statement cache', () => {
  it('prepares a query kysely runs again and again once, and answers it correctly each time', async () => {
    const db = new SQLite(':memory:');
    const prepare = vi.spyOn(db, 'prepare');
    const k = new Kysely<{ t: { id: number; v: string } }>({ dialect: new SqliteDialect({ database: withStatementCache(db) }) });
    await sql`create table t (id integer primary key, v text)`.execute(k);
    for (let i = 0; i < 50; i++)
      await k
        .insertInto('t')
        .values({ id: i, v: `v${i}` })
        .execute();
    const seen: string[] = [];
    for (let i = 0; i < 50; i++) seen.push((await k.selectFrom('t').select('v').where('id', '=', i).executeTakeFirstOrThrow()).v);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`));
    // create table, the insert, the select: three texts, each prepared once.
    expect(prepare).toHaveBeenCalledTimes(3);
    await k.destroy();
    expect(db.open).toBe(false);
  });

  it('keeps at most its size, dropping the least recently used', () => {
    const db = new SQLite(':memory:');
    const cached = withStatementCache(db, 2) as { prepare(s: string): unknown };
    const a = cached.prepare('select 1');
    cached.prepare('select 2');
    expect(cached.prepare('select 1')).toBe(a); // touched: now the most recent
    cached.prepare('select 3'); // drops 'select 2'
    const prepare = vi.spyOn(db, 'prepare');
    expect(cached.prepare('select 1')).toBe(a);
    cached.prepare('select 2');
    expect(prepare).toHaveBeenCalledTimes(1);
    db.close();
  });

  it('a kept statement still works after the schema changed under it', async () => {
    const db = new SQLite(':memory:');
    const k = new Kysely<{ t: { id: number } }>({ dialect: new SqliteDialect({ database: withStatementCache(db) }) });
    await sql`create table t (id integer)`.execute(k);
    await k.insertInto('t').values({ id: 1 }).execute();
    expect(await k.selectFrom('t').selectAll().execute()).toEqual([{ id: 1 }]);
    await sql`alter table t add column note text`.execute(k);
    expect(await k.selectFrom('t').selectAll().execute()).toEqual([{ id: 1, note: null }]);
    await k.destroy();
  });
});
