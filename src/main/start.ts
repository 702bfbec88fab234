import path from 'node:path';
import type { Logger } from 'pino';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode, Runtime } from '@temporalio/worker';
import { startApi } from './api';
import { clientConnectionOptions, ensureSearchAttributes } from './temporal-connection';
import { loadConfig } from './config';
import { temporalSdkLogger } from './logger';
import { messageWithCauses, runMain } from './run';
import { findTemporalCli, startDevServer, type DevServer } from './temporal-server';
import { freeLoopbackAddress, installTemporalRuntime, Telemetry } from './telemetry';
import { openAdapters } from './wiring';
import { startWorker, workflowCallsMode, WORKFLOWS_PATH, type WorkerHandle } from './worker';

/**
 * `npm start`: the whole system on embedded defaults, in one process tree — a Temporal dev server (state in
 * .data/temporal.db, Web UI), the worker and the HTTP API. With TEMPORAL_ADDRESS set, uses that cluster.
 */
async function main(log: Logger): Promise<() => Promise<void>> {
  const loaded = loadConfig();
  // Everything in one process: its worker polls every task queue, whatever WORKER_TASK_QUEUES says (that setting is
  // for `npm run worker` processes dedicated to one queue).
  if (loaded.workerTaskQueues !== 'both') {
    log.warn(
      { WORKER_TASK_QUEUES: loaded.workerTaskQueues },
      'npm start runs one worker that polls every task queue; WORKER_TASK_QUEUES is ignored here',
    );
  }
  const config = { ...loaded, workerTaskQueues: 'both' as const };
  installTemporalRuntime({ logger: temporalSdkLogger(log), metricsBindAddress: await freeLoopbackAddress() });
  let dev: DevServer | undefined;
  let address = config.temporal.address;
  if (!address) {
    const cli = findTemporalCli(config.temporal.cliPath);
    const dbFile = path.join(config.dataDir, 'temporal.db');
    log.info({ cli, dbFile }, 'starting Temporal dev server');
    const devLog = log.child({ component: 'temporal' });
    dev = await startDevServer({
      cli,
      port: config.temporal.port,
      uiPort: config.temporal.uiPort,
      dbFile,
      namespace: config.temporal.namespace,
      ownProcessGroup: true,
      onOutput: (line) => devLog.debug(line),
    });
    address = dev.address;
  }
  const stopDev = async () => dev?.stop();
  try {
    const adapters = await openAdapters(config, log);
    // One process, one scrape target: the API's /metrics shows the worker's and the Temporal SDK's metrics too.
    const telemetry = new Telemetry();
    let worker: WorkerHandle | undefined;
    let workerStatus = 'starting';
    // The API first: it answers (503 for what needs the engine) even while Temporal is unreachable. It is ready
    // (GET /readyz) once the worker below runs, so that a rollback accepted at ready is run at once.
    const api = await startApi(config, adapters, address, log, telemetry, { workerStatus: () => workerStatus });
    const engine = address;
    let stopping = false;
    let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;
    // The wait between two attempts, cut short by a shutdown.
    let wake: () => void = () => undefined;
    let firstAttempt: () => void = () => undefined;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    // The worker needs the engine: keep trying until it answers; its first reconciler pass repairs the gap.
    const workerStarted = (async () => {
      for (let attempt = 0; !stopping; attempt++) {
        try {
          // A cluster may lack the search attributes the workflows write: register them, or say how.
          if (config.temporal.address) await registerSearchAttributes(config, engine, log);
          // Bundled once, not at every attempt (seconds of CPU each).
          bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: Runtime.instance().logger }).catch((e: unknown) => {
            bundle = undefined;
            throw e;
          });
          worker = await startWorker(config, adapters, engine, { workflowBundle: await bundle, workflowsPath: undefined }, { telemetry });
          void worker.run.then(
            () => {
              // Stopped cleanly, but not by our shutdown (a signal the SDK handles itself): no longer ready.
              if (!stopping) workerStatus = 'stopped';
            },
            (e: unknown) => {
              workerStatus = `stopped: ${e instanceof Error ? e.message : String(e)}`;
              log.fatal({ err: e }, 'worker stopped unexpectedly');
            },
          );
          workerStatus = 'ok';
          if (attempt > 0) log.info({ temporal: engine }, 'worker connected to Temporal');
          return;
        } catch (e) {
          const why = messageWithCauses(e);
          // Said once per reason, not every 5 s: the first failure, and each time the reason changes.
          if (workerStatus !== `not started: ${why}; retrying every 5 s`)
            log.error({ err: e, temporal: engine, attempt: attempt + 1 }, `worker not started: ${why}; retrying every 5 s`);
          workerStatus = `not started: ${why}; retrying every 5 s`;
          firstAttempt();
          if (stopping) return;
          await new Promise<void>((r) => {
            const t = setTimeout(r, 5000);
            wake = () => {
              clearTimeout(t);
              r();
            };
          });
        }
      }
    })().finally(firstAttempt);
    // "Up" once the worker runs (or its first attempt failed, said above): what the API accepts from then on is run.
    await attempted;
    log.info(
      { api: api.url, temporal: address, webUi: config.temporal.uiUrl, database: config.databaseUrl, workflow_calls: workflowCallsMode() },
      `promptback is up: API ${api.url}, Temporal ${address}, Web UI ${config.temporal.uiUrl}`,
    );
    return async () => {
      stopping = true;
      wake();
      await api.stop();
      await workerStarted;
      await worker?.stop();
      await adapters.db.close();
      await stopDev();
    };
  } catch (e) {
    await stopDev();
    throw e;
  }
}

async function registerSearchAttributes(config: ReturnType<typeof loadConfig>, address: string, log: Logger): Promise<void> {
  const admin = await Connection.connect(clientConnectionOptions(config, address));
  try {
    await ensureSearchAttributes(admin, config.temporal.namespace, log);
  } finally {
    await admin.close();
  }
}

runMain('start', main);
