import type { Logger } from 'pino';
import { HttpSuiteEvaluator } from '../adapters/evaluator/http';
import { MetricsHistoryEvaluator } from '../adapters/evaluator/metrics-history';
import { RoutingMetricsSource } from '../adapters/metrics/routing';
import { SqlMetricsStore } from '../adapters/metrics/sql';
import type { Evaluator } from '../ports/evaluator';
import { SqlMonitorStore } from '../adapters/monitors/sql';
import { OutboxNotifier } from '../adapters/notifier/outbox';
import { SqlDeliveryLog } from '../adapters/notifier/deliveries';
import { DeliveryDispatcher } from '../adapters/notifier/dispatcher';
import { PagerDutyChannel } from '../adapters/notifier/pagerduty';
import { SlackChannel } from '../adapters/notifier/slack';
import { WebhookChannel } from '../adapters/notifier/webhook';
import type { ChannelName, DeliveryChannel, DirectPager } from '../ports/notifier';
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import { CachedRoutes } from '../adapters/registry/cached-routes';
import { SqlRegistry } from '../adapters/registry/sql';
import { SqlRollbackStore } from '../adapters/rollbacks/sql';
import { ThreadedMetricsStore } from '../adapters/metrics/ingest-thread';
import { INGEST_DECODER_MODULE } from './ingest-decoder';
import { SqlStorage } from '../adapters/storage/sql';
import { importMetricsOnce, metricsUrlFor, openDb, sqliteFile, storeOutage, type Db } from '../adapters/sql/db';
import { ApplicationFailure } from '@temporalio/activity';
import { STORE_UNAVAILABLE } from '../domain/errors';
import { createActivities } from '../activities';
import { randomBytes } from 'node:crypto';
import { monitorWorkflowId, rollbackWorkflowId } from '../domain/names';
import { systemClock, type Clock } from '../ports/clock';
import type { Config } from './config';

/**
 * The adapters behind every port. The only place that picks technologies. `db` holds the registry, rollbacks,
 * monitors and outbox; `metricsDb` the metrics (the same database unless split); `db.close()` closes both.
 */
export interface Adapters {
  db: Db;
  metricsDb: Db;
  clock: Clock;
  registry: SqlRegistry;
  rollbacks: SqlRollbackStore;
  /** promptback's own ingest: written by POST /api/metrics, read for prompts on the builtin provider. */
  metrics: SqlMetricsStore | ThreadedMetricsStore;
  /** What every judge reads (monitors, verification, gradual and canary checks): each prompt's own provider. */
  metricsSource: RoutingMetricsSource;
  /** Roll-up of metrics and deletion of old rows (the storage schedule): metrics in `metricsDb`, the rest in `db`. */
  storage: SqlStorage;
  monitors: SqlMonitorStore;
  notifier: OutboxNotifier;
  routes: CachedRoutes;
  /** What was delivered where, per rollback (read by the API). */
  deliveries: SqlDeliveryLog;
  log: Logger;
}

/** Postgres connections a process opens at most for metrics reads (beside the registry's 10 and the ingest thread's). */
export const METRICS_READ_POOL = 5;

/** METRICS_DECODE: whether the ingest thread parses and checks the batches it writes (see Config.metricsDecode). */
const decodeInThread = (mode: Config['metricsDecode']): boolean => mode !== 'main';

export async function openAdapters(
  config: Pick<Config, 'databaseUrl'> &
    Partial<Pick<Config, 'metricsDatabaseUrl' | 'metricsIngest' | 'metricsDecode' | 'prometheus' | 'storage'>>,
  log: Logger,
  clock: Clock = systemClock,
): Promise<Adapters> {
  const onPoolError = (err: Error) => log.warn({ err }, 'a Postgres connection was lost; the next query opens another');
  const registryDb = await openDb(config.databaseUrl, { onPoolError });
  const metricsUrl = config.metricsDatabaseUrl ?? metricsUrlFor(config.databaseUrl);
  const split = metricsUrl !== config.databaseUrl;
  // On Postgres the metrics reads get connections of their own, even in the same database: a switch, a claim or an
  // audit row never queues for a connection behind the monitors' and verifications' window reads.
  const ownPool = split || registryDb.dialect === 'postgres';
  const metricsDb = ownPool ? await openDb(metricsUrl, split ? { onPoolError } : { poolMax: METRICS_READ_POOL, onPoolError }) : registryDb;
  const registryFile = sqliteFile(config.databaseUrl);
  if (split && registryFile && metricsDb.dialect === 'sqlite') await importMetricsOnce(metricsDb, registryFile);
  // Store and maintenance agree on the rolled-up bucket width.
  const sqlMetrics = new SqlMetricsStore(metricsDb.kysely, config.storage?.rollup_s);
  const metrics =
    (config.metricsIngest ?? 'thread') === 'thread' && (metricsDb.dialect === 'postgres' || sqliteFile(metricsUrl) !== undefined)
      ? new ThreadedMetricsStore(
          sqlMetrics,
          metricsUrl,
          log,
          // The thread reads the registry over a connection of its own: a database only this process has in memory is
          // not one it can open.
          decodeInThread(config.metricsDecode ?? 'auto') && (registryDb.dialect === 'postgres' || registryFile !== undefined)
            ? { module: INGEST_DECODER_MODULE, options: { registryUrl: config.databaseUrl } }
            : undefined,
        )
      : sqlMetrics;
  let closing: Promise<void> | undefined;
  const db: Db = {
    ...registryDb,
    close: () =>
      (closing ??= (async () => {
        if (metrics instanceof ThreadedMetricsStore) await metrics.close();
        if (ownPool) await metricsDb.close();
        await registryDb.close();
      })()),
  };
  const registry = new SqlRegistry(db.kysely, clock);
  const routes = new CachedRoutes(db.kysely, db.dataVersion);
  registry.onRoutesChanged(() => routes.invalidate());
  const metricsSource = new RoutingMetricsSource({
    registry,
    builtin: metrics,
    ...(config.prometheus ? { prometheus: config.prometheus } : {}),
    dataVersion: db.dataVersion,
  });
  registry.onRoutesChanged(() => metricsSource.invalidate());
  return {
    db,
    metricsDb,
    clock,
    registry,
    routes,
    rollbacks: new SqlRollbackStore(db.kysely),
    metrics,
    metricsSource,
    storage: new SqlStorage(db.kysely, db.dialect, config.storage?.rollup_s, metricsDb),
    monitors: new SqlMonitorStore(db.kysely),
    notifier: new OutboxNotifier(db.kysely, log, clock),
    deliveries: new SqlDeliveryLog(db.kysely),
    log,
  };
}

/** The delivery channels the configuration turns on. */
export function deliveryChannelsFor(config: Pick<Config, 'delivery'>): Partial<Record<ChannelName, DeliveryChannel>> {
  const d = config.delivery;
  const timeoutMs = d.timeout_s * 1000;
  return {
    ...(d.pagerduty
      ? { pagerduty: new PagerDutyChannel({ routingKey: d.pagerduty.routing_key, eventsUrl: d.pagerduty.events_url, timeoutMs }) }
      : {}),
    ...(d.slack ? { slack: new SlackChannel({ webhookUrl: d.slack.webhook_url, timeoutMs }) } : {}),
    ...(d.webhook ? { webhook: new WebhookChannel({ url: d.webhook.url, secret: d.webhook.secret, timeoutMs }) } : {}),
  };
}

/** The worker's dispatcher: sends what the outbox holds to the configured channels (and pages directly: DirectPager). */
export function deliveryDispatcherFor(a: Adapters, config: Pick<Config, 'delivery'>): DeliveryDispatcher {
  const d = config.delivery;
  return new DeliveryDispatcher({
    db: a.db.kysely,
    rollbacks: a.rollbacks,
    channels: deliveryChannelsFor(config),
    routes: d.routes,
    policy: { max_attempts: d.max_attempts, backoff_s: d.backoff_s, backoff_max_s: d.backoff_max_s, lease_s: d.lease_s, poll_s: d.poll_s },
    clock: a.clock,
    log: a.log.child({ component: 'delivery' }),
  });
}

export const webUiWorkflowUrl = (config: Pick<Config, 'temporal'>, workflowId: string): string =>
  `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;

/** The baseline-test evaluator the configuration names (default: the version's own metrics history). */
export function evaluatorFor(a: Pick<Adapters, 'metricsSource'>, config: Pick<Config, 'evaluator'>): Evaluator | undefined {
  const e = config.evaluator;
  if (e.kind === 'none') return undefined;
  if (e.kind === 'http')
    return new HttpSuiteEvaluator({ url: e.url!, suiteFile: e.suite!, min_accuracy: e.min_accuracy, timeout_ms: 30_000 });
  return new MetricsHistoryEvaluator(a.metricsSource, { window_s: 300, min_samples: 20, min_accuracy: e.min_accuracy });
}

/**
 * Every activity's store outage (storeOutage: Postgres unreachable or restarting, SQLite busy or out of disk) fails it
 * as one retryable type, STORE_UNAVAILABLE, which a workflow tells from a verdict on the rollback (a rejected target, a
 * refused switch): it waits for the store instead of failing.
 */
function outagesNamed<T extends object>(activities: T): T {
  const named: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    named[name] =
      typeof fn !== 'function'
        ? fn
        : async (...args: unknown[]): Promise<unknown> => {
            try {
              return await (fn as (...a: unknown[]) => unknown)(...args);
            } catch (e) {
              const why = e instanceof ApplicationFailure ? undefined : storeOutage(e);
              if (why !== undefined) throw ApplicationFailure.create({ message: why, type: STORE_UNAVAILABLE, cause: e as Error });
              throw e;
            }
          };
  }
  return named as T;
}

export function activitiesFor(
  a: Adapters,
  config: Pick<Config, 'publicUrl' | 'temporal' | 'verification' | 'gradual' | 'evaluator'> &
    Partial<Pick<Config, 'monitorBlindAfterErrors'>>,
  /** The worker's dispatcher: sends a page directly when the store cannot be used to queue it. */
  directPager?: DirectPager,
) {
  const evaluator = evaluatorFor(a, config);
  return outagesNamed(
    createActivities({
      ...(evaluator ? { evaluator } : {}),
      registry: a.registry,
      rollbacks: a.rollbacks,
      monitors: a.monitors,
      verification: config.verification,
      gradualPlan: config.gradual,
      randomId: () => randomBytes(4).toString('hex'),
      metrics: a.metricsSource,
      ...(config.monitorBlindAfterErrors ? { blindAfterErrors: config.monitorBlindAfterErrors } : {}),
      storage: a.storage,
      notifier: a.notifier,
      ...(directPager ? { directPager, isStoreOutage: (e: unknown) => storeOutage(e) !== undefined } : {}),
      clock: a.clock,
      links: (prompt, rollbackId) =>
        rollbackId === ''
          ? {
              status_url: `${config.publicUrl}/api/monitors/${encodeURIComponent(prompt)}`,
              web_ui: webUiWorkflowUrl(config, monitorWorkflowId(prompt)),
            }
          : {
              status_url: `${config.publicUrl}/api/rollbacks/${encodeURIComponent(rollbackId)}`,
              web_ui: webUiWorkflowUrl(config, rollbackWorkflowId(prompt, rollbackId)),
            },
    }),
  );
}

/** `promptback_deliveries{channel,status}`: read from the store at scrape time, so it covers every worker process. */
export function registerDeliveryMetrics(registry: MetricsRegistry, deliveries: SqlDeliveryLog): void {
  new Gauge({
    name: 'promptback_deliveries',
    help: 'Notification deliveries by channel and status (pending, retrying, sent, failed, skipped)',
    labelNames: ['channel', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await deliveries.countsByChannelAndStatus()) this.set({ channel: c.channel, status: c.status }, c.count);
    },
  });
}
