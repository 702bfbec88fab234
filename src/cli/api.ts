/**
 * Every HTTP call the CLI makes, in one place, over the typed client generated from the OpenAPI document
 * (src/client): paths, bodies and answers are the document's, so the CLI cannot drift from the API. Commands call
 * these named operations and print what they answer; `--json` prints the answer as the API sent it (list answers
 * keep their `{ "prompts": [...] }`-style envelope).
 */
import { ApiError, ConnectionError, createApiClient, type Schemas } from '../client';

export { ApiError, ConnectionError };

export type PromptRow = Schemas['PromptSummary'];
export type PromptDetail = Schemas['PromptDetail'];
export type PromptRecord = Schemas['PromptRecord'];
export type MetricsView = Schemas['MetricsSummary'];
/** One window of a version's traffic: the current one or its baseline. */
export type Window = Pick<MetricsView, 'requests' | 'errors' | 'error_rate' | 'latency_ms' | 'quality_mean'> & { version: string | null };
export type StartedRollback = Schemas['RollbackStarted'];
export type RollbackView = Schemas['RollbackView'];
export type RollbackDetail = Schemas['RollbackDetail'];
export type Approval = Schemas['Approval'];
export type MonitorView = Schemas['MonitorView'];
export type MonitorStarted = Schemas['MonitorStarted'];
export type DeploymentView = Schemas['Deployment'];
export type DeployAccepted = Schemas['DeployAccepted'];
export type StageProgress = Schemas['StageProgress'];
export type TimelineEntry = Schemas['TimelineEntry'];

export type Decision = 'approve' | 'reject';
export type Control = 'pause' | 'resume' | 'abort';

/** The promptback HTTP API as the CLI uses it. */
export interface PromptbackApi {
  readonly baseUrl: string;
  listPrompts(): Promise<{ prompts: PromptRow[] }>;
  getPrompt(prompt: string): Promise<PromptDetail>;
  putPrompt(prompt: string, body: { description?: string; owner?: string; related?: string[] }): Promise<PromptRecord>;
  addVersion(prompt: string, body: { version: string; template: string; metadata?: Record<string, unknown> }): Promise<unknown>;
  deploy(prompt: string, body: { version: string; strategy?: 'immediate' | 'canary' }): Promise<DeployAccepted>;
  getDeployment(id: string): Promise<DeploymentView>;
  abortDeployment(id: string): Promise<DeploymentView>;
  resolve(prompt: string, key: string): Promise<{ version: string; template: string }>;
  startRollback(body: {
    prompt: string;
    target_version?: string;
    reason?: string;
    mode?: 'immediate' | 'gradual';
  }): Promise<StartedRollback>;
  listRollbacks(q: { prompt?: string; status?: Schemas['RollbackStatus']; limit?: number }): Promise<{ rollbacks: RollbackView[] }>;
  getRollback(id: string): Promise<RollbackDetail>;
  decide(id: string, decision: Decision, body: { comment?: string }): Promise<Schemas['DecisionResult']>;
  control(id: string, control: Control): Promise<Schemas['DecisionResult']>;
  /** Markdown text. */
  postMortem(id: string): Promise<string>;
  approvals(): Promise<{ approvals: Approval[] }>;
  listMonitors(): Promise<{ monitors: MonitorView[] }>;
  getMonitor(prompt: string): Promise<MonitorView>;
  startMonitor(body: { prompt: string; interval_s?: number }): Promise<MonitorStarted>;
  stopMonitor(prompt: string): Promise<Schemas['MonitorRecord']>;
  metrics(prompt: string, q: { version?: string; window_s: number }): Promise<MetricsView>;
  ingest(body: { events: Schemas['MetricEvent'][] }): Promise<{ accepted: number }>;
}

export function connect(url: string, token: string | undefined): PromptbackApi {
  const c = createApiClient({ url, ...(token ? { token } : {}) });
  return {
    baseUrl: c.url,
    listPrompts: async () => ({ prompts: await c.listPrompts() }),
    getPrompt: (p) => c.getPrompt(p),
    putPrompt: async (p, body) => (await c.putPrompt(p, body)).prompt,
    addVersion: (p, body) => c.addVersion(p, body),
    deploy: (p, body) => c.deploy(p, body),
    getDeployment: (id) => c.getDeployment(id),
    abortDeployment: (id) => c.abortDeployment(id),
    resolve: (p, key) => c.resolve(p, key),
    startRollback: (body) => c.startRollback(body),
    listRollbacks: async (q) => ({ rollbacks: await c.listRollbacks(q) }),
    getRollback: (id) => c.getRollback(id),
    decide: (id, decision, body) => c.decide(id, decision, body.comment),
    control: (id, control) => c.decide(id, control),
    postMortem: (id) => c.postMortemMarkdown(id),
    approvals: async () => ({ approvals: await c.approvals() }),
    listMonitors: async () => ({ monitors: await c.listMonitors() }),
    getMonitor: (p) => c.getMonitor(p),
    startMonitor: (body) => c.startMonitor(body),
    stopMonitor: (p) => c.stopMonitor(p),
    metrics: (p, q) => c.promptMetrics(p, q),
    ingest: async (body) => ({ accepted: await c.ingest(body.events) }),
  };
}

/** What to tell a person when the API could not be reached: where, why, and what to try. */
export function unreachable(e: ConnectionError): string {
  const cause = e.cause as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (cause?.name === 'TimeoutError') return `the promptback API at ${e.url} did not answer in time`;
  const code = cause?.cause?.code;
  const why = code === 'ECONNREFUSED' ? 'connection refused' : (code ?? cause?.cause?.message ?? cause?.message ?? 'no answer');
  return (
    `cannot reach the promptback API at ${e.url} (${why}).\n` +
    `Is it running? Start it with \`npm start\`, or point --url / PROMPTBACK_URL at the right address.`
  );
}
