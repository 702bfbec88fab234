import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { TemporalWorkflows } from '../adapters/workflows/temporal';
import { createReconcileActivities } from '../activities/reconcile';
import { ensureReconcilerSchedule, ensureRetentionSchedule, ensureStorageSchedule } from './schedules';
import { activitiesFor, deliveryDispatcherFor, openAdapters, type Adapters } from './wiring';
import type { DeliveryDispatcher } from '../adapters/notifier/dispatcher';
import { loadConfig, type Config } from './config';
import { temporalSdkLogger } from './logger';
import { runMain } from './run';
import { clientConnectionOptions, ensureSearchAttributes, workerConnectionOptions } from './temporal-connection';
import {
  freeLoopbackAddress,
  installTemporalRuntime,
  startMetricsListener,
  Telemetry,
  temporalSdkMetricsAddress,
  type MetricsListener,
} from './telemetry';

export const WORKFLOWS_PATH = path.join(__dirname, '../workflows/index.ts');

export interface WorkerHandle {
  worker: Worker;
  run: Promise<void>;
  /** Sends the outbox's notifications to PagerDuty, Slack and the webhook, beside the workflows. */
  dispatcher: DeliveryDispatcher;
  /** The worker's own /metrics listener (absent when it shares the API's, under npm start). */
  metrics?: MetricsListener;
  stop(): Promise<void>;
}

/**
 * A worker on the task queue, with activities wired to the given adapters. Its metrics (process, Temporal SDK)
 * go to `opts.telemetry` when given (npm start: the API's /metrics), else to its own listener on
 * config.workerMetricsPort.
 */
export async function startWorker(
  config: Config,
  adapters: Adapters,
  address: string,
  extra: Partial<WorkerOptions> = {},
  opts: { telemetry?: Telemetry } = {},
): Promise<WorkerHandle> {
  const telemetry = opts.telemetry ?? new Telemetry();
  const sdk = temporalSdkMetricsAddress();
  if (sdk) telemetry.includeTemporalSdk(sdk);
  // Opened first: a port in use stops the worker before it polls, with a message naming WORKER_METRICS_PORT.
  const metrics = opts.telemetry
    ? undefined
    : await startMetricsListener({ host: config.host, port: config.workerMetricsPort, tokens: config.tokens, telemetry });
  try {
    return await runWorker(config, adapters, address, extra, metrics);
  } catch (e) {
    await metrics?.close();
    throw e;
  }
}

async function runWorker(
  config: Config,
  adapters: Adapters,
  address: string,
  extra: Partial<WorkerOptions>,
  metrics: MetricsListener | undefined,
): Promise<WorkerHandle> {
  const connection = await NativeConnection.connect(workerConnectionOptions(config, address));
  // The reconciler's activities see and start workflows through this client.
  const client = new Client({
    connection: await Connection.connect(clientConnectionOptions(config, address)),
    namespace: config.temporal.namespace,
  });
  const engine = new TemporalWorkflows(client, config.temporal.taskQueue, config.temporal.uiUrl, config.temporal.callTimeoutMs);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: {
      ...activitiesFor(adapters, config),
      ...createReconcileActivities({
        registry: adapters.registry,
        rollbacks: adapters.rollbacks,
        monitors: adapters.monitors,
        clock: adapters.clock,
        engine,
        graceS: config.reconcile.grace_s,
        monitorIntervalS: config.monitorIntervalS,
      }),
    },
    ...extra,
  });
  const run = worker.run();
  // The schedules belong with the worker that runs them; creating them is idempotent.
  const { every_s, ...policy } = config.retention;
  await ensureRetentionSchedule(client, config.temporal.taskQueue, policy, every_s);
  await ensureReconcilerSchedule(client, config.temporal.taskQueue, config.reconcile.every_s);
  const dispatcher = deliveryDispatcherFor(adapters, config);
  dispatcher.start();
  const s = config.storage;
  await ensureStorageSchedule(
    client,
    config.temporal.taskQueue,
    {
      metrics_1s_keep_s: s.metrics_1s_keep_s,
      metrics_1m_keep_s: s.metrics_1m_keep_s,
      outbox_keep_s: s.outbox_keep_s,
      rollbacks_keep_s: s.rollbacks_keep_s,
    },
    s.every_s,
  );
  return {
    worker,
    run,
    dispatcher,
    ...(metrics ? { metrics } : {}),
    async stop() {
      await metrics?.close();
      await dispatcher.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await run;
      await client.connection.close();
      await connection.close();
    },
  };
}

async function main(log: Logger): Promise<() => Promise<void>> {
  const config = loadConfig();
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is required for a standalone worker (npm start runs everything locally)');
  installTemporalRuntime({ logger: temporalSdkLogger(log), metricsBindAddress: await freeLoopbackAddress() });
  // A cluster (not the dev server npm start runs) may lack the search attributes the workflows write.
  const admin = await Connection.connect(clientConnectionOptions(config, config.temporal.address));
  try {
    await ensureSearchAttributes(admin, config.temporal.namespace, log);
  } finally {
    await admin.close();
  }
  const adapters = await openAdapters(config, log);
  // A workflow bundle built ahead (WORKFLOW_BUNDLE_PATH) saves the start-up bundling: seconds on a busy machine.
  const bundle = config.workflowBundlePath;
  const handle = await startWorker(
    config,
    adapters,
    config.temporal.address,
    bundle ? { workflowBundle: { codePath: bundle }, workflowsPath: undefined } : {},
  );
  log.info(
    { address: config.temporal.address, taskQueue: config.temporal.taskQueue, webUi: config.temporal.uiUrl, metrics: handle.metrics?.url },
    `worker running against ${config.temporal.address}; Web UI ${config.temporal.uiUrl}`,
  );
  return async () => {
    await handle.stop();
    await adapters.db.close();
  };
}

if (require.main === module) runMain('worker', main);
