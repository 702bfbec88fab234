/**
 * `npm run bundle` builds the workflow bundle WORKFLOW_BUNDLE_PATH names: a worker starts from it without bundling.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

describe('npm run bundle', () => {
  it('writes a bundle a worker starts from', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-bundle-'));
    try {
      const out = path.join(dir, 'nested', 'workflow-bundle.js');
      const said = execFileSync(path.join(ROOT, 'node_modules/.bin/tsx'), ['scripts/bundle-workflows.ts', out], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      expect(said).toContain(`set WORKFLOW_BUNDLE_PATH=${out}`);
      const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
      try {
        // Creating the worker loads the bundle into its workflow sandbox: a bundle that is not one fails here.
        const worker = await Worker.create({
          connection,
          namespace: 'default',
          taskQueue: `bundle-${process.pid}`,
          workflowBundle: { codePath: out },
        });
        expect(worker.getState()).toBe('INITIALIZED');
        const ran = worker.run();
        worker.shutdown();
        await ran;
      } finally {
        await connection.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
