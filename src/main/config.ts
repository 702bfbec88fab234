import path from 'node:path';
import { z } from 'zod';
import { metricsUrlFor } from '../adapters/sql/db';
import type { CanaryPlan, GradualPlan } from '../domain/stages';
import type { RetentionPolicy } from '../domain/retention';
import { DEFAULT_PAGERDUTY_EVENTS_URL } from '../adapters/notifier/pagerduty';
import { DEFAULT_ROUTES_TEXT, parseRoutes, type Routes } from '../adapters/notifier/routing';
import type { StoragePolicy } from '../domain/storage';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().positive();

/**
 * Every setting, read once from the environment. A bad value stops start-up with a message naming the
 * variable. Defaults are the embedded local setup (README's configuration table mirrors this).
 */
const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(8000),
  // The standalone worker's /metrics (process + Temporal SDK metrics); 0 = any free port. npm start serves all on PORT.
  WORKER_METRICS_PORT: port.default(9464),
  /** Which of the two task queues a worker process polls: both, or one (a worker dedicated to rollbacks). */
  WORKER_TASK_QUEUES: z.enum(['both', 'main', 'rollbacks']).default('both'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: z.string().min(1).optional(),
  METRICS_DATABASE_URL: z.string().min(1).optional(),
  METRICS_INGEST: z.enum(['thread', 'inline']).default('thread'),
  METRICS_DECODE: z.enum(['auto', 'thread', 'main']).default('auto'),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('promptback'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_UI_URL: z.string().url().optional(),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  /** Read by src/main/workflow-vm.cjs before anything else; validated here so that a typo fails loudly. */
  WORKFLOW_DEADLOCK_WATCHDOG: z.enum(['on', 'off']).default('off'),
  /** Read by src/main/workflow-vm.cjs too: a call into workflow code longer than this stops the worker (0: never). */
  WORKFLOW_STALL_EXIT_S: z.coerce.number().int().min(0).max(86_400).default(30),
  AUTH_TOKENS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const { tokens, problems } = parseAuthTokens(s ?? '');
      for (const message of problems) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
      return problems.length > 0 ? z.NEVER : tokens;
    }),
  VERIFY_INTERVAL_S: seconds.default(5),
  VERIFY_DURATION_S: seconds.default(60),
  VERIFY_MAX_ERROR_RATE: z.coerce.number().gt(0).lt(1).default(0.01),
  MIN_SAMPLES: z.coerce.number().int().min(1).default(10),
  MONITOR_INTERVAL_S: seconds.default(30),
  MONITOR_CHECKS: z.enum(['activity', 'timer']).default('activity'),
  MONITOR_CHECK_SLOTS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Monitor checks in a row whose metrics provider could not answer before the on-call is paged, once. */
  MONITOR_BLIND_AFTER_ERRORS: z.coerce.number().int().min(1).max(1000).default(3),
  GRADUAL_STAGES: z
    .string()
    .regex(/^\d{1,2}(,\d{1,2})*$/, 'comma-separated percents left on the bad version, e.g. 75,50,25')
    .default('75,50,25'),
  GRADUAL_STAGE_S: seconds.default(600),
  GRADUAL_CHECK_S: seconds.default(60),
  GRADUAL_MAX_ERROR_RATE: z.coerce.number().gt(0).lt(1).default(0.02),
  CANARY_STAGES: z
    .string()
    .regex(/^\d{1,3}(,\d{1,3})*$/, 'comma-separated percents on the new version, ending at 100, e.g. 1,5,25,100')
    .refine((s) => s.split(',').at(-1) === '100', 'the last canary stage must be 100')
    .default('1,5,25,100'),
  CANARY_BAKE_S: seconds.default(600),
  RETENTION_HOT_VERSIONS: z.coerce.number().int().min(1).default(3),
  RETENTION_PURGE_AFTER_DAYS: z.coerce.number().min(1).default(183),
  RETENTION_AUDIT_DAYS: z.coerce.number().min(0).default(365),
  RETENTION_EVERY_S: seconds.default(3600),
  RECONCILE_EVERY_S: seconds.default(60),
  RECONCILE_GRACE_S: seconds.default(30),
  TEMPORAL_CALL_TIMEOUT_MS: z.coerce.number().int().min(500).max(60_000).default(1500),
  RETENTION_METRICS_1S_HOURS: z.coerce.number().gt(0).default(2),
  METRICS_ROLLUP_S: z.coerce
    .number()
    .int()
    .min(2)
    .max(3600)
    .refine((n) => 3600 % n === 0, 'must divide an hour, e.g. 60 or 300')
    .default(60),
  RETENTION_METRICS_ROLLUP_DAYS: z.coerce.number().gt(0).default(30),
  RETENTION_OUTBOX_DAYS: z.coerce.number().gt(0).default(30),
  RETENTION_ROLLBACKS_DAYS: z.coerce.number().gt(0).default(180),
  STORAGE_EVERY_S: seconds.default(300),
  EVALUATOR: z.enum(['metrics', 'http', 'none']).default('metrics'),
  EVALUATOR_URL: z.string().url().optional(),
  EVALUATOR_SUITE: z.string().min(1).optional(),
  EVALUATOR_MIN_ACCURACY: z.coerce.number().min(0).max(1).default(0.75),
  CANARY_MIN_SAMPLES: z.coerce.number().int().min(1).default(100),
  CANARY_MIN_STAGING_S: z.coerce.number().min(0).default(0),
  /** Prometheus HTTP API base (e.g. http://prometheus:9090), for prompts whose metrics provider is `prometheus`. */
  PROMETHEUS_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
      .optional(),
  ),
  PROMETHEUS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Unset: pretty when stdout is a terminal, JSON otherwise (src/main/logger.ts).
  LOG_FORMAT: z.preprocess((v) => (typeof v === 'string' ? v.trim() || undefined : v), z.enum(['pretty', 'json']).optional()).optional(),
  // Delivery of notifications (worker): channels, routing, retries.
  WEBHOOK_URL: z.string().url().optional(),
  WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  PAGERDUTY_EVENTS_URL: z.string().url().default(DEFAULT_PAGERDUTY_EVENTS_URL),
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  /** Verifies Slack's interactivity requests (Approve / Reject buttons); unset, the route says it is not configured. */
  SLACK_SIGNING_SECRET: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
  /** `U123=alice,U456=bob`: record these Slack users' decisions under these names instead of `slack:<user id>`. */
  SLACK_USERS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const { users, problems } = parseSlackUsers(s ?? '');
      for (const message of problems) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
      return problems.length > 0 ? z.NEVER : users;
    }),
  DELIVERY_ROUTES: z
    .string()
    .default(DEFAULT_ROUTES_TEXT)
    .transform((s, ctx) => {
      try {
        return parseRoutes(s);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    }),
  DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  DELIVERY_BACKOFF_S: seconds.default(5),
  DELIVERY_BACKOFF_MAX_S: seconds.default(300),
  DELIVERY_TIMEOUT_S: seconds.default(10),
  DELIVERY_LEASE_S: seconds.default(60),
  DELIVERY_POLL_S: seconds.default(1),
});

export type Role = 'viewer' | 'operator' | 'admin' | 'ingest';
const ROLES = ['viewer', 'operator', 'admin', 'ingest'] as const;

/**
 * `actor:role:token,…`. Every entry must read one way only: exactly three fields, none empty, no whitespace in
 * them, a known role, no token twice, no empty entries (stray commas). Problems name the entry by position and
 * actor, never by its token: the message ends up in logs.
 */
export function parseAuthTokens(value: string): { tokens: { actor: string; role: Role; token: string }[]; problems: string[] } {
  const tokens: { actor: string; role: Role; token: string }[] = [];
  const problems: string[] = [];
  if (value.trim() === '') return { tokens, problems };
  const seen = new Map<string, number>();
  value.split(',').forEach((raw, i) => {
    const n = i + 1;
    const entry = raw.trim();
    const fields = entry.split(':');
    const actor = fields[0] ?? '';
    const who = actor && !/\s/.test(actor) ? ` (actor "${actor}")` : '';
    const bad = (why: string) => problems.push(`entry ${n}${who} ${why}; expected actor:role:token with role ${ROLES.join('|')}`);
    if (entry === '') return bad('is empty (a stray comma?)');
    if (fields.length !== 3) return bad(`has ${fields.length} fields, not 3 (a token may not contain ":")`);
    const [, role = '', token = ''] = fields;
    if (fields.some((f) => /\s/.test(f))) return bad('has whitespace inside a field');
    if (actor === '') return bad('has an empty actor');
    if (token === '') return bad('has an empty token');
    if (!(ROLES as readonly string[]).includes(role)) return bad(`has role ${JSON.stringify(role)}`);
    const earlier = seen.get(token);
    if (earlier !== undefined)
      return problems.push(`entries ${earlier} and ${n}${who} have the same token; each token must name one actor and role`);
    seen.set(token, n);
    tokens.push({ actor, role: role as Role, token });
  });
  return { tokens, problems };
}

/** `U123=alice,U456=bob` → { U123: 'alice', U456: 'bob' }; problems name the entry by position. */
export function parseSlackUsers(value: string): { users: Record<string, string>; problems: string[] } {
  const users: Record<string, string> = {};
  const problems: string[] = [];
  if (value.trim() === '') return { users, problems };
  value.split(',').forEach((raw, i) => {
    const m = /^([A-Z0-9]+)=(\S+)$/i.exec(raw.trim());
    if (!m) return problems.push(`entry ${i + 1} ${JSON.stringify(raw.trim())} is not <Slack user id>=<name>, e.g. U123=alice`);
    if (users[m[1]!] !== undefined) return problems.push(`entry ${i + 1}: ${m[1]} is mapped twice`);
    users[m[1]!] = m[2]!;
  });
  return { users, problems };
}

export interface Config {
  host: string;
  port: number;
  /** The standalone worker's /metrics listener, on `host` (npm start shows the worker's metrics on the API's). */
  workerMetricsPort: number;
  /**
   * `both` (default): the process polls TEMPORAL_TASK_QUEUE (monitors, canaries, schedules) and `<queue>-rollbacks`.
   * `main` / `rollbacks`: one of them, so that rollbacks can have worker processes of their own, whose event loop
   * never runs a monitor's check.
   */
  workerTaskQueues: 'both' | 'main' | 'rollbacks';
  publicUrl: string;
  dataDir: string;
  databaseUrl: string;
  /** Metrics (ingest, windows): a sibling SQLite file by default, so switches never queue behind metric writes. */
  metricsDatabaseUrl: string;
  /** Metrics batches written on a thread of their own (`thread`; SQLite file or Postgres) or on the API's event loop (`inline`). */
  metricsIngest: 'thread' | 'inline';
  /**
   * Where a metrics batch's JSON is parsed and checked with the ingest thread on: in that thread (`thread`), or on the
   * API's event loop (`main`). `auto` (the default): the thread, on both stores. On SQLite the thread's synchronous
   * writes hold the next batch's parsing, which did not pay while a batch cost 1.3-1.6 ms to decode; at 0.5-0.7 ms
   * the event loop's share is worth more: batch p50 9-14 ms against 12-20 ms, rollback → switched p50 52-85
   * against 71-99 ms under load (bench/detect, 2-core box).
   */
  metricsDecode: 'auto' | 'thread' | 'main';
  temporal: {
    /** Undefined: start a local dev server. */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    /** Frontend port of the dev server `npm start` runs (unused with `address`). */
    port: number;
    uiPort: number;
    uiUrl: string;
    cliPath: string | undefined;
    /** TLS to the cluster: off, server-verified, or mutual (client cert + key). Temporal Cloud needs it on. */
    tls?: { certPath?: string; keyPath?: string; caPath?: string; serverName?: string };
    /** Temporal Cloud API key (implies TLS). */
    apiKey?: string;
    /** Every API call to Temporal answers within this; beyond it the API says 503. */
    callTimeoutMs: number;
  };
  /** The reconciler: how often it runs, and how long a claimed rollback may wait for its workflow to start. */
  reconcile: { every_s: number; grace_s: number };
  tokens: { actor: string; role: Role; token: string }[];
  verification: { interval_s: number; duration_s: number; max_error_rate: number; min_samples: number };
  monitorIntervalS: number;
  /**
   * Where monitors started from now on run their periodic checks: `activity` = one long-running activity per monitor
   * on the `-monitor-checks` task queue (no workflow task per check); `timer` = one workflow task per check.
   */
  monitorChecks: 'activity' | 'timer';
  /** Activities the worker runs at once on the checks' queue: one per monitor, mostly asleep. */
  monitorCheckSlots: number;
  monitorBlindAfterErrors: number;
  gradual: GradualPlan;
  canary: CanaryPlan;
  retention: RetentionPolicy & { every_s: number };
  /** Metric roll-up and deletion of old rows: the `promptback-storage` schedule; `rollup_s` is the coarse bucket width. */
  storage: StoragePolicy & { rollup_s: number; every_s: number };
  evaluator: { kind: 'metrics' | 'http' | 'none'; url?: string; suite?: string; min_accuracy: number };
  /** Undefined url: no prompt may use the prometheus metrics provider. */
  prometheus: { url: string | undefined; timeout_ms: number };
  logLevel: string;
  /** Undefined: chosen by whether stdout is a terminal. */
  logFormat: 'pretty' | 'json' | undefined;
  /** A prebuilt workflow bundle for the worker (skips bundling at start). */
  workflowBundlePath: string | undefined;
  /** Inbound Slack button presses (POST /api/integrations/slack/actions); no secret: the route is not configured. */
  slackActions: { signingSecret: string | undefined; users: Readonly<Record<string, string>> };
  /** Where notifications go after the outbox, and how hard the worker tries. */
  delivery: {
    webhook?: { url: string; secret: string };
    pagerduty?: { routing_key: string; events_url: string };
    slack?: { webhook_url: string };
    routes: Routes;
    max_attempts: number;
    backoff_s: number;
    backoff_max_s: number;
    timeout_s: number;
    lease_s: number;
    poll_s: number;
  };
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const databaseUrl = e.DATABASE_URL ?? path.join(dataDir, 'promptback.db');
  const config: Config = {
    host: e.HOST,
    port: e.PORT,
    workerMetricsPort: e.WORKER_METRICS_PORT,
    workerTaskQueues: e.WORKER_TASK_QUEUES,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    dataDir,
    databaseUrl,
    metricsDatabaseUrl: e.METRICS_DATABASE_URL ?? metricsUrlFor(databaseUrl),
    metricsIngest: e.METRICS_INGEST,
    metricsDecode: e.METRICS_DECODE,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      ...(e.TEMPORAL_TLS === 'true' || e.TEMPORAL_TLS_CERT || e.TEMPORAL_API_KEY
        ? {
            tls: {
              ...(e.TEMPORAL_TLS_CERT ? { certPath: e.TEMPORAL_TLS_CERT } : {}),
              ...(e.TEMPORAL_TLS_KEY ? { keyPath: e.TEMPORAL_TLS_KEY } : {}),
              ...(e.TEMPORAL_TLS_CA ? { caPath: e.TEMPORAL_TLS_CA } : {}),
              ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverName: e.TEMPORAL_TLS_SERVER_NAME } : {}),
            },
          }
        : {}),
      ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
      uiUrl: (e.TEMPORAL_UI_URL ?? `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`).replace(/\/$/, ''),
      cliPath: e.TEMPORAL_CLI_PATH,
      callTimeoutMs: e.TEMPORAL_CALL_TIMEOUT_MS,
    },
    reconcile: { every_s: e.RECONCILE_EVERY_S, grace_s: e.RECONCILE_GRACE_S },
    tokens: e.AUTH_TOKENS,
    verification: {
      interval_s: e.VERIFY_INTERVAL_S,
      duration_s: e.VERIFY_DURATION_S,
      max_error_rate: e.VERIFY_MAX_ERROR_RATE,
      min_samples: e.MIN_SAMPLES,
    },
    monitorIntervalS: e.MONITOR_INTERVAL_S,
    monitorChecks: e.MONITOR_CHECKS,
    monitorCheckSlots: e.MONITOR_CHECK_SLOTS,
    monitorBlindAfterErrors: e.MONITOR_BLIND_AFTER_ERRORS,
    gradual: {
      stages: [
        ...e.GRADUAL_STAGES.split(',').map((p) => ({ percent_on_bad: Number(p), duration_s: e.GRADUAL_STAGE_S })),
        { percent_on_bad: 0, duration_s: 0 },
      ],
      check_interval_s: e.GRADUAL_CHECK_S,
      max_error_rate: e.GRADUAL_MAX_ERROR_RATE,
      min_samples: e.MIN_SAMPLES,
    },
    canary: {
      stages: e.CANARY_STAGES.split(',').map(Number),
      bake_s: e.CANARY_BAKE_S,
      min_samples: e.CANARY_MIN_SAMPLES,
      alpha: 0.05,
      max_extra_bakes: 2,
      min_staging_s: e.CANARY_MIN_STAGING_S,
    },
    retention: {
      hot_count: e.RETENTION_HOT_VERSIONS,
      purge_after_s: e.RETENTION_PURGE_AFTER_DAYS * 86_400,
      audit_period_s: e.RETENTION_AUDIT_DAYS * 86_400,
      every_s: e.RETENTION_EVERY_S,
    },
    storage: {
      metrics_1s_keep_s: e.RETENTION_METRICS_1S_HOURS * 3600,
      metrics_1m_keep_s: e.RETENTION_METRICS_ROLLUP_DAYS * 86_400,
      outbox_keep_s: e.RETENTION_OUTBOX_DAYS * 86_400,
      rollbacks_keep_s: e.RETENTION_ROLLBACKS_DAYS * 86_400,
      rollup_s: e.METRICS_ROLLUP_S,
      every_s: e.STORAGE_EVERY_S,
    },
    evaluator: {
      kind: e.EVALUATOR,
      ...(e.EVALUATOR_URL ? { url: e.EVALUATOR_URL } : {}),
      ...(e.EVALUATOR_SUITE ? { suite: e.EVALUATOR_SUITE } : {}),
      min_accuracy: e.EVALUATOR_MIN_ACCURACY,
    },
    prometheus: { url: e.PROMETHEUS_URL?.replace(/\/$/, ''), timeout_ms: e.PROMETHEUS_TIMEOUT_MS },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    workflowBundlePath: e.WORKFLOW_BUNDLE_PATH,
    slackActions: { signingSecret: e.SLACK_SIGNING_SECRET, users: e.SLACK_USERS },
    delivery: {
      ...(e.WEBHOOK_URL && e.WEBHOOK_SECRET ? { webhook: { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET } } : {}),
      ...(e.PAGERDUTY_ROUTING_KEY ? { pagerduty: { routing_key: e.PAGERDUTY_ROUTING_KEY, events_url: e.PAGERDUTY_EVENTS_URL } } : {}),
      ...(e.SLACK_WEBHOOK_URL ? { slack: { webhook_url: e.SLACK_WEBHOOK_URL } } : {}),
      routes: e.DELIVERY_ROUTES,
      max_attempts: e.DELIVERY_MAX_ATTEMPTS,
      backoff_s: e.DELIVERY_BACKOFF_S,
      backoff_max_s: e.DELIVERY_BACKOFF_MAX_S,
      timeout_s: e.DELIVERY_TIMEOUT_S,
      lease_s: Math.max(e.DELIVERY_LEASE_S, e.DELIVERY_TIMEOUT_S * 2),
      poll_s: e.DELIVERY_POLL_S,
    },
  };
  if (Boolean(e.TEMPORAL_TLS_CERT) !== Boolean(e.TEMPORAL_TLS_KEY)) {
    throw new ConfigError('invalid configuration:\n  TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: mutual TLS needs both (or neither)');
  }
  if (e.TEMPORAL_TLS === 'false' && (e.TEMPORAL_TLS_CERT || e.TEMPORAL_API_KEY)) {
    throw new ConfigError('invalid configuration:\n  TEMPORAL_TLS: is false, but TEMPORAL_TLS_CERT or TEMPORAL_API_KEY needs TLS');
  }
  if (!e.TEMPORAL_ADDRESS && (e.TEMPORAL_TLS === 'true' || e.TEMPORAL_TLS_CERT || e.TEMPORAL_API_KEY)) {
    throw new ConfigError('invalid configuration:\n  TEMPORAL_ADDRESS: TLS and API-key settings are for a cluster; set its address too');
  }
  if (e.EVALUATOR === 'http' && (!e.EVALUATOR_URL || !e.EVALUATOR_SUITE)) {
    throw new ConfigError('invalid configuration:\n  EVALUATOR_URL, EVALUATOR_SUITE: both are required when EVALUATOR=http');
  }
  if (e.WEBHOOK_URL && !e.WEBHOOK_SECRET) {
    // Receivers verify every event's signature; an unsigned webhook would teach them to skip that check.
    throw new ConfigError('invalid configuration:\n  WEBHOOK_SECRET: required when WEBHOOK_URL is set (events are signed with it)');
  }
  if (config.storage.metrics_1m_keep_s <= config.storage.metrics_1s_keep_s) {
    throw new ConfigError(
      'invalid configuration:\n  RETENTION_METRICS_ROLLUP_DAYS: rolled-up metrics must be kept longer than RETENTION_METRICS_1S_HOURS',
    );
  }
  return Object.freeze(config);
}
