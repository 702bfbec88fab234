import type { IncomingMessage } from 'node:http';
import express, { type Request, type Response, type NextFunction, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import client from 'prom-client';
import { z } from 'zod';
import { renderPostMortemMarkdown } from '../domain/postmortem';
import { accessLog } from './access-log';
import { authenticate, type Token } from './auth';
import { dashboardRoutes } from './dashboard';
import { mountApiDocs } from './docs';
import { jsonBodyErrors } from './json-guard';
import { decodeMetricBatch } from './metric-batch';
import type { LiveFeed } from './live';
import { problemHandler, Problem, sendProblem } from './problem';
import {
  addVersionBody,
  decisionBody,
  deployBody,
  metricsQuery,
  monitorBody,
  promptName,
  putPromptBody,
  resolveQuery,
  rollbackBody,
  rollbackListQuery,
} from './schemas';
import { sameOriginMutations } from './same-origin';
import { slackActions } from './slack-actions';
import type { PromptbackService } from './service';
import type { PromptWatch } from './watch';

export interface AppDeps {
  service: PromptbackService;
  log: Logger;
  tokens: readonly Token[];
  metricsRegistry?: client.Registry;
  /** The /metrics text: the registry's, plus whatever else this process exposes (the Temporal SDK's own metrics). */
  renderMetrics?: () => Promise<string>;
  /** The API's public base URL: a browser Origin other than this one (or the Host asked) may not change anything. */
  publicUrl?: string;
  /** Serves GET /api/prompts/{prompt}/watch (server-sent events); without it the route does not exist. */
  watch?: PromptWatch;
  /** Slack button presses: the app's signing secret (unset: the route says it is not configured) and user names. */
  slack?: { signingSecret: string | undefined; users: Readonly<Record<string, string>> };
  /** Serves the dashboard's GET /api/events (server-sent events); without it the route does not exist. */
  live?: LiveFeed;
  /** Why an error means the store cannot be used now (answered 503 with Retry-After), or undefined. */
  storeOutage?: (err: unknown) => string | undefined;
}

/** A body with no charset or UTF-8 (JSON's own encoding); of several charset parameters the last counts, as for the JSON parser. */
const utf8Body = (req: IncomingMessage): boolean => {
  const charsets = [...(req.headers['content-type'] ?? '').matchAll(/;\s*charset\s*=\s*"?([^";\s]+)/gi)];
  const charset = charsets.at(-1)?.[1];
  return charset === undefined || /^utf-?8$/i.test(charset);
};

type Handler = (req: Request, res: Response) => Promise<void>;
const route =
  (h: Handler): RequestHandler =>
  (req: Request, res: Response, next: NextFunction) => {
    h(req, res).catch(next);
  };

const param = (req: Request, name: string): string => {
  const parsed = promptName.safeParse(req.params[name]);
  if (!parsed.success)
    throw new Problem(400, 'Invalid request', `${name}: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
      errors: [{ field: name, message: 'invalid name' }],
    });
  return parsed.data;
};

/** The HTTP API of docs/api.md. No business rules here: validate, call one use case, map errors. */
export function createApp(deps: AppDeps): express.Express {
  const { service, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const registry = deps.metricsRegistry ?? new client.Registry();
  const httpDuration = new client.Histogram({
    name: 'promptback_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const rollbacksStarted = new client.Counter({
    name: 'promptback_rollbacks_started_total',
    help: 'Rollbacks started through the API',
    registers: [registry],
  });
  const eventsIngested = new client.Counter({
    name: 'promptback_metric_events_ingested_total',
    help: 'Metric events stored',
    registers: [registry],
  });

  app.use(accessLog(log));
  app.use((req, res, next) => {
    const end = httpDuration.startTimer();
    res.on('finish', () =>
      end({ method: req.method, route: (req.route as { path?: string } | undefined)?.path ?? 'unmatched', status: res.statusCode }),
    );
    next();
  });
  app.use(sameOriginMutations(deps.publicUrl));
  // Before the JSON parser: Slack signs the raw form body, and its signature (not a bearer token) authenticates it.
  app.post(
    ...slackActions({
      signingSecret: deps.slack?.signingSecret,
      users: deps.slack?.users ?? {},
      service,
      log,
      ...(deps.storeOutage ? { storeOutage: deps.storeOutage } : {}),
    }),
  );
  // Metric batches (UTF-8, as nearly all are) are read as bytes and decoded by the metrics ingest thread: a 1,000-event
  // batch then costs this event loop, which serves switches and resolves, a hand-over instead of parsing and checking
  // 1,000 events. Any other charset goes through the JSON parser below (and is decoded here).
  app.post('/api/metrics', express.raw({ type: utf8Body, limit: '1mb' }));
  // Bodies are JSON whatever the Content-Type says (the runbook's curl may send none), up to 1 MiB.
  app.use(express.json({ type: () => true, limit: '1mb', strict: false }));
  app.use((req, res, next) => {
    // Raw bytes (a metric batch) are checked where they are parsed.
    if (Buffer.isBuffer(req.body)) return next();
    const errors = jsonBodyErrors(req.body);
    if (errors.length === 0) return next();
    sendProblem(res, 400, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
  });

  const auth = authenticate(deps.tokens);
  // A request with no body at all parses as {} (express leaves req.body undefined or {} then).
  const body = <T extends z.ZodTypeAny>(schema: T, req: Request): z.infer<T> => schema.parse((req.body as unknown) ?? {}) as z.infer<T>;

  mountApiDocs(app);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(
    '/readyz',
    route(async (_req, res) => {
      const r = await service.readiness();
      res.status(r.ok ? 200 : 503).json({ status: r.ok ? 'ready' : 'not ready', checks: r.checks });
    }),
  );
  // What promptback itself is doing (queues, rollbacks, approvals) is for operators: a viewer token when auth is on.
  app.get(
    '/metrics',
    auth('viewer'),
    route(async (_req, res) => {
      res.type(registry.contentType).send(deps.renderMetrics ? await deps.renderMetrics() : await registry.metrics());
    }),
  );

  // Prompts and versions.
  app.put(
    '/api/prompts/:prompt',
    auth('admin'),
    route(async (req, res) => {
      const name = param(req, 'prompt');
      const input = body(putPromptBody, req);
      const { created, prompt } = await service.upsertPrompt({ name, ...input }, req.actor!);
      res.status(created ? 201 : 200).json(prompt);
    }),
  );
  app.get(
    '/api/prompts',
    auth('viewer'),
    route(async (_req, res) => {
      res.json({ prompts: await service.listPrompts() });
    }),
  );
  app.get(
    '/api/prompts/:prompt',
    auth('viewer'),
    route(async (req, res) => {
      res.json(await service.getPrompt(param(req, 'prompt')));
    }),
  );
  app.post(
    '/api/prompts/:prompt/versions',
    auth('admin'),
    route(async (req, res) => {
      const prompt = param(req, 'prompt');
      const input = body(addVersionBody, req);
      const v = await service.addVersion({ prompt, ...input }, req.actor!);
      res.status(201).json(v);
    }),
  );
  app.post(
    '/api/prompts/:prompt/deploy',
    auth('operator'),
    route(async (req, res) => {
      const prompt = param(req, 'prompt');
      const input = body(deployBody, req);
      const d = await service.deploy(prompt, input.version, input.strategy, req.actor!);
      res
        .status(202)
        .location(service.deploymentUrl(d.deployment_id))
        .json({ ...d, status_url: service.deploymentUrl(d.deployment_id) });
    }),
  );
  app.post(
    '/api/deployments/:id/abort',
    auth('operator'),
    route(async (req, res) => {
      body(decisionBody, req);
      res.json(await service.abortDeployment(String(req.params.id), req.actor!));
    }),
  );
  app.get(
    '/api/deployments/:id',
    auth('viewer'),
    route(async (req, res) => {
      res.json(await service.getDeployment(String(req.params.id)));
    }),
  );
  app.get(
    '/api/prompts/:prompt/resolve',
    auth('viewer'),
    route(async (req, res) => {
      const prompt = param(req, 'prompt');
      const q = resolveQuery.parse(req.query);
      res.json(await service.resolve(prompt, q.key));
    }),
  );

  const watch = deps.watch;
  if (watch) {
    app.get(
      '/api/prompts/:prompt/watch',
      auth('viewer'),
      route(async (req, res) => {
        await watch.serve(param(req, 'prompt'), req, res);
      }),
    );
  }

  // Metrics.
  app.post(
    '/api/metrics',
    auth('ingest'),
    route(async (req, res) => {
      const now = new Date();
      const accepted = Buffer.isBuffer(req.body)
        ? await service.ingestEncoded(req.body, now)
        : await service.ingest(decodeMetricBatch(req.body, now));
      eventsIngested.inc(accepted);
      res.status(202).json({ accepted });
    }),
  );
  app.get(
    '/api/prompts/:prompt/metrics',
    auth('viewer'),
    route(async (req, res) => {
      const prompt = param(req, 'prompt');
      const q = metricsQuery.parse(req.query);
      res.json(await service.metricsFor(prompt, q.version, q.window_s));
    }),
  );

  // Rollbacks.
  app.post(
    '/api/rollback',
    auth('operator'),
    route(async (req, res) => {
      const input = body(rollbackBody, req);
      const started = await service.startRollback(
        {
          prompt: input.prompt,
          mode: input.mode,
          ...(input.target_version ? { target_version: input.target_version } : {}),
          ...(input.reason ? { reason: input.reason } : {}),
        },
        req.actor!,
      );
      rollbacksStarted.inc();
      res.status(202).location(started.status_url).json(started);
    }),
  );
  app.get(
    '/api/rollbacks',
    auth('viewer'),
    route(async (req, res) => {
      const q = rollbackListQuery.parse(req.query);
      res.json({ rollbacks: await service.listRollbacks(q) });
    }),
  );
  app.get(
    '/api/rollbacks/:id',
    auth('viewer'),
    route(async (req, res) => {
      res.json(await service.getRollback(String(req.params.id), { live: true }));
    }),
  );
  app.get(
    '/api/rollbacks/:id/postmortem',
    auth('viewer'),
    route(async (req, res) => {
      const pm = await service.postMortem(String(req.params.id));
      res.type('text/markdown; charset=utf-8').send(renderPostMortemMarkdown(pm));
    }),
  );
  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/api/rollbacks/:id/${decision}`,
      auth('operator'),
      route(async (req, res) => {
        const { comment } = body(decisionBody, req);
        res.json(await service.decide(String(req.params.id), decision, req.actor!, comment));
      }),
    );
  }
  for (const control of ['pause', 'resume', 'abort'] as const) {
    app.post(
      `/api/rollbacks/:id/${control}`,
      auth('operator'),
      route(async (req, res) => {
        body(decisionBody, req);
        res.json(await service.control(String(req.params.id), control, req.actor!));
      }),
    );
  }
  app.get(
    '/api/approvals',
    auth('viewer'),
    route(async (_req, res) => {
      res.json({ approvals: await service.approvals() });
    }),
  );

  // Monitors.
  app.post(
    '/api/monitors',
    auth('operator'),
    route(async (req, res) => {
      const input = body(monitorBody, req);
      const m = await service.startMonitor(input.prompt, input.interval_s, req.actor!);
      res.status(m.created ? 201 : 200).json(m);
    }),
  );
  app.get(
    '/api/monitors',
    auth('viewer'),
    route(async (_req, res) => {
      res.json({ monitors: await service.listMonitors() });
    }),
  );
  app.get(
    '/api/monitors/:prompt',
    auth('viewer'),
    route(async (req, res) => {
      res.json(await service.getMonitor(param(req, 'prompt')));
    }),
  );
  app.delete(
    '/api/monitors/:prompt',
    auth('operator'),
    route(async (req, res) => {
      res.status(202).json(await service.stopMonitor(param(req, 'prompt'), req.actor!));
    }),
  );

  // The web dashboard (GET /) and the routes only it needs.
  app.use(dashboardRoutes({ service, tokens: deps.tokens, ...(deps.live ? { live: deps.live } : {}) }));

  app.use((req, res) => sendProblem(res, 404, 'Not found', `no route ${req.method} ${req.path}`));
  app.use(problemHandler(log, deps.storeOutage));
  return app;
}
