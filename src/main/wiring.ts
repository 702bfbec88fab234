import type { Logger } from 'pino';
import { HttpSuiteEvaluator } from '../adapters/evaluator/http';
import { MetricsHistoryEvaluator } from '../adapters/evaluator/metrics-history';
import { SqlMetricsStore } from '../adapters/metrics/sql';
import type { Evaluator } from '../ports/evaluator';
import { SqlMonitorStore } from '../adapters/monitors/sql';
import { OutboxNotifier } from '../adapters/notifier/outbox';
import { CachedRoutes } from '../adapters/registry/cached-routes';
import { SqlRegistry } from '../adapters/registry/sql';
import { SqlRollbackStore } from '../adapters/rollbacks/sql';
import { SqlStorage } from '../adapters/storage/sql';
import { openDb, type Db } from '../adapters/sql/db';
import { createActivities } from '../activities';
import { randomBytes } from 'node:crypto';
import { monitorWorkflowId, rollbackWorkflowId } from '../domain/names';
import { systemClock, type Clock } from '../ports/clock';
import type { Config } from './config';

/** The adapters behind every port, over one store. The only place that picks technologies. */
export interface Adapters {
  db: Db;
  clock: Clock;
  registry: SqlRegistry;
  rollbacks: SqlRollbackStore;
  metrics: SqlMetricsStore;
  storage: SqlStorage;
  monitors: SqlMonitorStore;
  notifier: OutboxNotifier;
  routes: CachedRoutes;
}

export async function openAdapters(
  config: Pick<Config, 'databaseUrl'> & Partial<Pick<Config, 'storage'>>,
  log: Logger,
  clock: Clock = systemClock,
): Promise<Adapters> {
  const db = await openDb(config.databaseUrl);
  const registry = new SqlRegistry(db.kysely, clock);
  const routes = new CachedRoutes(db.kysely, db.dataVersion);
  registry.onRoutesChanged(() => routes.invalidate());
  return {
    db,
    clock,
    registry,
    routes,
    rollbacks: new SqlRollbackStore(db.kysely),
    // Store and maintenance agree on the rolled-up bucket width.
    metrics: new SqlMetricsStore(db.kysely, config.storage?.rollup_s),
    storage: new SqlStorage(db.kysely, db.dialect, config.storage?.rollup_s),
    monitors: new SqlMonitorStore(db.kysely),
    notifier: new OutboxNotifier(db.kysely, log, clock),
  };
}

export const webUiWorkflowUrl = (config: Pick<Config, 'temporal'>, workflowId: string): string =>
  `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;

/** The baseline-test evaluator the configuration names (default: the version's own metrics history). */
export function evaluatorFor(a: Pick<Adapters, 'metrics'>, config: Pick<Config, 'evaluator'>): Evaluator | undefined {
  const e = config.evaluator;
  if (e.kind === 'none') return undefined;
  if (e.kind === 'http')
    return new HttpSuiteEvaluator({ url: e.url!, suiteFile: e.suite!, min_accuracy: e.min_accuracy, timeout_ms: 30_000 });
  return new MetricsHistoryEvaluator(a.metrics, { window_s: 300, min_samples: 20, min_accuracy: e.min_accuracy });
}

export function activitiesFor(a: Adapters, config: Pick<Config, 'publicUrl' | 'temporal' | 'verification' | 'gradual' | 'evaluator'>) {
  const evaluator = evaluatorFor(a, config);
  return createActivities({
    ...(evaluator ? { evaluator } : {}),
    registry: a.registry,
    rollbacks: a.rollbacks,
    monitors: a.monitors,
    verification: config.verification,
    gradualPlan: config.gradual,
    randomId: () => randomBytes(4).toString('hex'),
    metrics: a.metrics,
    storage: a.storage,
    notifier: a.notifier,
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
  });
}
