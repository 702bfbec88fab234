import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { findTemporalCli, startDevServer, type DevServer } from '../../src/main/temporal-server';
import { WORKFLOWS_PATH } from '../../src/main/worker';
import { freePort } from './ports';
import { TEST_NAMESPACES } from './namespaces';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/**
 * Once per test run: bundle the workflow code (each test worker reuses it) and start one real Temporal dev
 * server for the integration tests (each test file uses its own task queue and database).
 */
interface Project {
  provide<K extends 'temporalAddress' | 'workflowBundlePath'>(key: K, value: string): void;
}

export default async function setup(project: Project): Promise<() => Promise<void>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-test-'));
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, code);
  project.provide('workflowBundlePath', bundlePath);

  const dev: DevServer = await startDevServer({
    cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    extraNamespaces: [...TEST_NAMESPACES],
    headless: true,
  });
  project.provide('temporalAddress', dev.address);
  return async () => {
    await dev.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

const noop = (): void => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
