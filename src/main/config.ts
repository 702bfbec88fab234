import path from 'node:path';
import { z } from 'zod';
import type { CanaryPlan, GradualPlan } from '../domain/stages';
import type { RetentionPolicy } from '../domain/retention';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().positive();

/**
 * Every setting, read once from the environment. A bad value stops start-up with a message naming the
 * variable. Defaults are the embedded local setup (README's configuration table mirrors this).
 */
const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(8000),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: z.string().min(1).optional(),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('promptback'),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_UI_URL: z.string().url().optional(),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  AUTH_TOKENS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const out: { actor: string; role: Role; token: string }[] = [];
      for (const part of (s ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)) {
        const [actor, role, token] = part.split(':');
        const r = z.enum(['viewer', 'operator', 'admin', 'ingest']).safeParse(role);
        if (!actor || !token || !r.success) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: `entry "${part}" is not actor:role:token with role viewer|operator|admin|ingest`,
          });
          return z.NEVER;
        }
        out.push({ actor, role: r.data, token });
      }
      return out;
    }),
  VERIFY_INTERVAL_S: seconds.default(5),
  VERIFY_DURATION_S: seconds.default(60),
  VERIFY_MAX_ERROR_RATE: z.coerce.number().gt(0).lt(1).default(0.01),
  MIN_SAMPLES: z.coerce.number().int().min(1).default(10),
  MONITOR_INTERVAL_S: seconds.default(30),
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
  EVALUATOR: z.enum(['metrics', 'http', 'none']).default('metrics'),
  EVALUATOR_URL: z.string().url().optional(),
  EVALUATOR_SUITE: z.string().min(1).optional(),
  EVALUATOR_MIN_ACCURACY: z.coerce.number().min(0).max(1).default(0.75),
  CANARY_MIN_SAMPLES: z.coerce.number().int().min(1).default(100),
  CANARY_MIN_STAGING_S: z.coerce.number().min(0).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Role = 'viewer' | 'operator' | 'admin' | 'ingest';

export interface Config {
  host: string;
  port: number;
  publicUrl: string;
  dataDir: string;
  databaseUrl: string;
  temporal: {
    /** Undefined: start a local dev server. */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    uiPort: number;
    uiUrl: string;
    cliPath: string | undefined;
    /** Every API call to Temporal answers within this; beyond it the API says 503. */
    callTimeoutMs: number;
  };
  /** The reconciler: how often it runs, and how long a claimed rollback may wait for its workflow to start. */
  reconcile: { every_s: number; grace_s: number };
  tokens: { actor: string; role: Role; token: string }[];
  verification: { interval_s: number; duration_s: number; max_error_rate: number; min_samples: number };
  monitorIntervalS: number;
  gradual: GradualPlan;
  canary: CanaryPlan;
  retention: RetentionPolicy & { every_s: number };
  evaluator: { kind: 'metrics' | 'http' | 'none'; url?: string; suite?: string; min_accuracy: number };
  logLevel: string;
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
  const config: Config = {
    host: e.HOST,
    port: e.PORT,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL ?? path.join(dataDir, 'promptback.db'),
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiPort: e.TEMPORAL_UI_PORT,
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
    evaluator: {
      kind: e.EVALUATOR,
      ...(e.EVALUATOR_URL ? { url: e.EVALUATOR_URL } : {}),
      ...(e.EVALUATOR_SUITE ? { suite: e.EVALUATOR_SUITE } : {}),
      min_accuracy: e.EVALUATOR_MIN_ACCURACY,
    },
    logLevel: e.LOG_LEVEL,
  };
  if (e.EVALUATOR === 'http' && (!e.EVALUATOR_URL || !e.EVALUATOR_SUITE)) {
    throw new ConfigError('invalid configuration:\n  EVALUATOR_URL, EVALUATOR_SUITE: both are required when EVALUATOR=http');
  }
  return Object.freeze(config);
}
