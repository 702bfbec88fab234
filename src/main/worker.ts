import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { TemporalWorkflows } from '../adapters/workflows/temporal';
import { createReconcileActivities } from '../activities/reconcile';
import { ensureReconcilerSchedule, ensureRetentionSchedule } from './schedules';
import { activitiesFor, openAdapters, type Adapters } from './wiring';
import { loadConfig, type Config } from './config';
import { runMain } from './run';

export const WORKFLOWS_PATH = path.join(__dirname, '../workflows/index.ts');

export interface WorkerHandle {
  worker: Worker;
  run: Promise<void>;
  stop(): Promise<void>;
}

/** A worker on the task queue, with activities wired to the given adapters. */
export async function startWorker(
  config: Config,
  adapters: Adapters,
  address: string,
  extra: Partial<WorkerOptions> = {},
): Promise<WorkerHandle> {
  const connection = await NativeConnection.connect({ address });
  // The reconciler's activities see and start workflows through this client.
  const client = new Client({ connection: await Connection.connect({ address }), namespace: config.temporal.namespace });
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
  return {
    worker,
    run,
    async stop() {
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
  const adapters = await openAdapters(config, log);
  const handle = await startWorker(config, adapters, config.temporal.address);
  log.info({ address: config.temporal.address, taskQueue: config.temporal.taskQueue }, 'worker running');
  return async () => {
    await handle.stop();
    await adapters.db.close();
  };
}

if (require.main === module) runMain('worker', main);
