/**
 * Which errors mean the store cannot be used now (503 with Retry-After) rather than a bug (500) or a bad request: the
 * errors pg, Node's sockets and better-sqlite3 raise, as they raise them.
 */
import { describe, expect, it } from 'vitest';
import { storeOutage } from '../../src/adapters/sql/db';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('storeOutage', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a connection Postgres ended', new Error('Connection terminated unexpectedly')],
    ['the pool waiting too long for a connection', new Error('timeout exceeded when trying to connect')],
    ['Postgres shutting down', withCode('terminating connection due to administrator command', '57P01')],
    ['Postgres starting up', withCode('the database system is starting up', '57P03')],
    ['too many connections', withCode('sorry, too many clients already', '53300')],
    ['a connection failure', withCode('connection failure', '08006')],
    ['a write on a standby (after a failover)', withCode('cannot execute UPDATE in a read-only transaction', '25006')],
    ['SQLite busy beyond its timeout', withCode('database is locked', 'SQLITE_BUSY')],
    ['SQLite out of disk', withCode('database or disk is full', 'SQLITE_FULL')],
    ['SQLite failing to write its file', withCode('disk I/O error', 'SQLITE_IOERR_WRITE')],
    ['a refusal on each address tried', new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], '')],
    ['a wrapped cause', new Error('query failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED') })],
  ])('%s is an outage, named without the address', (_what, err) => {
    expect(storeOutage(err)).not.toContain('127.0.0.1');
    expect(storeOutage(err)).toMatch(
      /^the database (did not answer|file cannot be used now) \((E[A-Z]+|\d{2}[0-9A-Z]{3}|SQLITE_\w+|connection terminated|timeout exceeded when trying to connect)\)$/,
    );
  });

  it.each([
    ['a unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a syntax error (a bug)', withCode('syntax error at or near "SELEC"', '42601')],
    ['a SQLite constraint', withCode('UNIQUE constraint failed: versions.prompt, versions.version', 'SQLITE_CONSTRAINT_UNIQUE')],
    ['a plain error', new Error('something else')],
    ['a configuration limit (not an outage)', withCode('too many range table entries', '53400')],
    ['a protocol violation (a bug: too many bind parameters)', withCode('bind message supplies 70000 parameters', '08P01')],
    ['a read-only SQLite file (a misconfiguration)', withCode('attempt to write a readonly database', 'SQLITE_READONLY')],
    ['a SQLite file that cannot be opened', withCode('unable to open database file', 'SQLITE_CANTOPEN')],
    ['not an error', 'a string'],
    ['null', null],
  ])('%s is not', (_what, err) => {
    expect(storeOutage(err)).toBeUndefined();
  });
});
