/**
 * What every route answers, as zod schemas: the source of the OpenAPI document's response shapes (src/api/openapi.ts)
 * and so of the typed client. Each schema is tied to the domain type it shows (`mirrors<T>()`): a field added to or
 * retyped in the domain without its schema here does not compile, so the document cannot fall behind the code.
 */
import './zod-openapi';
import { z } from 'zod';
import type { PostMortem } from '../domain/postmortem';
import type { DecisionRecord, RollbackView } from '../domain/rollback';
import { ROLLBACK_STATUSES } from '../domain/rollback';
import type { StageProgress } from '../domain/stages';
import type { TimelineEntry } from '../domain/timeline';
import type { TrafficShare } from '../domain/traffic';
import type { Verdict, WindowStats } from '../domain/verdict';
import type { MonitorRecord } from '../ports/monitors';
import type { DeliveryRecord } from '../ports/notifier';
import type { Deployment, PromptRecord, VersionRecord } from '../ports/registry';
import { policyOverrides } from './schemas';
import type { PromptbackService } from './service';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compiles only when the schema's output and `T` are assignable both ways. */
const mirrors =
  <T>() =>
  <S extends z.ZodTypeAny>(schema: S & (Same<z.output<S>, T> extends true ? unknown : { mismatch: [z.output<S>, T] })): S =>
    schema;

/**
 * Extending or making nullable a named schema is done by spreading its shape or a union with null: the generator
 * would write `allOf` with its own `additionalProperties: false` (which no object passes) or a nullable `$ref` that
 * JSON Schema 2020 validators read as "must be an object".
 */
const orNull = <S extends z.ZodTypeAny>(s: S) => z.union([s, z.null()]);

const iso = z.string().describe('ISO-8601 UTC time');
const json = z.record(z.unknown());

export const severity = z.enum(['critical', 'high', 'medium', 'low', 'manual']).openapi('Severity');
export const rollbackStatus = z.enum(ROLLBACK_STATUSES).openapi('RollbackStatus');
export const rollbackMode = z.enum(['immediate', 'gradual']).openapi('RollbackMode');

export const fieldError = z.object({ field: z.string(), message: z.string() }).openapi('FieldError');

/** RFC 9457 problem details; extension members (e.g. `rollback_id` of the rollback in flight) sit beside them. */
export const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(fieldError).optional(),
    // The extension members the API sets, where they apply (others may be added: the object stays open).
    rollback_id: z.string().optional().describe('409: the rollback in flight (or the one refused), 404: the one asked for'),
    deployment_id: z.string().optional().describe('409: the canary rolling out'),
    status_url: z.string().url().optional().describe("the rollback's status URL"),
    rollback_status: rollbackStatus.optional().describe('409 Decision refused / Rollback still running: where the rollback stands'),
    decided_by: z.string().nullable().optional().describe('409 Decision refused: who decided already'),
    deadline: z.string().nullable().optional().describe('409 Decision refused: the decision deadline'),
    prompt: z.string().optional(),
    version: z.string().optional(),
  })
  .passthrough()
  .openapi('Problem');

export const trafficShare = mirrors<TrafficShare>()(z.object({ version: z.string(), percent: z.number() }).strict()).openapi(
  'TrafficShare',
);

export const windowStats = mirrors<WindowStats>()(
  z
    .object({
      requests: z.number(),
      errors: z.number(),
      error_rate: z.number().nullable(),
      latency_ms: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() }).strict(),
      quality_mean: z.number().nullable(),
      quality_samples: z.number(),
      window_s: z.number(),
    })
    .strict(),
).openapi('WindowStats');

/** Open to extra members: a verification check of the incident's own metric also says `same_breach`. */
export const verdict = mirrors<Verdict>()(
  z.object({
    kind: z.enum(['healthy', 'breached', 'inconclusive', 'error']),
    rule: z.string(),
    metric: z.string(),
    threshold: z.number(),
    observed: z.number().nullable(),
    window_s: z.number(),
    samples: z.number(),
    summary: z.string(),
    severity: severity.optional(),
    action: z.enum(['rollback', 'page', 'recommend', 'observe', 'alert']).optional(),
    deadline_s: z.number().optional(),
    default_action: z.enum(['rollback', 'wait']).optional(),
    baseline: z.number().nullable().optional(),
    unjudged: z.array(z.string()).optional(),
    errors_in_row: z.number().optional(),
  }),
).openapi('Verdict');

export const timelineEntry = mirrors<TimelineEntry>()(
  z.object({ at: iso, event: z.string(), detail: json.describe('what the event carries (see src/domain/timeline.ts)') }).strict(),
).openapi('TimelineEntry');

const trigger = z
  .object({ metric: z.string(), threshold: z.number(), observed: z.number().nullable(), window_s: z.number(), samples: z.number() })
  .strict();

export const decisionRecord = mirrors<DecisionRecord>()(
  z
    .object({
      kind: z.enum(['approve', 'reject', 'deadline']),
      by: z.string(),
      at: iso,
      via: z.enum(['api', 'slack', 'temporal-signal', 'system']),
      comment: z.string().optional(),
      deadline: iso.optional(),
      default_action: z.string().optional(),
    })
    .strict(),
).openapi('DecisionRecord');

export const stageProgress = mirrors<StageProgress>()(
  z
    .object({
      stage: z.number(),
      of: z.number(),
      percent: z.number(),
      paused: z.boolean(),
      paused_reason: z.string().optional(),
      next_step: z.string(),
      next_at: iso.optional(),
      checks: z.array(
        z
          .object({
            at: iso,
            version: z.string().optional(),
            requests: z.number(),
            errors: z.number(),
            error_rate: z.number().nullable(),
            blended: z.object({ requests: z.number(), errors: z.number(), error_rate: z.number().nullable() }).strict().optional(),
          })
          .strict(),
      ),
      cut_short: z.string().optional(),
    })
    .strict(),
).openapi('StageProgress');

const rollbackViewShape = {
  rollback_id: z.string(),
  workflow_id: z.string(),
  prompt: z.string(),
  from_version: z.string().nullable(),
  to_version: z.string().nullable(),
  reason: z.string(),
  severity,
  trigger: trigger.optional(),
  incident_rule: z.string().optional(),
  mode: rollbackMode,
  status: rollbackStatus,
  requested_by: z.string(),
  requested_at: iso,
  decided_by: z.string().optional(),
  deadline: iso.optional(),
  default_action: z.string().optional(),
  tier: z.number().optional(),
  timeline: z.array(timelineEntry),
  verification: z
    .object({ checks: z.array(verdict), result: z.enum(['recovered', 'not_recovered', 'inconclusive', 'error', 'pending']) })
    .strict()
    .optional(),
  group: z
    .object({
      members: z.array(
        z
          .object({ prompt: z.string(), from_version: z.string(), to_version: z.string(), summary: z.string(), switched: z.boolean() })
          .strict(),
      ),
      not_joining: z.array(z.object({ prompt: z.string(), why: z.string() }).strict()),
    })
    .strict()
    .optional(),
  gradual: stageProgress.optional(),
  decision: decisionRecord.optional(),
  outcome: z
    .enum([
      'recovered',
      'unverified',
      'not_recovered',
      'not_a_prompt_regression',
      'switch_failed',
      'group_failed',
      'rejected',
      'cleared',
      'aborted',
      'failed',
    ])
    .optional(),
  escalation: z.enum(['not_recovered', 'not_a_prompt_regression', 'switch_failed', 'group_failed']).optional(),
  post_mortem: json.optional(),
  updated_at: iso,
};

/** A rollback as `GET /api/rollbacks` lists it (the stored view). */
export const rollbackView = mirrors<RollbackView>()(z.object(rollbackViewShape).strict()).openapi('RollbackView');

const metricsSnapshot = z
  .object({
    at: iso,
    source: z.string(),
    version: z.string().nullable(),
    kind: z.string().nullable(),
    metric: z.string().nullable(),
    observed: z.number().nullable(),
    threshold: z.number().nullable(),
    baseline: z.number().nullable(),
    requests: z.number().nullable(),
    window_s: z.number().nullable(),
    error_rate: z.number().nullable(),
    latency_p99_ms: z.number().nullable(),
    quality_mean: z.number().nullable(),
    summary: z.string(),
  })
  .strict();

export const postMortem = mirrors<PostMortem>()(
  z
    .object({
      rollback_id: z.string(),
      prompt: z.string(),
      status: rollbackStatus,
      outcome: z.string(),
      severity,
      summary: z.string(),
      from_version: z.string().nullable(),
      to_version: z.string().nullable(),
      reason: z.string(),
      mode: rollbackMode,
      trigger: trigger.extend({ rule: z.string().nullable() }).nullable(),
      requested_by: z.string(),
      decided_by: z.string().nullable(),
      decision: z.string().nullable(),
      deployed_at: iso.nullable(),
      detected_at: iso.nullable(),
      decided_at: iso.nullable(),
      switched_at: iso.nullable(),
      recovered_at: iso.nullable(),
      ended_at: iso.nullable(),
      time_to_detect_s: z.number().nullable(),
      time_to_decide_s: z.number().nullable(),
      time_to_switch_s: z.number().nullable(),
      time_to_restore_s: z.number().nullable(),
      total_s: z.number().nullable(),
      metrics_before: metricsSnapshot.nullable(),
      metrics_after: metricsSnapshot.nullable(),
      decisions: z.array(z.object({ at: iso, who: z.string(), what: z.string(), comment: z.string().nullable() }).strict()),
      audit: z.array(z.object({ at: iso, actor: z.string(), action: z.string(), reason: z.string() }).strict()),
      timeline: z.array(timelineEntry),
      questions: z.array(
        z
          .object({
            id: z.enum(['what_changed', 'did_it_pass_tests', 'how_to_prevent']),
            question: z.string(),
            known: z.array(z.string()),
            answer: z.string().nullable(),
            follow_up: z.string().nullable(),
            suggestions: z.array(z.string()),
            excerpts: z.array(z.object({ version: z.string().nullable(), text: z.string() }).strict()),
          })
          .strict(),
      ),
    })
    .strict(),
).openapi('PostMortem');

export const delivery = mirrors<DeliveryRecord>()(
  z
    .object({
      channel: z.enum(['pagerduty', 'slack', 'webhook']),
      delivery_key: z.string(),
      outbox_key: z.string(),
      kind: z.enum(['page', 'alert']),
      severity: z.string(),
      lifecycle: orNull(z.enum(['trigger', 'acknowledge', 'resolve'])),
      title: z.string(),
      status: z.enum(['pending', 'retrying', 'sent', 'failed', 'skipped']),
      attempts: z.number(),
      next_attempt_at: iso.nullable(),
      last_http_status: z.number().nullable(),
      last_reason: z.string().nullable(),
      created_at: iso,
      updated_at: iso,
      sent_at: iso.nullable(),
      history: z.array(
        z
          .object({
            attempt: z.number(),
            at: iso,
            outcome: z.enum(['sent', 'retrying', 'failed']),
            http_status: z.number().optional(),
            reason: z.string().optional(),
            next_attempt_at: iso.optional(),
          })
          .strict(),
      ),
    })
    .strict(),
).openapi('Delivery');

const links = { status_url: z.string().url(), web_ui_url: z.string() };

/** `GET /api/rollbacks/{id}`: the view with its post-mortem once finished, its notifications' deliveries and links. */
export const rollbackDetail = z
  .object({ ...rollbackViewShape, ...links, post_mortem: postMortem.optional(), deliveries: z.array(delivery) })
  .strict()
  .openapi('RollbackDetail');

/** A decision's answer: the state once the workflow acted on it (deliveries are in `GET /api/rollbacks/{id}`). */
export const decisionResult = z
  .object({ ...rollbackViewShape, ...links, post_mortem: postMortem.optional(), deliveries: z.array(delivery).optional() })
  .strict()
  .openapi('DecisionResult');

export const rollbackStarted = z
  .object({
    rollback_id: z.string(),
    status: rollbackStatus,
    status_url: z.string().url(),
    workflow_id: z.string(),
    web_ui_url: z.string(),
  })
  .strict()
  .openapi('RollbackStarted');

export const approval = z
  .object({
    rollback_id: z.string(),
    prompt: z.string(),
    status: rollbackStatus,
    severity,
    reason: z.string(),
    trigger: trigger.nullable(),
    deadline: iso.nullable(),
    default_action: z.string().nullable(),
    tier: z.number(),
    status_url: z.string().url(),
    approve_url: z.string().url(),
    reject_url: z.string().url(),
    web_ui_url: z.string(),
  })
  .strict()
  .openapi('Approval');

const channel = z.enum(['pagerduty', 'slack', 'webhook']);
const promptMetricsView = z.discriminatedUnion('provider', [
  z.object({ provider: z.literal('builtin') }).strict(),
  z
    .object({
      provider: z.literal('prometheus'),
      queries: z
        .object({
          requests: z.string(),
          errors: z.string(),
          latency_p99_ms: z.string(),
          latency_p50_ms: z.string().optional(),
          latency_p95_ms: z.string().optional(),
          quality_mean: z.string().optional(),
          quality_samples: z.string().optional(),
        })
        .strict(),
    })
    .strict(),
]);
const promptNotifyView = z
  .object({
    routes: z
      .object({
        critical: z.array(channel),
        high: z.array(channel),
        medium: z.array(channel),
        low: z.array(channel),
        manual: z.array(channel),
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

const promptRecordShape = {
  name: z.string(),
  description: z.string(),
  owner: z.string().nullable(),
  related: z.array(z.string()),
  policy: policyOverrides.describe("the prompt's overrides of the trigger table"),
  metrics: promptMetricsView,
  notify: promptNotifyView.nullable(),
  active_version: z.string().nullable(),
  created_at: iso,
  updated_at: iso,
};

/** `PUT /api/prompts/{prompt}`: the prompt as stored. */
export const promptRecord = mirrors<Omit<PromptRecord, 'policy'>>()(z.object(promptRecordShape).omit({ policy: true }).strict())
  .extend({
    policy: promptRecordShape.policy,
  })
  .openapi('PromptRecord');

export const promptSummary = z
  .object({ name: z.string(), active_version: z.string().nullable(), monitored: z.boolean(), open_rollback_id: z.string().nullable() })
  .strict()
  .openapi('PromptSummary');

export const versionRecord = mirrors<VersionRecord>()(
  z
    .object({
      prompt: z.string(),
      version: z.string(),
      template: z.string(),
      metadata: json,
      created_at: iso,
      deployed_at: iso.nullable(),
      state: z.enum(['hot', 'archived']),
      known_good: z.boolean().nullable(),
      rolled_back_from: z.boolean(),
    })
    .strict(),
).openapi('VersionRecord');

export const promptDetail = z
  .object({
    ...promptRecordShape,
    traffic: z.array(trafficShare),
    versions: z.array(versionRecord.omit({ prompt: true, template: true })),
    open_rollback_id: z.string().nullable(),
  })
  .strict()
  .openapi('PromptDetail');

export const deployment = mirrors<Deployment>()(
  z
    .object({
      deployment_id: z.string(),
      prompt: z.string(),
      version: z.string(),
      strategy: z.enum(['immediate', 'canary']),
      status: z.string().describe('completed, rolling_out, aborted, failed'),
      requested_by: z.string(),
      created_at: iso,
      updated_at: iso,
      from_version: z.string().nullable(),
      detail: json.optional().describe('stage history and the reason for the outcome (canary rollouts)'),
    })
    .strict(),
).openapi('Deployment');

const monitorGuard = z.discriminatedUnion('status', [
  z.object({ workflow_id: z.string(), status: z.literal('running') }).strict(),
  z.object({ workflow_id: z.string(), status: z.literal('pending'), error: z.string() }).strict(),
]);

/** `POST /api/prompts/{prompt}/deploy`: accepted; a canary also names its workflow. */
export const deployAccepted = z
  .object({ ...deployment.shape, monitor: monitorGuard, status_url: z.string().url(), workflow_id: z.string().optional() })
  .strict()
  .openapi('DeployAccepted');

export const resolved = z.object({ version: z.string(), template: z.string() }).strict().openapi('Resolved');

export const ingestAccepted = z.object({ accepted: z.number().int() }).strict().openapi('IngestAccepted');

export const metricsSummary = z
  .object({
    ...windowStats.shape,
    prompt: z.string(),
    version: z.string().nullable(),
    provider: z.enum(['builtin', 'prometheus']),
    baseline: z
      .object({ ...windowStats.shape, version: z.string() })
      .strict()
      .nullable(),
  })
  .strict()
  .openapi('MetricsSummary');

const monitorRecordShape = {
  prompt: z.string(),
  workflow_id: z.string(),
  status: z.enum(['running', 'stopped', 'pending']),
  interval_s: z.number(),
  started_by: z.string(),
  started_at: iso,
  stopped_by: z.string().nullable(),
  last_check_at: iso.nullable(),
  active_version: z.string().nullable(),
  last_verdict: orNull(verdict),
  last_action: z.string().nullable(),
  checks: z.number(),
  updated_at: iso,
};
export const monitorRecord = mirrors<MonitorRecord>()(z.object(monitorRecordShape).strict()).openapi('MonitorRecord');
export const monitorStarted = z
  .object({ ...monitorRecordShape, created: z.boolean() })
  .strict()
  .openapi('MonitorStarted');
export const monitorView = z
  .object({
    ...monitorRecordShape,
    open_rollback_id: z.string().nullable(),
    open_incident_url: z.string().url().nullable(),
    web_ui_url: z.string(),
  })
  .strict()
  .openapi('MonitorView');

export const health = z
  .object({ status: z.literal('ok') })
  .strict()
  .openapi('Health');
export const readiness = z
  .object({
    status: z.enum(['ready', 'not ready']),
    checks: z
      .record(z.string())
      .describe(
        'per dependency: "ok" or "down: …"; `worker` (API and worker in one process, `npm start`): "ok" once it runs, else why not',
      ),
  })
  .strict()
  .openapi('Readiness');

export const slackAnswer = z
  .object({ replace_original: z.literal(false), response_type: z.literal('ephemeral'), text: z.string() })
  .strict()
  .openapi('SlackAnswer');

/** The data of a watch stream's `version` event. */
export const watchState = z
  .object({
    prompt: z.string(),
    version: z.string().nullable(),
    traffic: z.array(trafficShare),
    templates: z.record(z.string()).describe('the template of every version in traffic'),
  })
  .strict()
  .openapi('WatchState');

// The use cases' own answers, checked against the schemas above (the routes send them as they are).
type Answer<K extends keyof PromptbackService> = PromptbackService[K] extends (...a: never[]) => Promise<infer R> ? R : never;
/** Compiles only when what the service answers is a value of the schema (one way: the schema may be wider). */
const fits =
  <T>() =>
  <S extends z.ZodTypeAny>(schema: S & ([T] extends [z.output<S>] ? unknown : { mismatch: [T, z.output<S>] })): S =>
    schema;
fits<Answer<'getPrompt'>>()(promptDetail);
fits<Answer<'listPrompts'>[number]>()(promptSummary);
fits<Answer<'upsertPrompt'>['prompt']>()(promptRecord);
fits<Answer<'addVersion'>>()(versionRecord);
fits<Answer<'deploy'> & { status_url: string }>()(deployAccepted);
fits<Answer<'getDeployment'>>()(deployment);
fits<Answer<'abortDeployment'>>()(deployment);
fits<Answer<'resolve'>>()(resolved);
fits<Answer<'metricsFor'>>()(metricsSummary);
fits<Answer<'startRollback'>>()(rollbackStarted);
fits<Answer<'listRollbacks'>[number]>()(rollbackView);
fits<Answer<'getRollback'>>()(rollbackDetail);
fits<Answer<'decide'>>()(decisionResult);
fits<Answer<'control'>>()(decisionResult);
fits<Answer<'approvals'>[number]>()(approval);
fits<Answer<'startMonitor'>>()(monitorStarted);
fits<Answer<'stopMonitor'>>()(monitorRecord);
fits<Answer<'getMonitor'>>()(monitorView);
fits<Answer<'listMonitors'>[number]>()(monitorView);
