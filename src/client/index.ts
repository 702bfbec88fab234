/**
 * The typed HTTP client of promptback's API, built on openapi-fetch over the types generated from the OpenAPI
 * document (./schema.ts, `npm run openapi`). Paths, parameters, bodies and answers are the document's, so a change
 * to the API that the client does not follow fails to compile. Every call answers the success body; a problem+json
 * answer throws an ApiError with its status, title and detail, and an unreachable API a ConnectionError.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths } from './schema';
export type Schemas = components['schemas'];
export type Problem = Schemas['Problem'];
export type FieldError = Schemas['FieldError'];
export type PromptSummary = Schemas['PromptSummary'];
export type PromptDetail = Schemas['PromptDetail'];
export type PromptRecord = Schemas['PromptRecord'];
export type VersionRecord = Schemas['VersionRecord'];
export type Deployment = Schemas['Deployment'];
export type DeployAccepted = Schemas['DeployAccepted'];
export type Resolved = Schemas['Resolved'];
export type MetricEvent = Schemas['MetricEvent'];
export type MetricsSummary = Schemas['MetricsSummary'];
export type WindowStats = Schemas['WindowStats'];
export type RollbackStarted = Schemas['RollbackStarted'];
export type RollbackView = Schemas['RollbackView'];
export type RollbackDetail = Schemas['RollbackDetail'];
export type RollbackStatus = Schemas['RollbackStatus'];
export type DecisionResult = Schemas['DecisionResult'];
export type TimelineEntry = Schemas['TimelineEntry'];
export type Verdict = Schemas['Verdict'];
export type StageProgress = Schemas['StageProgress'];
export type PostMortem = Schemas['PostMortem'];
export type Delivery = Schemas['Delivery'];
export type Approval = Schemas['Approval'];
export type MonitorRecord = Schemas['MonitorRecord'];
export type MonitorStarted = Schemas['MonitorStarted'];
export type MonitorView = Schemas['MonitorView'];
export type Readiness = Schemas['Readiness'];
export type WatchState = Schemas['WatchState'];
export type PutPromptBody = Schemas['PutPromptBody'];
export type AddVersionBody = Schemas['AddVersionBody'];
export type DeployBody = Schemas['DeployBody'];
export type RollbackBody = Schemas['RollbackBody'];
export type MonitorBody = Schemas['MonitorBody'];
export type RollbackListQuery = NonNullable<operations['listRollbacks']['parameters']['query']>;
export type MetricsQuery = NonNullable<operations['promptMetrics']['parameters']['query']>;

/** A non-2xx answer of the API, read from its application/problem+json. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** The fields a 400 names, with what is wrong with each (empty otherwise). */
  readonly errors: FieldError[];
  /** The whole problem, with its extension members (e.g. `rollback_id` of the rollback in flight). */
  readonly problem: Problem;

  constructor(status: number, body: unknown, statusText = '') {
    const p = isProblem(body)
      ? body
      : { type: 'about:blank', title: statusText || `HTTP ${status}`, status, detail: typeof body === 'string' ? body.slice(0, 500) : '' };
    super(`${p.title} (${status}): ${p.detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.title = p.title;
    this.detail = p.detail;
    this.errors = p.errors ?? [];
    this.problem = p;
  }
}

/** The API could not be reached at all (refused, DNS, reset, or no answer within the timeout). */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(`cannot reach promptback at ${url}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ConnectionError';
  }
}

const isProblem = (b: unknown): b is Problem =>
  typeof b === 'object' && b !== null && typeof (b as Problem).title === 'string' && typeof (b as Problem).status === 'number';

export interface ApiClientOptions {
  /** The API's base URL, e.g. http://localhost:8000 */
  url: string;
  /** A bearer token (AUTH_TOKENS); none when auth is off. */
  token?: string;
  /** Per request. Default 30,000 ms. */
  timeoutMs?: number;
  fetch?: (input: Request) => Promise<Response>;
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** Every route of the API as a typed call. `raw` is the openapi-fetch client itself, for anything else. */
export class PromptbackApi {
  readonly raw: Client<paths>;
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(o: ApiClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.raw = createClient<paths>({
      baseUrl: this.url,
      headers: {
        accept: 'application/json, application/problem+json;q=0.9, text/*;q=0.5',
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      },
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
  }

  /** Options every call passes: a timeout of its own. */
  private get init(): { signal: AbortSignal } {
    return { signal: AbortSignal.timeout(this.timeoutMs) };
  }

  /** The success body, or ApiError / ConnectionError. `accept` lists statuses whose body is an answer, not a failure. */
  private async call<T>(request: () => Promise<Answer<T>>, accept: number[] = []): Promise<{ data: T; status: number }> {
    let r: Answer<T>;
    try {
      r = await request();
    } catch (e) {
      throw new ConnectionError(this.url, e);
    }
    if (r.response.ok) return { data: r.data as T, status: r.response.status };
    if (accept.includes(r.response.status)) return { data: r.error as T, status: r.response.status };
    throw new ApiError(r.response.status, r.error, r.response.statusText);
  }

  private async data<T>(request: () => Promise<Answer<T>>): Promise<T> {
    return (await this.call(request)).data;
  }

  // Health.
  health() {
    return this.data(() => this.raw.GET('/healthz', this.init));
  }
  /** Answers 200 and 503 alike: `status` says whether promptback is ready, `checks` what is down. */
  readiness(): Promise<Readiness> {
    return this.call<Readiness>(() => this.raw.GET('/readyz', this.init), [503]).then((r) => r.data);
  }
  /** Prometheus text of promptback's own metrics. */
  metricsText() {
    return this.data(() => this.raw.GET('/metrics', { ...this.init, parseAs: 'text' }));
  }

  // Prompts and versions.
  listPrompts() {
    return this.data(() => this.raw.GET('/api/prompts', this.init)).then((r) => r.prompts);
  }
  getPrompt(prompt: string) {
    return this.data(() => this.raw.GET('/api/prompts/{prompt}', { ...this.init, params: { path: { prompt } } }));
  }
  /** Creates (created: true) or updates the prompt. */
  async putPrompt(prompt: string, body: PutPromptBody): Promise<{ created: boolean; prompt: PromptRecord }> {
    const r = await this.call(() => this.raw.PUT('/api/prompts/{prompt}', { ...this.init, params: { path: { prompt } }, body }));
    return { created: r.status === 201, prompt: r.data };
  }
  addVersion(prompt: string, body: AddVersionBody) {
    return this.data(() => this.raw.POST('/api/prompts/{prompt}/versions', { ...this.init, params: { path: { prompt } }, body }));
  }
  deploy(prompt: string, body: DeployBody) {
    return this.data(() => this.raw.POST('/api/prompts/{prompt}/deploy', { ...this.init, params: { path: { prompt } }, body }));
  }
  getDeployment(id: string) {
    return this.data(() => this.raw.GET('/api/deployments/{id}', { ...this.init, params: { path: { id } } }));
  }
  abortDeployment(id: string) {
    return this.data(() => this.raw.POST('/api/deployments/{id}/abort', { ...this.init, params: { path: { id } }, body: {} }));
  }
  resolve(prompt: string, key: string) {
    return this.data(() => this.raw.GET('/api/prompts/{prompt}/resolve', { ...this.init, params: { path: { prompt }, query: { key } } }));
  }

  // Metrics.
  /** How many events were stored (all, or a 400/404 ApiError and none). */
  ingest(events: MetricEvent[]) {
    return this.data(() => this.raw.POST('/api/metrics', { ...this.init, body: { events } })).then((r) => r.accepted);
  }
  promptMetrics(prompt: string, query: MetricsQuery = {}) {
    return this.data(() => this.raw.GET('/api/prompts/{prompt}/metrics', { ...this.init, params: { path: { prompt }, query } }));
  }

  // Rollbacks.
  startRollback(body: RollbackBody) {
    return this.data(() => this.raw.POST('/api/rollback', { ...this.init, body }));
  }
  listRollbacks(query: RollbackListQuery = {}) {
    return this.data(() => this.raw.GET('/api/rollbacks', { ...this.init, params: { query } })).then((r) => r.rollbacks);
  }
  getRollback(id: string) {
    return this.data(() => this.raw.GET('/api/rollbacks/{id}', { ...this.init, params: { path: { id } } }));
  }
  /** A finished rollback's post-mortem, as Markdown (409 ApiError while it runs). */
  postMortemMarkdown(id: string) {
    return this.data(() => this.raw.GET('/api/rollbacks/{id}/postmortem', { ...this.init, params: { path: { id } }, parseAs: 'text' }));
  }
  /** approve / reject (with an optional comment), pause / resume / abort: the rollback once the workflow acted. */
  decide(id: string, decision: 'approve' | 'reject' | 'pause' | 'resume' | 'abort', comment?: string): Promise<DecisionResult> {
    const opts = { ...this.init, params: { path: { id } }, body: comment === undefined ? {} : { comment } };
    switch (decision) {
      case 'approve':
        return this.data(() => this.raw.POST('/api/rollbacks/{id}/approve', opts));
      case 'reject':
        return this.data(() => this.raw.POST('/api/rollbacks/{id}/reject', opts));
      case 'pause':
        return this.data(() => this.raw.POST('/api/rollbacks/{id}/pause', opts));
      case 'resume':
        return this.data(() => this.raw.POST('/api/rollbacks/{id}/resume', opts));
      case 'abort':
        return this.data(() => this.raw.POST('/api/rollbacks/{id}/abort', opts));
    }
  }
  approvals() {
    return this.data(() => this.raw.GET('/api/approvals', this.init)).then((r) => r.approvals);
  }

  // Monitors.
  /** Starts the prompt's monitor (`created: true`), or finds it running. */
  startMonitor(body: MonitorBody) {
    return this.data(() => this.raw.POST('/api/monitors', { ...this.init, body }));
  }
  listMonitors() {
    return this.data(() => this.raw.GET('/api/monitors', this.init)).then((r) => r.monitors);
  }
  getMonitor(prompt: string) {
    return this.data(() => this.raw.GET('/api/monitors/{prompt}', { ...this.init, params: { path: { prompt } } }));
  }
  stopMonitor(prompt: string) {
    return this.data(() => this.raw.DELETE('/api/monitors/{prompt}', { ...this.init, params: { path: { prompt } } }));
  }
}

/** `createApiClient({ url, token })`: the typed client of one promptback. */
export const createApiClient = (o: ApiClientOptions): PromptbackApi => new PromptbackApi(o);
