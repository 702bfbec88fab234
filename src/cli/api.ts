/**
 * Every HTTP call the CLI makes, in one place: commands call these named operations and never build a URL or
 * read a response themselves, so moving to a client generated from the OpenAPI document changes this file only.
 * The response shapes below are what the human output reads; `--json` prints whatever the API sent.
 */
import type { RollbackView } from '../domain/rollback';
import type { StageProgress } from '../domain/stages';
import type { Verdict, WindowStats } from '../domain/verdict';

const REQUEST_TIMEOUT_MS = 30_000;

/** A non-2xx answer; the API sends application/problem+json. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: { field: string; message: string }[],
  ) {
    super(`${title} (${status}): ${detail}`);
  }
}

/** The API could not be reached at all (refused, DNS, timeout, reset). */
export class ConnectionError extends Error {}

export interface PromptRow {
  name: string;
  active_version: string | null;
  monitored: boolean;
  open_rollback_id: string | null;
}
export interface PromptDetail extends PromptRow {
  description?: string | null;
  owner?: string | null;
  traffic: { version: string; percent: number }[];
  versions: { version: string; created_at: string; deployed_at: string | null; state: string; known_good: boolean }[];
  related: string[];
}
export type Window = WindowStats & { version?: string | null };
export type MetricsView = Window & { baseline: Window | null };
export interface StartedRollback {
  rollback_id: string;
  status: string;
  status_url?: string;
  web_ui_url?: string;
}
export interface Approval {
  rollback_id: string;
  prompt: string;
  status: string;
  severity: string;
  reason?: string;
  deadline: string | null;
  default_action: string | null;
  tier: number;
}
export interface MonitorView {
  prompt: string;
  workflow_id: string;
  status: string;
  interval_s: number;
  started_by?: string;
  started_at?: string;
  stopped_by?: string | null;
  last_check_at: string | null;
  active_version?: string | null;
  last_verdict: Verdict | null;
  last_action: string | null;
  checks: number;
  open_rollback_id: string | null;
  open_incident_url?: string | null;
  web_ui_url?: string | null;
  /** `POST /api/monitors` only: false when it was running already. */
  created?: boolean;
}
export interface DeploymentView {
  deployment_id: string;
  prompt: string;
  version: string;
  strategy: string;
  status: string;
  requested_by?: string;
  created_at?: string;
  updated_at?: string;
  from_version: string | null;
  detail?: {
    reason?: string;
    error?: string;
    /** Canary: `percent` is the share on the new version. */
    progress?: StageProgress;
    stages?: { percent: number; at: string; judgement?: { outcome: string; reason: string } }[];
  };
  status_url?: string;
  workflow_id?: string;
  monitor?: { workflow_id: string } | { error: string };
}
export type { RollbackView };

export type Decision = 'approve' | 'reject';
export type Control = 'pause' | 'resume' | 'abort';

/** The promptback HTTP API as the CLI uses it. */
export interface PromptbackApi {
  readonly baseUrl: string;
  listPrompts(): Promise<{ prompts: PromptRow[] }>;
  getPrompt(prompt: string): Promise<PromptDetail>;
  putPrompt(prompt: string, body: { description?: string; owner?: string; related?: string[] }): Promise<PromptRow>;
  addVersion(prompt: string, body: { version: string; template: string; metadata?: Record<string, unknown> }): Promise<unknown>;
  deploy(prompt: string, body: { version: string; strategy?: string }): Promise<Partial<DeploymentView> & { deployment_id: string }>;
  getDeployment(id: string): Promise<DeploymentView>;
  abortDeployment(id: string): Promise<DeploymentView>;
  resolve(prompt: string, key: string): Promise<{ version: string; template: string }>;
  startRollback(body: { prompt: string; target_version?: string; reason?: string; mode?: string }): Promise<StartedRollback>;
  listRollbacks(q: { prompt?: string; status?: string; limit?: number }): Promise<{ rollbacks: RollbackView[] }>;
  getRollback(id: string): Promise<RollbackView>;
  decide(id: string, decision: Decision, body: { comment?: string }): Promise<{ status?: string } | null>;
  control(id: string, control: Control): Promise<RollbackView>;
  /** Markdown text. */
  postMortem(id: string): Promise<string>;
  approvals(): Promise<{ approvals: Approval[] }>;
  listMonitors(): Promise<{ monitors: MonitorView[] }>;
  getMonitor(prompt: string): Promise<MonitorView>;
  startMonitor(body: { prompt: string; interval_s?: number }): Promise<MonitorView>;
  stopMonitor(prompt: string): Promise<MonitorView | null>;
  metrics(prompt: string, q: { version?: string; window_s: number }): Promise<MetricsView>;
  ingest(body: { events: unknown[] }): Promise<{ accepted: number }>;
}

const enc = encodeURIComponent;

const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

/** JSON, problem+json, any `+json`; a missing content type is treated as JSON too (and falls back to text). */
const isJsonType = (type: string): boolean => type === '' || /^application\/([\w.-]+\+)?json\b/i.test(type.trim());

export function connect(url: string, token: string | undefined): PromptbackApi {
  const base = url.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let status: number;
    let statusText: string;
    let type: string;
    let text: string;
    try {
      const res = await fetch(base + path, {
        method,
        headers: {
          accept: 'application/json, application/problem+json, text/markdown;q=0.9, text/*;q=0.5',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      ({ status, statusText } = res);
      type = res.headers.get('content-type') ?? '';
      text = await res.text();
    } catch (e) {
      throw new ConnectionError(unreachable(base, e));
    }
    if (status < 200 || status >= 300) throw toApiError(status, statusText, parseJson(text), text);
    return (isJsonType(type) ? parseJson(text) : text) as T;
  };
  const prompt = (p: string): string => `/api/prompts/${enc(p)}`;
  const rollback = (id: string): string => `/api/rollbacks/${enc(id)}`;
  return {
    baseUrl: base,
    listPrompts: () => call('GET', '/api/prompts'),
    getPrompt: (p) => call('GET', prompt(p)),
    putPrompt: (p, body) => call('PUT', prompt(p), body),
    addVersion: (p, body) => call('POST', `${prompt(p)}/versions`, body),
    deploy: (p, body) => call('POST', `${prompt(p)}/deploy`, body),
    getDeployment: (id) => call('GET', `/api/deployments/${enc(id)}`),
    abortDeployment: (id) => call('POST', `/api/deployments/${enc(id)}/abort`, {}),
    resolve: (p, key) => call('GET', `${prompt(p)}/resolve${query({ key })}`),
    startRollback: (body) => call('POST', '/api/rollback', body),
    listRollbacks: (q) => call('GET', `/api/rollbacks${query(q)}`),
    getRollback: (id) => call('GET', rollback(id)),
    decide: (id, decision, body) => call('POST', `${rollback(id)}/${decision}`, body),
    control: (id, control) => call('POST', `${rollback(id)}/${control}`, {}),
    postMortem: async (id) => {
      const md = await call<unknown>('GET', `${rollback(id)}/postmortem`);
      return typeof md === 'string' ? md : JSON.stringify(md);
    },
    approvals: () => call('GET', '/api/approvals'),
    listMonitors: () => call('GET', '/api/monitors'),
    getMonitor: (p) => call('GET', `/api/monitors/${enc(p)}`),
    startMonitor: (body) => call('POST', '/api/monitors', body),
    stopMonitor: (p) => call('DELETE', `/api/monitors/${enc(p)}`),
    metrics: (p, q) => call('GET', `${prompt(p)}/metrics${query(q)}`),
    ingest: (body) => call('POST', '/api/metrics', body),
  };
}

function unreachable(base: string, e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `the promptback API at ${base} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const why = err.cause?.code === 'ECONNREFUSED' ? 'connection refused' : (err.cause?.code ?? err.cause?.message ?? err.message);
  return (
    `cannot reach the promptback API at ${base} (${why}).\n` +
    `Is it running? Start it with \`npm start\`, or point --url / PROMPTBACK_URL at the right address.`
  );
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toApiError(status: number, statusText: string, data: unknown, text: string): ApiError {
  const p = (typeof data === 'object' && data !== null ? data : {}) as { title?: unknown; detail?: unknown; errors?: unknown };
  const title = typeof p.title === 'string' ? p.title : statusText || 'HTTP error';
  const detail = typeof p.detail === 'string' ? p.detail : text.trim().slice(0, 500) || '(no detail)';
  const errors = (Array.isArray(p.errors) ? (p.errors as { field?: unknown; message?: unknown }[]) : []).map((e) => ({
    field: typeof e.field === 'string' ? e.field : '(body)',
    message: typeof e.message === 'string' ? e.message : JSON.stringify(e.message ?? ''),
  }));
  return new ApiError(status, title, detail, errors);
}
