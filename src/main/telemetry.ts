import http from 'node:http';
import net from 'node:net';
import { Runtime, type Logger as SdkLogger } from '@temporalio/worker';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SqlTelemetryReader } from '../adapters/telemetry/sql';
import { GRANTS, type Token } from '../api/auth';
import { ROLLBACK_STATUSES } from '../domain/rollback';
import type { Clock } from '../ports/clock';

let sdkMetricsAddress: string | undefined;

/**
 * The process's one Temporal runtime (the SDK allows one). With `metricsBindAddress`, the SDK's own metrics
 * (pollers, task slots, schedule-to-start latency, request failures) are served there in Prometheus format; the
 * process's /metrics reads them from it, so operators scrape one endpoint, behind the same token.
 */
export function installTemporalRuntime(opts: { logger?: SdkLogger; metricsBindAddress?: string }): void {
  Runtime.install({
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.metricsBindAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: opts.metricsBindAddress, useSecondsForDurations: true } } } }
      : {}),
  });
  sdkMetricsAddress = opts.metricsBindAddress;
}

/** Where this process's Temporal SDK serves its metrics, if it does. */
export const temporalSdkMetricsAddress = (): string | undefined => sdkMetricsAddress;

/** A free loopback address for the SDK's exporter: it is read by this process only, never scraped directly. */
export function freeLoopbackAddress(): Promise<string> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(`127.0.0.1:${port}`));
    });
  });
}

/**
 * What one process shows on /metrics: a prom-client registry, plus text read from elsewhere at scrape time (the
 * Temporal SDK's exporter). `npm start` runs the API and the worker in one process and shares one of these.
 */
export class Telemetry {
  readonly registry = new Registry();
  private readonly sources: (() => Promise<string>)[] = [];
  /** The SDK exporter's address already included: a worker that starts again (npm start's retries) includes it once. */
  private sdkAddress: string | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    // Heap, event-loop lag, CPU, open handles: a stuck worker shows here before it shows in a workflow.
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Includes the Temporal SDK's metrics served at `address` (host:port): the runtime's one exporter, so once. */
  includeTemporalSdk(address: string): void {
    if (this.sdkAddress !== undefined) {
      if (this.sdkAddress !== address) throw new Error(`Temporal SDK metrics already read from ${this.sdkAddress}, not ${address}`);
      return;
    }
    this.sdkAddress = address;
    const up = new Gauge({
      name: 'promptback_temporal_sdk_metrics_up',
      help: "1 when the Temporal SDK's own metrics were read for this scrape, 0 when its exporter did not answer",
      registers: [this.registry],
    });
    this.sources.push(async () => {
      try {
        const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        up.set(1);
        return await res.text();
      } catch {
        up.set(0);
        return '';
      }
    });
  }

  async render(): Promise<string> {
    const extra = await Promise.all(this.sources.map((s) => s()));
    const own = await this.registry.metrics();
    return [own, ...extra.filter((t) => t !== '')].map((t) => (t.endsWith('\n') ? t : `${t}\n`)).join('');
  }
}

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const VERDICTS = ['healthy', 'breached', 'inconclusive', 'error', 'none'] as const;
/** Seconds: the trigger table's budgets are 2 min (critical), 5, 10 and 30 min, 1 h. */
const SWITCH_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

const seconds = (from: string, to: string): number => Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);

/**
 * The state operators alert on, read from the store at scrape time: every API process shows the same numbers
 * whichever worker did the work. The switch-latency histograms observe each rollback once per process (the ids
 * already observed are remembered), so their counts only grow and a process that starts later catches up.
 */
export function registerStoreMetrics(registry: Registry, reader: SqlTelemetryReader, clock: Clock): void {
  new Gauge({
    name: 'promptback_rollbacks',
    help: 'Rollbacks in the store by status and severity',
    labelNames: ['status', 'severity'],
    registers: [registry],
    async collect() {
      this.reset();
      // Every combination present from the first scrape, so delta()/changes() see an escalation's 0 → 1.
      for (const status of ROLLBACK_STATUSES) for (const severity of SEVERITIES) this.set({ status, severity }, 0);
      for (const c of await reader.rollbackCounts()) this.set({ status: c.status, severity: c.severity }, c.count);
    },
  });

  const pending = perScrape(() => reader.pendingApprovals());
  new Gauge({
    name: 'promptback_approvals_pending',
    help: 'Rollbacks awaiting an approve/reject decision',
    registers: [registry],
    async collect() {
      this.set((await pending()).length);
    },
  });
  new Gauge({
    name: 'promptback_approvals_past_deadline',
    help: 'Rollbacks still awaiting a decision after their deadline (escalated, nobody has decided)',
    registers: [registry],
    async collect() {
      const now = clock.now().getTime();
      this.set((await pending()).filter((p) => p.deadline !== null && Date.parse(p.deadline) < now).length);
    },
  });
  new Gauge({
    name: 'promptback_approval_oldest_pending_age_seconds',
    help: 'How long the oldest pending decision has waited (0 with none pending)',
    registers: [registry],
    async collect() {
      const now = clock.now().toISOString();
      this.set(Math.max(0, ...(await pending()).filter((p) => p.since !== '').map((p) => seconds(p.since, now))));
    },
  });

  const running = perScrape(() => reader.runningMonitors());
  new Gauge({
    name: 'promptback_monitors',
    help: 'Running monitors by their last verdict (none: not checked yet)',
    labelNames: ['verdict'],
    registers: [registry],
    async collect() {
      const all = await running();
      for (const verdict of VERDICTS) this.set({ verdict }, all.filter((m) => m.verdict === verdict).length);
    },
  });
  new Gauge({
    name: 'promptback_monitor_oldest_check_age_seconds',
    help: 'Seconds since the stalest running monitor last checked (since its start if never): a stalled monitor is blind',
    registers: [registry],
    async collect() {
      const now = clock.now().toISOString();
      this.set(Math.max(0, ...(await running()).map((m) => seconds(m.last_check_at ?? m.started_at, now))));
    },
  });

  const observed = new Set<string>();
  const catchUp = perScrape(async () => {
    const fresh = (await reader.switchedRollbackIds()).filter((id) => !observed.has(id));
    if (fresh.length === 0) return;
    for (const t of await reader.switchTimings(fresh)) {
      requestToSwitch.observe({ trigger: t.trigger, severity: t.severity }, seconds(t.requested_at, t.switched_at));
      if (t.detected_at !== null) breachToSwitch.observe({ severity: t.severity }, seconds(t.detected_at, t.switched_at));
    }
    // Group members' switch keys are not rollbacks: remembered too, so they are not looked up again.
    for (const id of fresh) observed.add(id);
  });
  const breachToSwitch = new Histogram({
    name: 'promptback_rollback_breach_to_switch_seconds',
    help: "Seconds from a monitor's breach detection to the traffic switch, per rollback, by the breach's severity",
    labelNames: ['severity'],
    buckets: SWITCH_BUCKETS,
    registers: [registry],
    collect: catchUp,
  });
  const requestToSwitch = new Histogram({
    name: 'promptback_rollback_request_to_switch_seconds',
    help: 'Seconds from a rollback being requested (by an operator, or by a monitor for an incident) to the traffic switch',
    labelNames: ['trigger', 'severity'],
    buckets: SWITCH_BUCKETS,
    registers: [registry],
    collect: catchUp,
  });
}

/**
 * One read shared by every metric collected in the same scrape (prom-client collects them all at once), and by a
 * scrape that arrives while it runs: so two scrapes never observe one rollback twice.
 */
function perScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let inflight: Promise<T> | undefined;
  return () =>
    (inflight ??= read().finally(() => {
      inflight = undefined;
    }));
}

/** What a scrape of a worker's `/metrics` needs: the API's rules, a viewer (or operator/admin) token when auth is on. */
export function metricsAuthorized(tokens: readonly Token[], authorization: string | undefined): 200 | 401 | 403 {
  if (tokens.length === 0) return 200;
  const presented = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  const t = tokens.find((x) => x.token === presented);
  if (!t) return 401;
  return GRANTS.viewer.includes(t.role) ? 200 : 403;
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** The worker's own `/metrics` listener (WORKER_METRICS_PORT): same token rules as the API. */
export async function startMetricsListener(opts: {
  host: string;
  port: number;
  tokens: readonly Token[];
  telemetry: Telemetry;
}): Promise<MetricsListener> {
  const problem = (res: http.ServerResponse, status: number, title: string, detail: string) => {
    res.writeHead(status, {
      'Content-Type': 'application/problem+json',
      ...(status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}),
    });
    res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://worker');
    if (url.pathname === '/healthz' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (url.pathname !== '/metrics') return problem(res, 404, 'Not Found', 'the worker serves GET /metrics and GET /healthz');
    if (req.method !== 'GET' && req.method !== 'HEAD') return problem(res, 405, 'Method Not Allowed', 'use GET /metrics');
    const allowed = metricsAuthorized(opts.tokens, req.headers.authorization);
    if (allowed === 401) return problem(res, 401, 'Unauthorized', 'send Authorization: Bearer <token> (a viewer token)');
    if (allowed === 403) return problem(res, 403, 'Forbidden', 'reading /metrics needs the viewer role (or operator/admin)');
    opts.telemetry.render().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': opts.telemetry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => problem(res, 500, 'Internal Server Error', `could not collect metrics: ${(e as Error).message}`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new Error(
              `WORKER_METRICS_PORT: ${opts.host}:${opts.port} is in use; give each worker on a host its own port (0 = any free one)`,
            )
          : e,
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
