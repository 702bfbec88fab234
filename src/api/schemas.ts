import { z } from 'zod';
import { PROMPT_NAME, VERSION_NAME } from '../domain/names';
import { templateProblems } from '../domain/metrics-provider';
import { DEFAULT_POLICY } from '../domain/policy';
import { ROLLBACK_STATUSES } from '../domain/rollback';
import type { Severity } from '../domain/severity';
import { CHANNEL_NAMES, type ChannelName, type PromptNotify } from '../ports/notifier';

export const promptName = z.string().regex(PROMPT_NAME, 'must be 1–128 of [A-Za-z0-9._-], and not . or ..');
export const versionName = z.string().regex(VERSION_NAME, 'must be 1–64 of [A-Za-z0-9._-], and not . or ..');

const fraction = z.number().min(0).max(1);
const alertThresholds = z
  .object({ error_rate: fraction, latency_p99_increase: z.number().min(0).max(100), quality_drop: fraction })
  .partial()
  .strict();
const ruleOverride = z
  .object({
    threshold: z.number().min(0).max(1000),
    inclusive: z.boolean(),
    severity: z.enum(['critical', 'high', 'medium']),
    action: z.enum(['rollback', 'page', 'recommend', 'observe']),
    deadline_s: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400),
    default_action: z.enum(['rollback', 'wait']),
    label: z.string().max(200),
  })
  .partial()
  .strict();
const ruleIds = DEFAULT_POLICY.rules.map((r) => r.id) as [string, ...string[]];

/** Per-prompt overrides of the trigger table; rule ids are those of DEFAULT_POLICY. */
export const policyOverrides = z
  .object({
    window_s: z.number().int().min(10).max(86_400),
    min_samples: z.number().int().min(1).max(1_000_000),
    rules: z.record(z.enum(ruleIds), ruleOverride),
    alerts: z
      .object({ young_minutes: z.number().min(0).max(100_000), young: alertThresholds, mature: alertThresholds })
      .partial()
      .strict(),
    reject_cooldown_s: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400),
    alert_cooldown_s: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400),
    escalation_cooldown_s: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400),
  })
  .partial()
  .strict();

/** A PromQL template with `{{prompt}}`, `{{version}}`, `{{window}}`; checked for what can be seen without Prometheus. */
const promqlTemplate = z
  .string()
  .trim()
  .min(1, 'must be a PromQL query')
  .max(4000)
  .superRefine((q, ctx) => {
    for (const message of templateProblems(q)) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  });

/** Where the prompt's metrics are read from: promptback's own ingest (default) or Prometheus, one PromQL per measure. */
export const promptMetrics = z.discriminatedUnion(
  'provider',
  [
    z.object({ provider: z.literal('builtin') }).strict(),
    z
      .object({
        provider: z.literal('prometheus'),
        queries: z
          .object({
            requests: promqlTemplate,
            errors: promqlTemplate,
            latency_p99_ms: promqlTemplate,
            latency_p50_ms: promqlTemplate.optional(),
            latency_p95_ms: promqlTemplate.optional(),
            quality_mean: promqlTemplate.optional(),
            quality_samples: promqlTemplate.optional(),
          })
          .strict(),
      })
      .strict(),
  ],
  {
    errorMap: (issue, ctx) => ({
      message: issue.code === 'invalid_union_discriminator' ? 'must be "builtin" or "prometheus"' : ctx.defaultError,
    }),
  },
);

const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'manual'];
const channel = z.enum(CHANNEL_NAMES as [ChannelName, ...ChannelName[]]);
const unique = (cs: ChannelName[]): ChannelName[] => [...new Set(cs)];
const channelList = z.array(channel).max(10).transform(unique);
/** Severity → channels; a severity left out keeps the global route, an empty list silences it (never critical). */
const notifyRoutes = z
  .object({
    critical: z
      .array(channel)
      .min(1, 'a critical page cannot be silenced: name at least one channel, or leave critical out to keep the global route')
      .max(10)
      .transform(unique),
    high: channelList,
    medium: channelList,
    low: channelList,
    manual: channelList,
  })
  .partial()
  .passthrough()
  .superRefine((r, ctx) => {
    for (const k of Object.keys(r)) {
      if (!(SEVERITIES as readonly string[]).includes(k))
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `unknown severity "${k}": use ${SEVERITIES.join(', ')}` });
    }
  })
  .transform((r): NonNullable<PromptNotify['routes']> => {
    const known: NonNullable<PromptNotify['routes']> = {};
    for (const s of SEVERITIES) if (r[s] !== undefined) known[s] = r[s];
    return known;
  });
const promptNotify = z.object({ routes: notifyRoutes.optional() }).strict();

export const putPromptBody = z
  .object({
    description: z.string().max(10_000).optional(),
    owner: z.string().max(200).nullable().optional(),
    related: z.array(promptName).max(100).optional(),
    policy: policyOverrides.optional(),
    metrics: promptMetrics.optional(),
    /** null clears the prompt's own routing. */
    notify: promptNotify.nullable().optional(),
  })
  .strict();

export const addVersionBody = z
  .object({
    version: versionName,
    template: z.string().min(1).max(500_000),
    metadata: z.record(z.unknown()).optional(),
  })
  .strict();

export const deployBody = z
  .object({
    version: versionName,
    strategy: z.enum(['immediate', 'canary']).default('immediate'),
  })
  .strict();

export const rollbackBody = z
  .object({
    prompt: promptName,
    target_version: versionName.optional(),
    reason: z.string().min(1).max(2_000).optional(),
    mode: z.enum(['immediate', 'gradual']).default('immediate'),
  })
  .strict();

export const rollbackListQuery = z.object({
  prompt: promptName.optional(),
  status: z.enum(ROLLBACK_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const resolveQuery = z.object({ key: z.string().min(1).max(1024) });

export const metricsQuery = z.object({
  version: versionName.optional(),
  window_s: z.coerce.number().int().min(1).max(86_400).default(300),
});

export const MAX_EVENTS = 10_000;

/**
 * An ISO 8601 time with an offset that is also a time JavaScript can read: zod's pattern lets offsets through that
 * Date cannot (`+24:00`, `+99:99`), which became an Invalid Date and a 500 further on.
 */
const instant = z
  .string()
  .datetime({ offset: true })
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a valid time (an offset is at most ±23:59)');

export const metricEvent = z
  .object({
    prompt: promptName,
    version: versionName,
    ok: z.boolean(),
    latency_ms: z.number().finite().min(0).max(3_600_000),
    quality: z.number().min(0).max(1).optional(),
    at: instant.optional(),
  })
  .strict();

const EVENT_KEYS = new Set(['prompt', 'version', 'ok', 'latency_ms', 'quality', 'at']);

/**
 * The metric event `metricEvent` accepts, checked without zod for the common shape (no `at`): ingest validates 50,000
 * events a second on the event loop that serves switches. Undefined whenever the event is anything else (an `at`,
 * a bad field): then `metricEvent` decides, and names the field. Never accepts what `metricEvent` refuses.
 */
export function plainMetricEvent(
  raw: unknown,
): { prompt: string; version: string; ok: boolean; latency_ms: number; quality?: number } | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  // for…in rather than Object.keys: no array allocated per event (a parsed body's objects inherit nothing enumerable).
  for (const k in o) if (!EVENT_KEYS.has(k) || !Object.hasOwn(o, k)) return undefined;
  const { prompt, version, ok, latency_ms, quality } = o;
  if (o.at !== undefined) return undefined;
  if (typeof prompt !== 'string' || !PROMPT_NAME.test(prompt)) return undefined;
  if (typeof version !== 'string' || !VERSION_NAME.test(version)) return undefined;
  if (typeof ok !== 'boolean') return undefined;
  if (typeof latency_ms !== 'number' || !Number.isFinite(latency_ms) || latency_ms < 0 || latency_ms > 3_600_000) return undefined;
  if (quality === undefined) return { prompt, version, ok, latency_ms };
  if (typeof quality !== 'number' || !(quality >= 0 && quality <= 1)) return undefined;
  return { prompt, version, ok, latency_ms, quality };
}

export const ingestBody = z
  .object({
    events: z.array(z.unknown()).min(1, 'at least one event').max(MAX_EVENTS, `at most ${MAX_EVENTS} events a call`),
  })
  .strict();

export const decisionBody = z.object({ comment: z.string().max(2_000).optional() }).strict();

export const monitorBody = z
  .object({
    prompt: promptName,
    interval_s: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();

/** The most buckets one series answer holds: a chart is a few hundred pixels wide. */
export const MAX_SERIES_POINTS = 500;

/** `GET /api/prompts/{prompt}/metrics/series`: `to` defaults to now, `from` to 30 min before `to`. */
export const seriesQuery = z
  .object({
    from: instant.optional(),
    to: instant.optional(),
    step_s: z.coerce.number().int().min(1).max(86_400).default(30),
    version: versionName.optional(),
  })
  .strict();

/** What `GET /api/prompts/{prompt}/metrics/series` answers: one point per bucket, nulls where a bucket had no traffic. */
export const metricsSeriesAnswer = z.object({
  prompt: z.string(),
  from: z.string().datetime(),
  to: z.string().datetime(),
  step_s: z.number().int(),
  /** The versions that served in the range (all of them are summed per bucket). */
  versions: z.array(z.string()),
  points: z.array(
    z.object({
      at: z.string().datetime(),
      requests: z.number().int(),
      errors: z.number().int(),
      error_rate: z.number().nullable(),
      /** The slowest serving version's p99 in the bucket: an upper bound of the prompt's. */
      latency_p99_ms: z.number().nullable(),
      quality_mean: z.number().nullable(),
      by_version: z.record(z.string(), z.number().int()),
    }),
  ),
});

/** What a `change` event of `GET /api/events` names (the dashboard reads the data from the other routes). */
export const liveChangeEvent = z.object({
  prompts: z.array(z.string()).optional(),
  rollbacks: z.array(z.string()).optional(),
  monitors: z.array(z.string()).optional(),
});
