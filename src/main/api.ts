import http from 'node:http';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { Gauge, type Histogram } from 'prom-client';
import { SqlTelemetryReader } from '../adapters/telemetry/sql';
import { storeOutage } from '../adapters/sql/db';
import { ThreadedMetricsStore } from '../adapters/metrics/ingest-thread';
import { API_GRPC_RETRY, TemporalWorkflows } from '../adapters/workflows/temporal';
import { createApp } from '../api/app';
import { dashboardDigest } from '../api/dashboard';
import { LiveFeed } from '../api/live';
import { createServer } from '../api/server';
import { PromptbackService } from '../api/service';
import { PROBE_MS, PromptWatch } from '../api/watch';
import { loadConfig, type Config } from './config';
import { runMain } from './run';
import { clientConnectionOptions } from './temporal-connection';
import { registerStoreMetrics, Telemetry } from './telemetry';
import { activitiesFor, openAdapters, registerDeliveryMetrics, type Adapters } from './wiring';

export interface ApiHandle {
  server: http.Server;
  /** The Express app behind the server (its routes are what the OpenAPI document must describe). */
  app: Express;
  url: string;
  client: Client;
  stop(): Promise<void>;
}

/**
 * The HTTP API on config.host:config.port (0 = any free port), talking to Temporal at `address`. Its /metrics
 * shows `telemetry` (npm start passes the one it shares with the worker) plus what the store says.
 */
export async function startApi(
  config: Config,
  adapters: Adapters,
  address: string,
  log: Logger,
  telemetry: Telemetry = new Telemetry(),
  opts: { workerStatus?: () => string } = {},
): Promise<ApiHandle> {
  // The ingest thread is up before the API answers, so the first batch is as fast as the rest.
  if (adapters.metrics instanceof ThreadedMetricsStore) await adapters.metrics.warm();
  // Lazy: the API starts (and serves what needs no engine) while Temporal is down; engine calls then answer 503.
  const connection = Connection.lazy({
    ...clientConnectionOptions(config, address),
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions(API_GRPC_RETRY))],
  });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const workflows = new TemporalWorkflows(
    client,
    config.temporal.taskQueue,
    config.temporal.uiUrl,
    config.temporal.callTimeoutMs,
    config.monitorChecks,
  );
  // The monitor's check, run by the ingest fast path when it trips.
  const judging = activitiesFor(adapters, config);
  const service = new PromptbackService({
    registry: adapters.registry,
    rollbacks: adapters.rollbacks,
    metrics: adapters.metrics,
    metricsSource: adapters.metricsSource,
    workflows,
    monitors: adapters.monitors,
    routes: adapters.routes,
    clock: adapters.clock,
    publicUrl: config.publicUrl,
    verification: config.verification,
    monitorIntervalS: config.monitorIntervalS,
    gradualPlan: config.gradual,
    canaryPlan: config.canary,
    log,
    storeOutage,
    deliveries: adapters.deliveries,
    prometheusConfigured: config.prometheus.url !== undefined,
    promqlProblem: (q) => adapters.metricsSource.problemWithQuery(q),
    judge: (input) => judging.monitorCheck(input),
    ...(opts.workerStatus ? { workerStatus: opts.workerStatus } : {}),
  });
  if (config.tokens.length === 0) log.warn('AUTH_TOKENS is empty: authentication is off and every request acts as "anonymous"');
  const metricsRegistry = telemetry.registry;
  registerDeliveryMetrics(metricsRegistry, adapters.deliveries);
  registerStoreMetrics(metricsRegistry, new SqlTelemetryReader(adapters.db.kysely), adapters.clock);
  const watch = new PromptWatch({
    routes: adapters.routes,
    registry: adapters.registry,
    dataVersion: adapters.db.dataVersion,
    probeMs: PROBE_MS[adapters.db.dialect],
    log,
  });
  adapters.registry.onRoutesChanged(() => watch.changed());
  const live = new LiveFeed({ read: () => dashboardDigest(service, adapters.registry), log });
  adapters.registry.onRoutesChanged(() => live.changed());
  new Gauge({
    name: 'promptback_dashboard_event_streams',
    help: 'Open GET /api/events streams (dashboards listening)',
    registers: [metricsRegistry],
    collect() {
      this.set(live.size);
    },
  });
  new Gauge({
    name: 'promptback_watch_connections',
    help: 'Open GET /api/prompts/{prompt}/watch streams',
    registers: [metricsRegistry],
    collect() {
      this.set(watch.size);
    },
  });
  const app = createApp({
    service,
    log,
    tokens: config.tokens,
    metricsRegistry,
    renderMetrics: () => telemetry.render(),
    publicUrl: config.publicUrl,
    watch,
    slack: config.slackActions,
    live,
    storeOutage,
  });
  // resolve's fast path answers before Express: it records into the same histogram, under the same labels.
  const httpDuration = metricsRegistry.getSingleMetric('promptback_http_request_duration_seconds') as Histogram | undefined;
  const resolved = httpDuration?.labels({ method: 'GET', route: '/api/prompts/:prompt/resolve', status: 200 });
  const server = createServer(app, service, config.tokens, { log, ...(resolved ? { observe: (s: number) => resolved.observe(s) } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return {
    server,
    app,
    url: `http://${config.host}:${port}`,
    client,
    async stop() {
      watch.close();
      live.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await workflows.quiesce();
      await connection.close();
    },
  };
}

async function main(log: Logger): Promise<() => Promise<void>> {
  const config = loadConfig();
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS is required for a standalone API (npm start runs everything locally)');
  const adapters = await openAdapters(config, log);
  const api = await startApi(config, adapters, config.temporal.address, log);
  log.info({ url: api.url }, 'API listening');
  return async () => {
    await api.stop();
    await adapters.db.close();
  };
}

if (require.main === module) runMain('api', main);
