import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/main/worker';
import { startTemporalCluster } from './cluster';
import { TEST_NAMESPACES } from './namespaces';
import { startPostgres } from './postgres';

interface Project {
  provide(key: 'temporalAddress' | 'workflowBundlePath', value: string): void;
}

/**
 * `npm run test:cluster`: the same tests, against the production Temporal server (go.temporal.io/server, built by
 * `npm run setup:cluster`) on Postgres persistence and visibility, instead of the dev server.
 */
export default async function setup(project: Project): Promise<() => Promise<void>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-cluster-'));
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, code);
  project.provide('workflowBundlePath', bundlePath);

  const pg = await startPostgres();
  const cluster = await startTemporalCluster(pg, ['default', ...TEST_NAMESPACES]);
  project.provide('temporalAddress', cluster.address);
  return async () => {
    await cluster.stop();
    pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

const noop = (): void => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
