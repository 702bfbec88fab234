import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { TemporalWorkflows } from '../adapters/workflows/temporal';
import { monitorChecksTaskQueue, rollbackTaskQueue } from '../domain/names';
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
  /**
   * The main queue's worker: monitors, canaries, schedules (and rollbacks started before they had a queue of their
   * own). Absent in a process dedicated to rollbacks (WORKER_TASK_QUEUES=rollbacks).
   */
  worker?: Worker;
  /** The rollbacks' queue's worker (TEMPORAL_TASK_QUEUE + `-rollbacks`); absent with WORKER_TASK_QUEUES=main. */
  rollbackWorker?: Worker;
  /** The monitors' checks' queue's worker (TEMPORAL_TASK_QUEUE + `-monitor-checks`, activities only); absent with WORKER_TASK_QUEUES=rollbacks. */
  checksWorker?: Worker;
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
  // Whatever fails below leaves nothing running: no worker polls until every step that can fail has passed (a caller
  // that retries, as npm start does, would otherwise add a set of polling workers each time), and what was opened so
  // far is closed.
  let clientConnection: Connection | undefined;
  const created: Worker[] = [];
  try {
    clientConnection = await Connection.connect(clientConnectionOptions(config, address));
    return await startPolling(config, adapters, extra, metrics, connection, clientConnection, created);
  } catch (e) {
    // Bounded: a worker that does not go within 10 s is left to the process (its connection with it).
    await Promise.race([Promise.allSettled(created.map(dispose)), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await clientConnection?.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Frees a worker that was created but never polled (its workflow threads, its hold on the connection), when creating a
 * later one failed. The SDK has no other way than to run it and shut it down at once; its first poll may reach the
 * server before the shutdown, so nothing that can fail comes after the first worker is created but the next ones.
 */
async function dispose(w: Worker): Promise<void> {
  if (w.getState() !== 'INITIALIZED') return;
  const ran = w.run();
  w.shutdown();
  await ran.catch(() => undefined);
}

async function startPolling(
  config: Config,
  adapters: Adapters,
  extra: Partial<WorkerOptions>,
  metrics: MetricsListener | undefined,
  connection: NativeConnection,
  clientConnection: Connection,
  /** Each worker as it is created, for the caller to dispose of if a later step fails. */
  created: Worker[],
): Promise<WorkerHandle> {
  // The reconciler's activities see and start workflows through this client.
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  const engine = new TemporalWorkflows(
    client,
    config.temporal.taskQueue,
    config.temporal.uiUrl,
    config.temporal.callTimeoutMs,
    config.monitorChecks,
  );
  // One bundle for both workers (bundling takes seconds); a bundle built ahead comes in `extra`.
  const code = extra.workflowBundle
    ? {}
    : { workflowBundle: await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: Runtime.instance().logger }) };
  const dispatcher = deliveryDispatcherFor(adapters, config);
  const options = {
    connection,
    namespace: config.temporal.namespace,
    ...code,
    activities: {
      ...activitiesFor(adapters, config, dispatcher),
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
  };
  // The schedules belong with the worker that runs them; creating them is idempotent. After the bundle (a build that
  // cannot bundle leaves the fleet's schedules as they were), before any worker is created: a namespace that refuses
  // them (schedules disabled, no permission) stops the start here, with no worker to dispose of (disposing of one
  // runs it for an instant, and its first poll can reach the server).
  const { every_s, ...policy } = config.retention;
  await ensureRetentionSchedule(client, config.temporal.taskQueue, policy, every_s);
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
  // The reconciler's schedule last: it also triggers a pass now, which this worker runs once it polls.
  await ensureReconcilerSchedule(client, config.temporal.taskQueue, config.reconcile.every_s);
  const create = async (o: WorkerOptions): Promise<Worker> => {
    const w = await Worker.create(o);
    created.push(w);
    return w;
  };
  const polls = config.workerTaskQueues;
  const worker = polls === 'rollbacks' ? undefined : await create({ ...options, taskQueue: config.temporal.taskQueue });
  // Rollbacks on their own queue and worker (own slots, own workflow thread): a switch never waits for the workflow
  // tasks of the monitors, canaries and schedules on the main queue. In a process of their own
  // (WORKER_TASK_QUEUES=rollbacks) their activities never wait behind a monitor's check on the event loop either.
  const rollbackWorker =
    polls === 'main' ? undefined : await create({ ...options, taskQueue: rollbackTaskQueue(config.temporal.taskQueue) });
  // One stops, both stop: a process polling only one of its queues would look alive and leave the other's work waiting.
  // Monitors' checks (MONITOR_CHECKS=activity): one long-running activity per monitor, mostly asleep, each holding a
  // slot; a worker of their own, activities only, with slots for a fleet (the other activities keep theirs).
  const checksWorker =
    polls === 'rollbacks'
      ? undefined
      : await create({
          connection,
          namespace: config.temporal.namespace,
          taskQueue: monitorChecksTaskQueue(config.temporal.taskQueue),
          activities: options.activities,
          maxConcurrentActivityTaskExecutions: config.monitorCheckSlots,
        });
  // Nothing below fails: the workers poll from here on.
  dispatcher.start();
  const both = [worker, rollbackWorker, checksWorker].filter((w): w is Worker => w !== undefined);
  const stopBoth = () => {
    for (const w of both) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const run = Promise.allSettled(both.map((w) => w.run().finally(stopBoth))).then((rs) => {
    const failed = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  return {
    worker,
    rollbackWorker,
    ...(checksWorker ? { checksWorker } : {}),
    run,
    dispatcher,
    ...(metrics ? { metrics } : {}),
    async stop() {
      await metrics?.close();
      await dispatcher.stop();
      stopBoth();
      // A worker that failed earlier was reported then, through `run`: the stop closes the connections all the same.
      await run.catch(() => undefined);
      await client.connection.close();
      await connection.close();
    },
  };
}

/** How this process calls into workflow code: src/main/workflow-vm.cjs, when loaded with --require, says so. */
export function workflowCallsMode(): string {
  const mode = (globalThis as Record<symbol, unknown>)[Symbol.for('promptback.workflow-vm')];
  return typeof mode === 'string' ? mode : "the SDK's per-call watchdog (started without --require ./src/main/workflow-vm.cjs)";
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
    {
      address: config.temporal.address,
      taskQueue: config.temporal.taskQueue,
      webUi: config.temporal.uiUrl,
      metrics: handle.metrics?.url,
      workflow_calls: workflowCallsMode(),
      task_queues: [
        handle.worker?.options.taskQueue,
        handle.rollbackWorker?.options.taskQueue,
        handle.checksWorker?.options.taskQueue,
      ].filter(Boolean),
      monitor_checks: config.monitorChecks,
    },
    `worker running against ${config.temporal.address}; Web UI ${config.temporal.uiUrl}`,
  );
  return async () => {
    await handle.stop();
    await adapters.db.close();
  };
}

if (require.main === module) runMain('worker', main);
