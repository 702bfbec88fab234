/**
 * `npm start`'s dev server keeps its state in a SQLite file. Every workflow task of every monitor is a commit there;
 * with SQLite's default rollback journal each commit is several fsyncs, and a slow one on a busy disk holds up the
 * next task of every workflow, the switch path included. The state file runs in WAL mode instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { findTemporalCli, startDevServer } from '../../src/main/temporal-server';
import { freePort } from '../support/ports';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-dev-state-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the dev server npm start runs', () => {
  it('keeps its state file in WAL mode, and the state survives a restart', async () => {
    const dbFile = path.join(dir, 'temporal.db');
    const start = async () =>
      startDevServer({
        cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
        port: await freePort(),
        uiPort: await freePort(),
        namespace: 'promptback-state',
        headless: true,
        dbFile,
      });
    const first = await start();
    await first.stop();
    const db = new SQLite(dbFile, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      // The namespace created at the first start is in the file.
      expect(JSON.stringify(db.prepare('select * from namespaces').all())).toContain('promptback-state');
    } finally {
      db.close();
    }
    const second = await start(); // reopens the same file
    await second.stop();
  });
});
