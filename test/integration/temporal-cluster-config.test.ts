/**
 * Running against a cluster (TEMPORAL_ADDRESS): the worker registers the search attributes the workflows write, so a
 * fresh namespace works without a manual step; settings for TLS / API keys (Temporal Cloud) are validated at start.
 */
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/main/config';
import { createLogger } from '../../src/main/logger';
import { clientConnectionOptions, ensureSearchAttributes } from '../../src/main/temporal-connection';
import { findTemporalCli } from '../../src/main/temporal-server';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../support/ports';

let server: ChildProcess;
let address: string;

beforeAll(async () => {
  // A bare dev server with none of promptback's search attributes, as a new cluster namespace would be.
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  server = spawn(
    findTemporalCli(),
    ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'error'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.workflowService.describeNamespace({ namespace: 'default' });
      await c.close();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
});
afterAll(() => {
  server?.kill('SIGKILL');
});

describe('a cluster without promptback’s search attributes', () => {
  it('gets PromptName, RollbackSeverity and RollbackState registered at start, idempotently', async () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: address });
    const conn = await Connection.connect(clientConnectionOptions(config, address));
    try {
      const before = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(before.customAttributes ?? {})).not.toContain('PromptName');
      const log = createLogger('silent', 'test');
      await ensureSearchAttributes(conn, 'default', log);
      await ensureSearchAttributes(conn, 'default', log);
      const after = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(after.customAttributes ?? {})).toEqual(
        expect.arrayContaining(['PromptName', 'RollbackSeverity', 'RollbackState']),
      );
    } finally {
      await conn.close();
    }
  });

  it('fails with the command that registers them when the namespace does not exist', async () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: address });
    const conn = await Connection.connect(clientConnectionOptions(config, address));
    try {
      await expect(ensureSearchAttributes(conn, 'no-such-namespace', createLogger('silent', 'test'))).rejects.toThrow(
        /temporal operator search-attribute create --namespace no-such-namespace --name PromptName --type Keyword/,
      );
    } finally {
      await conn.close();
    }
  });
});

describe('Temporal settings', () => {
  it('TEMPORAL_PORT moves the dev server frontend (default 7233)', () => {
    expect(loadConfig({}).temporal.port).toBe(7233);
    expect(loadConfig({ TEMPORAL_PORT: '17233' }).temporal.port).toBe(17233);
    expect(() => loadConfig({ TEMPORAL_PORT: 'x' })).toThrow(/TEMPORAL_PORT/);
  });

  it('TLS and API-key settings make Temporal Cloud a configuration, checked at start', () => {
    const cloud = loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' });
    expect(cloud.temporal.apiKey).toBe('k');
    expect(cloud.temporal.tls).toEqual({});
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'a:7233', TEMPORAL_TLS_CERT: '/c.pem' })).toThrow(/TEMPORAL_TLS_KEY/);
    expect(() => loadConfig({ TEMPORAL_API_KEY: 'k' })).toThrow(/TEMPORAL_ADDRESS/);
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'a:7233', TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).toThrow(/TEMPORAL_TLS/);
  });
});
