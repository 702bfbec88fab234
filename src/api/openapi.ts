/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the same zod schemas the routes validate with
 * (src/api/schemas.ts) and answer with (src/api/responses.ts). Served at GET /openapi.json, shown at GET /docs,
 * written to docs/openapi.json by `npm run openapi`; the typed client (src/client) is generated from it.
 */
import './zod-openapi';
import { OpenApiGeneratorV31, OpenAPIRegistry, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Role } from '../main/config';
import * as r from './responses';
import {
  addVersionBody,
  decisionBody,
  deployBody,
  ingestBody,
  liveChangeEvent,
  MAX_EVENTS,
  metricEvent,
  metricsQuery,
  metricsSeriesAnswer,
  monitorBody,
  promptName,
  putPromptBody,
  resolveQuery,
  rollbackBody,
  rollbackListQuery,
  seriesQuery,
} from './schemas';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export const API_VERSION = '0.1.0';
export const BEARER = 'bearerAuth';

const problemJson = (description: string): ResponseConfig => ({
  description,
  content: { 'application/problem+json': { schema: r.problem } },
});
const ok = (description: string, schema: z.ZodTypeAny): ResponseConfig => ({ description, content: { 'application/json': { schema } } });

/** The answers every route of a kind may give, beside its own. */
const AUTH_ERRORS = {
  401: problemJson('No bearer token, or one that is not valid (only when auth is on)'),
  403: problemJson("The token's role may not do this, or a browser mutation came from a foreign origin"),
};
const BAD_INPUT = { 400: problemJson('Invalid request: `errors` names each field and what is wrong with it') };
const ENGINE = { 503: problemJson('The workflow engine (Temporal) did not answer within 2 s; try again') };
const STORE_OUTAGE = 'the store cannot be used now (Postgres unreachable or restarting, SQLite busy): `Retry-After` says when to try again';
/** A route's 503: its own reasons, and the store's. */
const storeOr = (own: RouteConfig['responses'][string] | undefined): ResponseConfig =>
  problemJson(
    own && 'description' in own && typeof own.description === 'string'
      ? `${own.description.replace(/; try again$/, '')}; or ${STORE_OUTAGE}`
      : `Store unavailable: ${STORE_OUTAGE}`,
  );

const promptParam = z.object({ prompt: promptName.openapi({ param: { description: 'prompt name', example: 'customer-support' } }) });
const idParam = z.object({
  id: z.string().openapi({ param: { description: 'rollback id (the `{id}` of workflow rollback/{prompt}/{id})' } }),
});
const deploymentParam = z.object({ id: z.string().openapi({ param: { description: 'deployment id' } }) });

const jsonBody = (schema: z.ZodTypeAny, required = true) => ({
  required,
  description: 'JSON, whatever the Content-Type says; up to 1 MiB',
  content: { 'application/json': { schema } },
});

/** Builds the document. Every route of createApp() is here: test/integration/openapi.test.ts fails otherwise. */
export function openApiDocument(): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', BEARER, {
    type: 'http',
    scheme: 'bearer',
    description:
      'A token from AUTH_TOKENS. Roles: viewer (all GETs), operator (rollbacks, approvals, monitors, deploys), admin (everything), ingest (POST /api/metrics). With no tokens configured auth is off and every request acts as `anonymous`.',
  });

  const route = (role: Role | undefined, config: Omit<RouteConfig, 'security'>): void => {
    registry.registerPath({
      ...config,
      ...(role
        ? {
            security: [{ [BEARER]: [] }],
            'x-promptback-role': role,
            description: `${config.description ? `${config.description}\n\n` : ''}Needs the \`${role}\` role (or a higher one).`,
          }
        : { security: [] }),
      // What the app answers before any route: a body that is not JSON or too deep (400), too large (413), and a
      // browser mutation from another site (403).
      responses: {
        ...(config.request?.body ? { ...BAD_INPUT, 413: problemJson('The body exceeds 1 MiB') } : {}),
        ...(config.method !== 'get' ? { 403: AUTH_ERRORS[403] } : {}),
        ...config.responses,
        ...(role ? AUTH_ERRORS : {}),
        // Every /api route reads or writes the store: while it cannot be used, 503 (beside the route's own 503s).
        ...(config.path.startsWith('/api/') ? { 503: storeOr(config.responses[503]) } : {}),
      },
    });
  };

  const putPrompt = registry.register('PutPromptBody', putPromptBody);
  const addVersion = registry.register('AddVersionBody', addVersionBody);
  const deploy = registry.register('DeployBody', deployBody);
  const rollback = registry.register('RollbackBody', rollbackBody);
  const decision = registry.register('DecisionBody', decisionBody);
  const monitor = registry.register('MonitorBody', monitorBody);
  const event = registry.register('MetricEvent', metricEvent);
  // The route checks the batch, then each event (to name every bad index): the document shows both at once.
  const ingest = registry.register(
    'IngestBody',
    ingestBody.extend({ events: z.array(event).min(1).max(MAX_EVENTS).describe('all stored, or none if any is invalid') }),
  );

  // Health and the service's own telemetry.
  route(undefined, {
    method: 'get',
    path: '/healthz',
    tags: ['health'],
    operationId: 'health',
    summary: 'The process runs',
    responses: { 200: ok('Running', r.health) },
  });
  route(undefined, {
    method: 'get',
    path: '/readyz',
    tags: ['health'],
    operationId: 'readiness',
    summary: 'Temporal and the store answer (and, under `npm start`, the worker runs)',
    responses: { 200: ok('Ready', r.readiness), 503: ok('Not ready: `checks` says what is down', r.readiness) },
  });
  route('viewer', {
    method: 'get',
    path: '/metrics',
    tags: ['health'],
    operationId: 'metrics',
    summary: "Prometheus text of promptback's own metrics",
    responses: { 200: { description: 'Prometheus exposition format', content: { 'text/plain': { schema: z.string() } } } },
  });
  route(undefined, {
    method: 'get',
    path: '/openapi.json',
    tags: ['health'],
    operationId: 'openapi',
    summary: 'This document',
    responses: { 200: ok('OpenAPI 3.1', z.record(z.unknown())) },
  });
  route(undefined, {
    method: 'get',
    path: '/docs',
    tags: ['health'],
    operationId: 'docs',
    summary: 'Interactive API docs (Swagger UI, served from this process)',
    responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
  });

  // The dashboard: its page, its live change events, and the series it charts.
  route(undefined, {
    method: 'get',
    path: '/',
    tags: ['dashboard'],
    operationId: 'dashboard',
    summary: 'The web dashboard (HTML; it asks for a token when auth is on and holds no data itself)',
    responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
  });
  route('viewer', {
    method: 'get',
    path: '/api/events',
    tags: ['dashboard'],
    operationId: 'events',
    summary: 'Server-sent events: `ready` at connect, then `change` naming the prompts, rollbacks and monitors that changed',
    description: 'A `change` names what changed (a LiveChange as its `data`); read the data from the other routes. Heartbeats every 15 s.',
    responses: {
      200: {
        description: 'An event stream; `event: change`, `data:` a LiveChange (components.schemas.LiveChange)',
        content: { 'text/event-stream': { schema: z.string().openapi({ description: 'event: change\\ndata: <LiveChange JSON>' }) } },
      },
    },
  });
  registry.register('LiveChange', liveChangeEvent);
  route('viewer', {
    method: 'get',
    path: '/api/prompts/{prompt}/metrics/series',
    tags: ['metrics'],
    operationId: 'promptMetricsSeries',
    summary: "The prompt's traffic in time buckets (what the dashboard charts around a switch)",
    request: { params: promptParam, query: seriesQuery },
    responses: {
      200: ok('One point per bucket; nulls where a bucket had no traffic', registry.register('MetricsSeries', metricsSeriesAnswer)),
      ...BAD_INPUT,
      404: problemJson('Unknown prompt or version'),
      503: problemJson("The prompt's metrics provider could not answer"),
    },
  });

  // Prompts and versions.
  route('admin', {
    method: 'put',
    path: '/api/prompts/{prompt}',
    tags: ['prompts'],
    operationId: 'putPrompt',
    summary: 'Create or update a prompt',
    request: { params: promptParam, body: jsonBody(putPrompt) },
    responses: { 200: ok('Updated', r.promptRecord), 201: ok('Created', r.promptRecord), ...BAD_INPUT },
  });
  route('viewer', {
    method: 'get',
    path: '/api/prompts',
    tags: ['prompts'],
    operationId: 'listPrompts',
    summary: 'Every prompt with its active version',
    responses: { 200: ok('Prompts', z.object({ prompts: z.array(r.promptSummary) }).strict()) },
  });
  route('viewer', {
    method: 'get',
    path: '/api/prompts/{prompt}',
    tags: ['prompts'],
    operationId: 'getPrompt',
    summary: 'A prompt with its versions and traffic split',
    request: { params: promptParam },
    responses: { 200: ok('The prompt', r.promptDetail), ...BAD_INPUT, 404: problemJson('Unknown prompt') },
  });
  route('admin', {
    method: 'post',
    path: '/api/prompts/{prompt}/versions',
    tags: ['prompts'],
    operationId: 'addVersion',
    summary: 'Add a version',
    request: { params: promptParam, body: jsonBody(addVersion) },
    responses: {
      201: ok('Added', r.versionRecord),
      ...BAD_INPUT,
      404: problemJson('Unknown prompt'),
      409: problemJson('The version exists'),
    },
  });
  route('operator', {
    method: 'post',
    path: '/api/prompts/{prompt}/deploy',
    tags: ['prompts'],
    operationId: 'deploy',
    summary: 'Deploy a version at once or as a canary; starts its monitor',
    request: { params: promptParam, body: jsonBody(deploy) },
    responses: {
      202: { ...ok('Accepted; `Location` is the status URL', r.deployAccepted), headers: z.object({ Location: z.string().url() }) },
      ...BAD_INPUT,
      404: problemJson('Unknown prompt or version'),
      409: problemJson('A change is already in flight (`rollback_id` or `deployment_id`), nothing to compare against, or the staging gate'),
      ...ENGINE,
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/deployments/{id}',
    tags: ['prompts'],
    operationId: 'getDeployment',
    summary: 'A deployment and, for a canary, its stages',
    request: { params: deploymentParam },
    responses: { 200: ok('The deployment', r.deployment), 404: problemJson('Unknown deployment') },
  });
  route('operator', {
    method: 'post',
    path: '/api/deployments/{id}/abort',
    tags: ['prompts'],
    operationId: 'abortDeployment',
    summary: 'Abort a canary that is rolling out',
    request: { params: deploymentParam, body: jsonBody(decision, false) },
    responses: {
      200: ok('The deployment after the abort', r.deployment),
      ...BAD_INPUT,
      404: problemJson('Unknown deployment'),
      409: problemJson('Not a canary rolling out'),
      ...ENGINE,
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/prompts/{prompt}/resolve',
    tags: ['serving'],
    operationId: 'resolve',
    summary: 'Which version serves request key K now (traffic splits hash K deterministically)',
    request: { params: promptParam, query: resolveQuery },
    responses: {
      200: ok('The version and its template', r.resolved),
      ...BAD_INPUT,
      404: problemJson('Unknown prompt, or nothing deployed'),
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/prompts/{prompt}/watch',
    tags: ['serving'],
    operationId: 'watch',
    summary: 'Server-sent events: the served state at connect and after every change',
    description:
      'Each `version` event carries a WatchState as its `data` and an `id` to send back as `Last-Event-ID` on reconnect (the state is then sent only if it changed). A comment line is sent as a heartbeat every 15 s.',
    request: {
      params: promptParam,
      headers: z.object({
        'last-event-id': z
          .string()
          .optional()
          .openapi({ param: { description: 'the id of the last event received' } }),
      }),
    },
    responses: {
      200: {
        description: 'An event stream; `event: version`, `data:` a WatchState (components.schemas.WatchState)',
        content: {
          'text/event-stream': { schema: z.string().openapi({ description: 'event: version\\nid: …\\ndata: <WatchState JSON>' }) },
        },
      },
      ...BAD_INPUT,
      404: problemJson('Unknown prompt'),
      503: problemJson('Too many open streams'),
    },
  });
  registry.register('WatchState', r.watchState);
  // Named for clients (the metrics summary and its baseline show its fields inline).
  registry.register('WindowStats', r.windowStats);

  // Metrics.
  route('ingest', {
    method: 'post',
    path: '/api/metrics',
    tags: ['metrics'],
    operationId: 'ingest',
    summary: 'Store metric events (at most 10,000 a call; all or nothing)',
    request: { body: jsonBody(ingest) },
    responses: {
      202: ok('Stored', r.ingestAccepted),
      400: problemJson('Invalid events: `errors` names each bad index; nothing from the batch was stored'),
      404: problemJson('Events name an unknown prompt or version (all named); nothing was stored'),
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/prompts/{prompt}/metrics',
    tags: ['metrics'],
    operationId: 'promptMetrics',
    summary: 'A version over a window, beside the last known-good baseline',
    request: { params: promptParam, query: metricsQuery },
    responses: {
      200: ok('The window and its baseline', r.metricsSummary),
      ...BAD_INPUT,
      404: problemJson('Unknown prompt'),
      503: problemJson("The prompt's metrics provider could not answer"),
    },
  });

  // Rollbacks.
  route('operator', {
    method: 'post',
    path: '/api/rollback',
    tags: ['rollbacks'],
    operationId: 'startRollback',
    summary: 'Roll a prompt back (no target_version: the last known-good version)',
    request: { body: jsonBody(rollback) },
    responses: {
      202: { ...ok('Started; `Location` is the status URL', r.rollbackStarted), headers: z.object({ Location: z.string().url() }) },
      ...BAD_INPUT,
      404: problemJson('Unknown prompt or version'),
      409: problemJson('A rollback in flight (`rollback_id`), the target already serves all traffic, or no known-good version'),
      ...ENGINE,
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/rollbacks',
    tags: ['rollbacks'],
    operationId: 'listRollbacks',
    summary: 'Rollbacks, newest first',
    request: { query: rollbackListQuery },
    responses: { 200: ok('Rollbacks', z.object({ rollbacks: z.array(r.rollbackView) }).strict()), ...BAD_INPUT },
  });
  route('viewer', {
    method: 'get',
    path: '/api/rollbacks/{id}',
    tags: ['rollbacks'],
    operationId: 'getRollback',
    summary: 'A rollback: timeline, verification, deliveries, and the post-mortem once finished',
    request: { params: idParam },
    responses: { 200: ok('The rollback', r.rollbackDetail), 404: problemJson('Unknown rollback') },
  });
  route('viewer', {
    method: 'get',
    path: '/api/rollbacks/{id}/postmortem',
    tags: ['rollbacks'],
    operationId: 'getPostMortem',
    summary: "A finished rollback's post-mortem as Markdown",
    request: { params: idParam },
    responses: {
      200: { description: 'Markdown', content: { 'text/markdown': { schema: z.string() } } },
      404: problemJson('Unknown rollback'),
      409: problemJson('The rollback is still running'),
    },
  });
  const decisionResponses = {
    200: ok('Accepted: the rollback once the workflow acted on it', r.decisionResult),
    ...BAD_INPUT,
    404: problemJson('Unknown rollback'),
    409: problemJson('Decision refused: `detail` says why (deadline passed and what was done, already decided by whom, not awaiting)'),
    ...ENGINE,
  };
  for (const [name, summary] of [
    ['approve', 'Approve: execute the rollback'],
    ['reject', 'Reject: investigate, keep watching'],
  ] as const) {
    route('operator', {
      method: 'post',
      path: `/api/rollbacks/{id}/${name}`,
      tags: ['rollbacks'],
      operationId: `${name}Rollback`,
      summary,
      request: { params: idParam, body: jsonBody(decision, false) },
      responses: decisionResponses,
    });
  }
  for (const [name, summary] of [
    ['pause', 'Pause a gradual rollback'],
    ['resume', 'Resume a paused gradual rollback'],
    ['abort', 'Abort a gradual rollback where it stands'],
  ] as const) {
    route('operator', {
      method: 'post',
      path: `/api/rollbacks/{id}/${name}`,
      tags: ['rollbacks'],
      operationId: `${name}Rollback`,
      summary,
      request: { params: idParam, body: jsonBody(decision, false) },
      responses: decisionResponses,
    });
  }
  route('viewer', {
    method: 'get',
    path: '/api/approvals',
    tags: ['rollbacks'],
    operationId: 'listApprovals',
    summary: 'Pending decisions with their deadlines and the default action at the deadline',
    responses: { 200: ok('Pending decisions', z.object({ approvals: z.array(r.approval) }).strict()) },
  });

  // Monitors.
  route('operator', {
    method: 'post',
    path: '/api/monitors',
    tags: ['monitors'],
    operationId: 'startMonitor',
    summary: "Start a prompt's monitor (201), or find it running (200, same id)",
    request: { body: jsonBody(monitor) },
    responses: {
      200: ok('Already running', r.monitorStarted),
      201: ok('Started', r.monitorStarted),
      ...BAD_INPUT,
      404: problemJson('Unknown prompt'),
      ...ENGINE,
    },
  });
  route('viewer', {
    method: 'get',
    path: '/api/monitors',
    tags: ['monitors'],
    operationId: 'listMonitors',
    summary: 'Every monitor with its last check',
    responses: { 200: ok('Monitors', z.object({ monitors: z.array(r.monitorView) }).strict()) },
  });
  route('viewer', {
    method: 'get',
    path: '/api/monitors/{prompt}',
    tags: ['monitors'],
    operationId: 'getMonitor',
    summary: "A prompt's monitor: last check, verdict, open incident",
    request: { params: promptParam },
    responses: { 200: ok('The monitor', r.monitorView), ...BAD_INPUT, 404: problemJson('No monitor for the prompt') },
  });
  route('operator', {
    method: 'delete',
    path: '/api/monitors/{prompt}',
    tags: ['monitors'],
    operationId: 'stopMonitor',
    summary: "Stop a prompt's monitor",
    request: { params: promptParam },
    responses: { 202: ok('Stopping', r.monitorRecord), ...BAD_INPUT, 404: problemJson('No monitor for the prompt'), ...ENGINE },
  });

  // Integrations.
  route(undefined, {
    method: 'post',
    path: '/api/integrations/slack/actions',
    tags: ['integrations'],
    operationId: 'slackActions',
    summary: "Slack's Approve / Reject buttons (the Slack app's Request URL)",
    description:
      'Authenticated by Slack\'s signature, not a bearer token: `X-Slack-Signature: v0=<hex HMAC-SHA256(SLACK_SIGNING_SECRET, "v0:{X-Slack-Request-Timestamp}:{raw body}")>`, within 5 minutes.',
    request: {
      headers: z.object({ 'x-slack-signature': z.string(), 'x-slack-request-timestamp': z.string() }),
      body: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': { schema: z.object({ payload: z.string().describe("Slack's block_actions JSON") }) },
        },
      },
    },
    responses: {
      200: ok('What happened, for the person who clicked (empty for buttons that are not decisions)', r.slackAnswer),
      400: problemJson('`payload` is not a JSON interaction'),
      401: problemJson('Missing, wrong or stale signature'),
      404: problemJson('SLACK_SIGNING_SECRET is not set'),
    },
  });

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'promptback',
      version: API_VERSION,
      description:
        'Keeps bad prompt versions out of production. Errors are application/problem+json (RFC 9457). The written contract is docs/api.md.',
    },
    tags: [
      { name: 'health' },
      { name: 'prompts' },
      { name: 'serving' },
      { name: 'metrics' },
      { name: 'rollbacks' },
      { name: 'monitors' },
      { name: 'integrations' },
    ],
  });
}
