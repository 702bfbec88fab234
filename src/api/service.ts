import { randomBytes } from 'node:crypto';
import type { MonitorCheck } from '../activities';
import { DomainError, isAlreadyStarted, isDomainError } from '../domain/errors';
import type { DecisionName, DecisionPayload } from '../workflows/messages';
import { knownGoodTarget } from '../domain/known-good';
import {
  decisionRefusal,
  formatRollbackId,
  isTerminal,
  type RollbackInput,
  type RollbackMode,
  type RollbackStatus,
  type RollbackView,
} from '../domain/rollback';
import { buildPostMortem, type PostMortem } from '../domain/postmortem';
import { pickVersion } from '../domain/traffic';
import { emptyWindow, type WindowStats } from '../domain/verdict';
import type { VerificationPolicy } from '../domain/verification';
import type { Clock } from '../ports/clock';
import type { MetricEvent, MetricsSource, MetricsStore } from '../ports/metrics';
import type { Deployment, PromptInput, Registry, VersionInput } from '../ports/registry';
import type { RollbackStore } from '../ports/rollbacks';
import type { DeliveryLog, DeliveryRecord } from '../ports/notifier';
import type { Workflows } from '../ports/workflows';
import type { MonitorRecord, MonitorStore } from '../ports/monitors';
import type { RouteSource } from '../ports/routes';
import { renderQuery } from '../domain/metrics-provider';
import { resolvePolicy } from '../domain/policy';
import { breaches } from '../domain/assess';
import type { CanaryPlan, GradualPlan } from '../domain/stages';
import { monitorWorkflowId, rollbackWorkflowId } from '../domain/names';
import { KnownVersions, requireKnownVersions } from './known-versions';
import { decodeMetricBatchBytes, promptsWithErrors } from './metric-batch';

export interface ServiceDeps {
  registry: Registry;
  rollbacks: RollbackStore;
  metrics: MetricsStore;
  workflows: Workflows;
  monitors: MonitorStore;
  routes: RouteSource;
  clock: Clock;
  publicUrl: string;
  verification: VerificationPolicy;
  /** Default check interval of monitors started on deploy. */
  monitorIntervalS: number;
  /** Stages of gradual rollbacks. */
  gradualPlan: GradualPlan;
  canaryPlan: CanaryPlan;
  /** How long to wait for a workflow to act on a decision before answering (ms). */
  decisionWaitMs?: number;
  log?: { warn(obj: unknown, msg: string): void };
  /** Why an error means the store cannot be used right now (Postgres down, SQLite busy), or undefined. */
  storeOutage?: (err: unknown) => string | undefined;
  /** What each of a rollback's notifications did on each channel (GET /api/rollbacks/{id} `deliveries`). */
  deliveries?: DeliveryLog;
  /** Reads each prompt's metrics from its own provider (builtin or Prometheus); default: `metrics`. */
  metricsSource?: MetricsSource;
  /** Why Prometheus would refuse a (rendered) PromQL query, when it can be asked; undefined when it runs it. */
  promqlProblem?: (query: string) => Promise<string | undefined>;
  /** Whether PROMETHEUS_URL is set: without it, no prompt may read its metrics from Prometheus. */
  prometheusConfigured?: boolean;
  /**
   * The monitor's own check (the `monitorCheck` activity's code), run here when the ingest fast path trips: an
   * incident it opens is started from the API at once instead of after the monitor's next workflow task.
   */
  judge?: (input: { prompt: string; source: 'fast_path'; unstarted_after_ms: number }) => Promise<MonitorCheck>;
  /**
   * The state of the worker this process runs (`npm start`: API and worker in one process): 'ok' once it polls, else
   * why not. Ready (GET /readyz) only then: a rollback accepted at ready is run at once. Absent for an API alone.
   */
  workerStatus?: () => string;
}

/** The monitor a deploy starts: running, or pending (engine unreachable; the reconciler starts it). */
export type MonitorGuard = { workflow_id: string; status: 'running' } | { workflow_id: string; status: 'pending'; error: string };

/** How long GET /api/rollbacks/{id} waits for a running workflow's own view before answering from the store. */
const LIVE_VIEW_WITHIN_MS = 1000;
/** The fast path's second attempt at starting the incident it claimed, after an engine that did not answer in time. */
const FAST_PATH_RETRY_MS = 500;

const DECIDABLE = ['awaiting_approval', 'observing'] as const;

const newId = (at: Date): string => formatRollbackId(at, randomBytes(4).toString('hex'));

/** The use cases behind the HTTP API and CLI. Routes validate input and call exactly one of these. */
export class PromptbackService {
  /** The prompt/version pairs ingest confirmed a moment ago (see KnownVersions). */
  private readonly knownVersions = new KnownVersions();
  /** Fast path throttle: when each prompt's monitor was last asked to check now. */
  private readonly lastFastPath = new Map<string, number>();

  constructor(private readonly d: ServiceDeps) {}

  async upsertPrompt(input: PromptInput, actor: string) {
    const m = input.metrics;
    if (m?.provider === 'prometheus') {
      if (!this.d.prometheusConfigured) {
        const message =
          'provider "prometheus" needs PROMETHEUS_URL, which is not set on this promptback (set it for the API and the worker)';
        throw new DomainError('InvalidRequest', `metrics.provider: ${message}`, { errors: [{ field: 'metrics.provider', message }] });
      }
      // Each template as it would run for this prompt's versions, checked by Prometheus itself.
      const check = this.d.promqlProblem;
      const errors = check
        ? (
            await Promise.all(
              (Object.entries(m.queries) as [string, string | undefined][]).map(async ([measure, template]) => {
                const problem =
                  template === undefined
                    ? undefined
                    : await check(renderQuery(template, { prompt: input.name, version: 'v1', window_s: 300 }));
                return problem === undefined ? undefined : { field: `metrics.queries.${measure}`, message: problem };
              }),
            )
          ).filter((e): e is { field: string; message: string } => e !== undefined)
        : [];
      if (errors.length > 0) throw new DomainError('InvalidRequest', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
    }
    return this.d.registry.upsertPrompt(input, actor);
  }

  async listPrompts() {
    const prompts = await this.d.registry.listPrompts();
    return Promise.all(
      prompts.map(async (p) => ({
        name: p.name,
        active_version: p.active_version,
        monitored: (await this.d.monitors.get(p.name))?.status === 'running',
        open_rollback_id: (await this.d.rollbacks.openFor(p.name)) ?? null,
      })),
    );
  }

  async getPrompt(name: string) {
    const p = await this.requirePrompt(name);
    const [versions, traffic] = await Promise.all([this.d.registry.listVersions(name), this.d.registry.getTraffic(name)]);
    return {
      name: p.name,
      description: p.description,
      owner: p.owner,
      active_version: p.active_version,
      traffic,
      versions: versions.map((v) => ({
        version: v.version,
        created_at: v.created_at,
        deployed_at: v.deployed_at,
        state: v.state,
        known_good: v.known_good,
        rolled_back_from: v.rolled_back_from,
        metadata: v.metadata,
      })),
      related: p.related,
      policy: p.policy,
      metrics: p.metrics,
      notify: p.notify,
      open_rollback_id: (await this.d.rollbacks.openFor(name)) ?? null,
      created_at: p.created_at,
      updated_at: p.updated_at,
    };
  }

  addVersion(input: VersionInput, actor: string) {
    return this.d.registry.addVersion(input, actor);
  }

  /**
   * Deploys a version: at once (an audited switch) or as a canary rollout. Refused with 409 ChangeInFlight while a
   * rollback is open or a canary rolls out — checked by the store in the transaction that makes the change.
   */
  async deploy(
    prompt: string,
    version: string,
    strategy: 'immediate' | 'canary',
    actor: string,
  ): Promise<Deployment & { monitor: MonitorGuard }> {
    await this.requirePrompt(prompt);
    await this.requireVersion(prompt, version);
    const at = this.d.clock.now();
    const id = `dep-${newId(at)}`;
    if (strategy === 'canary') return this.startCanary(prompt, version, id, at, actor);
    const record = {
      deployment_id: id,
      prompt,
      version,
      strategy,
      status: 'completed',
      requested_by: actor,
      created_at: at.toISOString(),
    } as const;
    // The switch, its audit row and the deployment's record commit together, or none of them does.
    const switched = await this.d.registry.switchActive({
      prompt,
      to: version,
      action: 'deploy',
      key: id,
      actor,
      reason: `deploy ${version} (${strategy})`,
      record,
    });
    const deployment: Deployment = { ...record, from_version: switched.from, updated_at: switched.at };
    return { ...deployment, monitor: await this.guard(prompt, actor) };
  }

  /** A canary rollout: checked up front (staging gate, another version serving to compare against). */
  private async startCanary(prompt: string, version: string, id: string, at: Date, actor: string) {
    const p = await this.requirePrompt(prompt);
    const v = await this.requireVersion(prompt, version);
    if (p.active_version === null || p.active_version === version) {
      throw new DomainError(
        'NothingToCompare',
        `a canary needs another version serving; ${prompt} has ${p.active_version ?? 'none'} active. Deploy with strategy "immediate"`,
      );
    }
    const plan = this.d.canaryPlan;
    if (plan.min_staging_s > 0) {
      const stagedAt = typeof v.metadata.staging_started_at === 'string' ? Date.parse(v.metadata.staging_started_at) : NaN;
      const staged_s = Number.isNaN(stagedAt) ? 0 : (at.getTime() - stagedAt) / 1000;
      if (staged_s < plan.min_staging_s) {
        throw new DomainError(
          'StagingGate',
          `${prompt} ${version} has been in staging ${(staged_s / 3600).toFixed(1)} h; the gate requires ${(plan.min_staging_s / 3600).toFixed(1)} h (version metadata.staging_started_at)`,
          { field: 'version' },
        );
      }
    }
    const deployment: Deployment = {
      deployment_id: id,
      prompt,
      version,
      strategy: 'canary',
      status: 'rolling_out',
      requested_by: actor,
      from_version: p.active_version,
      created_at: at.toISOString(),
      updated_at: at.toISOString(),
      detail: { plan },
    };
    await this.d.registry.beginDeployment(deployment);
    try {
      await this.d.workflows.startCanary({
        deployment_id: id,
        prompt,
        version,
        from_version: p.active_version,
        plan,
        actor,
        created_at: at.toISOString(),
      });
    } catch (e) {
      await this.d.registry.recordDeployment({
        ...deployment,
        status: 'failed',
        updated_at: this.d.clock.now().toISOString(),
        detail: { plan, reason: `the canary workflow could not be started: ${(e as Error).message}` },
      });
      throw e;
    }
    return { ...deployment, workflow_id: `deploy/${prompt}/${id}`, monitor: await this.guard(prompt, actor) };
  }

  async abortDeployment(id: string, actor: string): Promise<Deployment> {
    const d = await this.getDeployment(id);
    if (d.strategy !== 'canary' || d.status !== 'rolling_out') {
      throw new DomainError(
        'CannotAbort',
        `deployment ${id} is a${d.strategy === 'canary' ? '' : 'n'} ${d.strategy} deployment in status ${d.status}`,
      );
    }
    await this.d.workflows.abortCanary(`deploy/${d.prompt}/${id}`, actor);
    const deadline = Date.now() + (this.d.decisionWaitMs ?? 5000);
    for (;;) {
      const now = await this.getDeployment(id);
      if (now.status !== 'rolling_out' || Date.now() > deadline) return now;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async getDeployment(id: string): Promise<Deployment> {
    const d = await this.d.registry.getDeployment(id);
    if (!d) throw new DomainError('UnknownDeployment', `no deployment ${id}`, { deployment_id: id });
    return d;
  }

  /**
   * The serving hot path: from memory (RouteSource), hashing the key into the split. The answer is the route's own
   * frozen object, the same one while the split stands (the HTTP fast path memoizes its JSON on it).
   */
  async resolve(prompt: string, key: string): Promise<{ version: string; template: string }> {
    const route = await this.d.routes.get(prompt);
    if (!route) throw new DomainError('UnknownPrompt', `no prompt named ${prompt}`, { prompt });
    const version = pickVersion(route.split, key);
    const answer = version === undefined ? undefined : route.answers[version];
    if (!answer) throw new DomainError('NothingDeployed', `prompt ${prompt} has no active version; deploy one first`, { prompt });
    return answer;
  }

  async ingest(events: MetricEvent[]): Promise<number> {
    await requireKnownVersions(this.d.registry, events, this.knownVersions);
    const n = await this.d.metrics.ingest(events);
    await this.fastPath(promptsWithErrors(events));
    return n;
  }

  /**
   * A batch as it arrived (`POST /api/metrics`'s JSON body): decoded, checked and written by the metrics store's
   * ingest thread when there is one, so that this event loop — which serves switches, resolves and rollback requests
   * — spends next to nothing on it; else decoded here, with the same answers. A refused batch throws (nothing stored).
   */
  async ingestEncoded(body: Uint8Array, receivedAt: Date): Promise<number> {
    const done = await this.d.metrics.ingestEncoded?.(body, receivedAt);
    if (!done) return this.ingest(decodeMetricBatchBytes(body, receivedAt));
    await this.fastPath(done.prompts_with_errors);
    return done.accepted;
  }

  /**
   * The ingest fast path: when a batch carries errors for a monitored prompt's active version, evaluate the
   * critical rule at once and, if it trips, ask the monitor to check now — a critical breach is acted on in
   * about a second instead of at the next tick. At most once a second per prompt; never fails the ingest.
   */
  private async fastPath(prompts: readonly string[]): Promise<void> {
    const now = this.d.clock.now();
    for (const name of prompts) {
      if (now.getTime() - (this.lastFastPath.get(name) ?? 0) < 1000) continue;
      try {
        const [prompt, monitor] = await Promise.all([this.d.registry.getPrompt(name), this.d.monitors.get(name)]);
        if (!prompt?.active_version || monitor?.status !== 'running') continue;
        const policy = resolvePolicy(prompt.policy);
        const critical = policy.rules.find((r) => r.severity === 'critical' && r.metric === 'error_rate');
        if (!critical) continue;
        const w = await this.d.metrics.window(name, prompt.active_version, new Date(now.getTime() - policy.window_s * 1000), now);
        const rate = w.error_rate ?? 0;
        if (w.requests < policy.min_samples || !breaches(critical, rate)) continue;
        this.lastFastPath.set(name, now.getTime());
        // Fire and forget (engine calls are bounded): an unreachable engine never holds up the ingest answer.
        void this.actNow(name);
      } catch (e) {
        this.d.log?.warn({ err: e, prompt: name }, 'fast path check failed; the monitor will catch it at its next tick');
      }
    }
  }

  /**
   * A tripped fast path: judge the prompt by the trigger table here, as its monitor would, and start the incident
   * that check opens (claimed in the store with its start input, so one is open per prompt whoever claims first, and
   * the reconciler starts it should this start fail). The switch then never waits for the monitor's workflow task,
   * which queues behind every other monitor's on a busy worker. The monitor is asked to check now all the same: it
   * records the open incident, or tells it about a worse breach.
   */
  private async actNow(name: string): Promise<void> {
    // Sent once the judgement is made (a claim, if any, is in the store), not after the start and its retry: the monitor
    // never waits for them.
    const askMonitor = () =>
      this.d.workflows.checkNow(name, 'fast_path').catch((e: unknown) => {
        this.d.log?.warn({ err: e, prompt: name }, 'fast path check-now failed; the monitor will catch it at its next tick');
      });
    if (!this.d.judge) {
      void askMonitor();
      return;
    }
    let incident: RollbackInput | undefined;
    try {
      // A monitor's claim no workflow has saved yet is started now too: that monitor may have ended within its check.
      const r = await this.d.judge({ prompt: name, source: 'fast_path', unstarted_after_ms: 0 });
      if (r.action === 'open_incident' && r.incident) incident = r.incident;
    } catch (e) {
      this.d.log?.warn({ err: e, prompt: name }, 'fast path check failed; the monitor checks now instead');
    }
    void askMonitor();
    if (!incident) return;
    const claimed = incident;
    // Once more after a moment should the engine not answer in time: the start is keyed by the rollback id, so a
    // first attempt that did reach the engine makes the second one a refused duplicate.
    const start = () => this.d.workflows.startRollback(claimed).then(() => undefined);
    await start()
      .catch(async (e: unknown) => {
        if (isAlreadyStarted(e)) return;
        await new Promise((r) => setTimeout(r, FAST_PATH_RETRY_MS));
        await start();
      })
      .catch((e: unknown) => {
        if (isAlreadyStarted(e)) return;
        this.d.log?.warn(
          { err: e, prompt: name, rollback_id: claimed.rollback_id },
          "fast path: the incident is claimed but its workflow did not start now; the monitor's next check or the reconciler starts it from the stored input",
        );
      });
  }

  /**
   * Every deployed prompt is guarded: starts its monitor. With the engine unreachable the deploy still succeeds
   * and says the monitor is pending; the monitor row is marked `pending` and the reconciler starts it.
   */
  private async guard(prompt: string, actor: string): Promise<MonitorGuard> {
    try {
      const m = await this.startMonitor(prompt, undefined, actor);
      return { workflow_id: m.workflow_id, status: 'running' };
    } catch (e) {
      this.d.log?.warn({ err: e, prompt }, 'deployed, but the monitor could not be started now; the reconciler will start it');
      // The deployment is made: the answer says so whatever the monitor's row can be told (the store may be what failed;
      // the reconciler starts a deployed prompt's missing monitor all the same).
      const outage = this.d.storeOutage?.(e);
      const at = this.d.clock.now().toISOString();
      let recorded = true;
      try {
        const existing = await this.d.monitors.get(prompt);
        if (existing?.status !== 'running') {
          await this.d.monitors.upsert({
            prompt,
            workflow_id: monitorWorkflowId(prompt),
            status: 'pending',
            interval_s: existing?.interval_s ?? this.d.monitorIntervalS,
            started_by: actor,
            started_at: at,
            stopped_by: null,
            updated_at: at,
          });
        }
      } catch (e2) {
        recorded = false;
        this.d.log?.warn({ err: e2, prompt }, "the monitor's pending row could not be written");
      }
      // A row that could not be read may say `stopped` (someone stopped the monitor): the reconciler leaves those alone.
      const then = recorded
        ? 'it starts automatically once the store answers'
        : `once the store answers, the reconciler starts it unless someone had stopped it (GET /api/monitors/${prompt} says)`;
      return {
        workflow_id: monitorWorkflowId(prompt),
        status: 'pending',
        error:
          outage !== undefined
            ? `monitor not started yet: the store cannot be used (${outage}); ${then}`
            : `monitor not started yet: ${(e as Error).message}; it starts automatically once the workflow engine answers`,
      };
    }
  }

  async startMonitor(prompt: string, intervalS: number | undefined, actor: string): Promise<MonitorRecord & { created: boolean }> {
    await this.requirePrompt(prompt);
    const at = this.d.clock.now().toISOString();
    const interval_s = intervalS ?? this.d.monitorIntervalS;
    const existing = await this.d.monitors.get(prompt);
    const started = await this.d.workflows.startMonitor(prompt, interval_s, actor);
    if (started.created || existing?.status !== 'running') {
      await this.d.monitors.upsert({
        prompt,
        workflow_id: started.workflow_id,
        status: 'running',
        interval_s,
        started_by: actor,
        started_at: at,
        stopped_by: null,
        updated_at: at,
      });
    }
    const m = await this.d.monitors.get(prompt);
    return { ...m!, created: started.created };
  }

  async stopMonitor(prompt: string, actor: string): Promise<MonitorRecord> {
    const m = await this.d.monitors.get(prompt);
    if (!m) throw new DomainError('UnknownMonitor', `prompt ${prompt} has no monitor`, { prompt });
    await this.d.workflows.stopMonitor(prompt, actor);
    await this.d.monitors.upsert({ ...m, status: 'stopped', stopped_by: actor, updated_at: this.d.clock.now().toISOString() });
    return (await this.d.monitors.get(prompt))!;
  }

  async getMonitor(prompt: string) {
    const m = await this.d.monitors.get(prompt);
    if (!m) throw new DomainError('UnknownMonitor', `prompt ${prompt} has no monitor; start one with POST /api/monitors`, { prompt });
    return this.monitorView(m);
  }

  async listMonitors() {
    return Promise.all((await this.d.monitors.list()).map((m) => this.monitorView(m)));
  }

  private async monitorView(m: MonitorRecord) {
    const open = await this.d.rollbacks.openFor(m.prompt);
    return {
      ...m,
      open_rollback_id: open ?? null,
      open_incident_url: open ? this.statusUrl(open) : null,
      web_ui_url: this.d.workflows.webUiUrl(m.workflow_id),
    };
  }

  async approvals() {
    const pending = (await Promise.all(DECIDABLE.map((status) => this.d.rollbacks.list({ status })))).flat();
    return pending.map((v) => ({
      rollback_id: v.rollback_id,
      prompt: v.prompt,
      status: v.status,
      severity: v.severity,
      reason: v.reason,
      trigger: v.trigger ?? null,
      deadline: v.deadline ?? null,
      default_action: v.default_action ?? null,
      tier: v.tier ?? 1,
      status_url: this.statusUrl(v.rollback_id),
      approve_url: `${this.statusUrl(v.rollback_id)}/approve`,
      reject_url: `${this.statusUrl(v.rollback_id)}/reject`,
      web_ui_url: this.d.workflows.webUiUrl(v.workflow_id),
    }));
  }

  /**
   * Pause, resume or abort a gradual rollback: an Update on the rollback workflow, whose validator refuses what
   * cannot be done now (409 saying why); answers the state once the workflow acted on it.
   */
  async control(id: string, control: 'pause' | 'resume' | 'abort', actor: string) {
    return this.decideOn(id, control, { by: actor });
  }

  /**
   * Approve ("execute rollback") or reject ("investigate") a pending decision: an Update whose validator refuses a
   * stale click (deadline passed and what was done, already decided by whom, not awaiting); answers the state
   * once the workflow acted on it. The actor is the authenticated API identity.
   */
  async decide(id: string, kind: 'approve' | 'reject', actor: string, comment: string | undefined, via?: 'slack') {
    return this.decideOn(id, kind, { by: actor, ...(comment !== undefined ? { comment } : {}), ...(via ? { via } : {}) });
  }

  private async decideOn(id: string, decision: DecisionName, payload: DecisionPayload) {
    const v = await this.getRollback(id);
    // An ended rollback's workflow is gone: the store says what happened, in the workflow's words.
    if (isTerminal(v.status)) throw this.refusedFromStore(v, decision);
    // A claimed incident whose workflow may not have started yet (its first save has not happened): start it
    // from the stored input together with the decision (update-with-start), instead of retrying.
    const startInput = v.timeline.length === 0 ? await this.d.rollbacks.startInput(id) : undefined;
    let state: RollbackView | undefined;
    try {
      state = await this.d.workflows.decide(v.workflow_id, decision, payload, startInput);
    } catch (e) {
      if (isDomainError(e) && e.type === 'NotAwaitingApproval') throw this.refusedFromStore(await this.getRollback(id), decision);
      throw e;
    }
    if (!state) return this.getRollback(id);
    // As in getRollback: the post-mortem shown is the one built from the record, never a stored draft.
    const { post_mortem: _stored, ...view } = state;
    const post_mortem = isTerminal(state.status) ? await this.buildPostMortemOf(state) : undefined;
    return {
      ...view,
      ...(post_mortem ? { post_mortem } : {}),
      status_url: this.statusUrl(id),
      web_ui_url: this.d.workflows.webUiUrl(state.workflow_id),
    };
  }

  private refusedFromStore(v: RollbackView, decision: DecisionName): DomainError {
    const why = ['approve', 'reject'].includes(decision) ? decisionRefusal(v, this.d.clock.now().getTime()) : undefined;
    return new DomainError('DecisionRefused', why?.message ?? `rollback ${v.rollback_id} is ${v.status}; it cannot ${decision} any more`, {
      rollback_id: v.rollback_id,
      rollback_status: v.status,
      decided_by: v.decision?.by ?? v.decided_by ?? null,
      deadline: v.decision?.deadline ?? v.deadline ?? null,
    });
  }

  async metricsFor(prompt: string, version: string | undefined, windowS: number) {
    const p = await this.requirePrompt(prompt);
    const v = version ?? p.active_version;
    const to = this.d.clock.now();
    const from = new Date(to.getTime() - windowS * 1000);
    // What the monitors read: the prompt's own provider. One that cannot answer is a 503 naming it.
    const source = this.d.metricsSource ?? this.d.metrics;
    const current: WindowStats = v ? await source.window(prompt, v, from, to) : emptyWindow(windowS);
    const versions = await this.d.registry.listVersions(prompt);
    const baselineVersion = v ? knownGoodTarget(versions, v).target : undefined;
    // The baseline is the last known-good version's own last window of traffic (as the monitors judge it).
    const baseline = baselineVersion ? await source.lastWindow(prompt, baselineVersion, windowS) : undefined;
    return {
      prompt,
      version: v,
      provider: p.metrics.provider,
      ...current,
      baseline: baseline && baselineVersion ? { version: baselineVersion, ...baseline } : null,
    };
  }

  /**
   * A prompt's traffic in `step_s` buckets over [from, to): what the dashboard charts around a switch. Every version
   * that served in the range is summed per bucket (error rate and quality over all requests); p99 is the slowest
   * serving version's, an upper bound that does not hide a slow version behind a fast one.
   */
  async metricsSeries(prompt: string, from: Date, to: Date, stepS: number, only?: string) {
    await this.requirePrompt(prompt);
    const source = this.d.metricsSource ?? this.d.metrics;
    const candidates = only !== undefined ? [await this.requireVersion(prompt, only)] : await this.d.registry.listVersions(prompt);
    // Versions whose traffic ended before `from` (or that never had any) cost no bucket reads.
    const served = (
      await Promise.all(
        candidates.map(async (v) => {
          const last = await source.lastSeen(prompt, v.version);
          return last !== undefined && last.getTime() >= from.getTime() ? v.version : undefined;
        }),
      )
    ).filter((v): v is string => v !== undefined);
    // Bounds on whole seconds: windows that meet then share no second, so every event is counted in exactly one bucket.
    const stepMs = stepS * 1000;
    const first = Math.floor(from.getTime() / 1000) * 1000;
    const end = Math.ceil(to.getTime() / 1000) * 1000;
    const starts: number[] = [];
    for (let t = first; t < end; t += stepMs) starts.push(t);
    const points = await Promise.all(
      starts.map(async (t) => {
        const until = new Date(Math.min(t + stepMs, end));
        const windows = await Promise.all(served.map(async (v) => [v, await source.window(prompt, v, new Date(t), until)] as const));
        let requests = 0;
        let errors = 0;
        let qualitySum = 0;
        let qualitySamples = 0;
        let p99: number | null = null;
        const byVersion: Record<string, number> = {};
        for (const [v, w] of windows) {
          if (w.requests === 0) continue;
          byVersion[v] = w.requests;
          requests += w.requests;
          errors += w.errors;
          if (w.quality_mean !== null && w.quality_samples > 0) {
            qualitySum += w.quality_mean * w.quality_samples;
            qualitySamples += w.quality_samples;
          }
          if (w.latency_ms.p99 !== null) p99 = Math.max(p99 ?? 0, w.latency_ms.p99);
        }
        return {
          at: new Date(t).toISOString(),
          requests,
          errors,
          error_rate: requests > 0 ? errors / requests : null,
          latency_p99_ms: p99,
          quality_mean: qualitySamples > 0 ? qualitySum / qualitySamples : null,
          by_version: byVersion,
        };
      }),
    );
    return { prompt, from: new Date(first).toISOString(), to: new Date(end).toISOString(), step_s: stepS, versions: served, points };
  }

  async startRollback(
    input: { prompt: string; target_version?: string; reason?: string; mode: RollbackMode },
    actor: string,
  ): Promise<{ rollback_id: string; status: RollbackStatus; status_url: string; workflow_id: string; web_ui_url: string }> {
    // The prompt, its versions and its traffic are read together (one round trip to the store, not three); a missing
    // prompt is said before a missing version.
    const [pRead, named, versions, trafficRead] = await Promise.allSettled([
      this.requirePrompt(input.prompt),
      input.target_version !== undefined ? this.requireVersion(input.prompt, input.target_version) : undefined,
      input.target_version === undefined ? this.d.registry.listVersions(input.prompt) : undefined,
      this.d.registry.getTraffic(input.prompt),
    ]);
    const settled = <T>(r: PromiseSettledResult<T>): T => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
    const p = settled(pRead);
    settled(named);
    let target = input.target_version;
    if (target === undefined) {
      const choice = knownGoodTarget(settled(versions) ?? [], p.active_version);
      if (!choice.target) {
        throw new DomainError(
          'NoKnownGoodVersion',
          `prompt ${input.prompt} has no known-good version to roll back to; name one in target_version`,
          {
            skipped: choice.skipped,
          },
        );
      }
      target = choice.target;
    }
    // Nothing to roll back: the target already serves every request. (During a canary it serves only part of
    // the traffic: the rollback goes ahead and aborts the canary.)
    const traffic = settled(trafficRead);
    if (traffic.length === 1 && traffic[0]!.version === target && traffic[0]!.percent >= 100) {
      throw new DomainError('AlreadyActive', `${target} already serves all traffic of ${input.prompt}; there is nothing to roll back`, {
        prompt: input.prompt,
        version: target,
      });
    }
    const at = this.d.clock.now();
    const id = newId(at);
    const workflowId = rollbackWorkflowId(input.prompt, id);
    const view: RollbackView = {
      rollback_id: id,
      workflow_id: workflowId,
      prompt: input.prompt,
      from_version: p.active_version,
      to_version: input.target_version ?? null,
      reason: input.reason ?? 'manual rollback',
      severity: 'manual',
      mode: input.mode,
      status: 'rolling_back',
      requested_by: actor,
      requested_at: at.toISOString(),
      timeline: [],
      updated_at: at.toISOString(),
    };
    const startInput: RollbackInput = {
      rollback_id: id,
      prompt: input.prompt,
      ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
      reason: view.reason,
      severity: view.severity,
      mode: input.mode,
      requested_by: actor,
      requested_at: view.requested_at,
      verification: this.d.verification,
      gradual_plan: this.d.gradualPlan,
    };
    const claim = await this.d.rollbacks.claim(view, startInput);
    if (!claim.ok) {
      throw new DomainError('RollbackInFlight', `prompt ${input.prompt} already has rollback ${claim.open_rollback_id} in flight`, {
        rollback_id: claim.open_rollback_id,
        status_url: this.statusUrl(claim.open_rollback_id),
      });
    }
    try {
      await this.d.workflows.startRollback(startInput);
    } catch (e) {
      // Release the claim, so the prompt is not blocked by a rollback that never started.
      const failedAt = this.d.clock.now().toISOString();
      await this.d.rollbacks.save({
        ...view,
        status: 'failed',
        updated_at: failedAt,
        timeline: [{ at: failedAt, event: 'start_failed', detail: { error: (e as Error).message } }],
      });
      if (isDomainError(e)) throw e;
      throw new DomainError('EngineUnavailable', `could not start the rollback workflow: ${(e as Error).message}`);
    }
    return {
      rollback_id: id,
      status: view.status,
      status_url: this.statusUrl(id),
      workflow_id: workflowId,
      web_ui_url: this.d.workflows.webUiUrl(workflowId),
    };
  }

  /**
   * A rollback as stored; with `live`, a running one as its workflow holds it now (each verification check, the
   * gradual stage), so that someone following it sees progress between saves. The store answers if the workflow
   * does not within LIVE_VIEW_WITHIN_MS.
   */
  async getRollback(
    id: string,
    opts: { live?: boolean } = {},
  ): Promise<RollbackView & { status_url: string; web_ui_url: string; post_mortem?: PostMortem; deliveries: DeliveryRecord[] }> {
    const stored = await this.d.rollbacks.get(id);
    if (!stored) throw new DomainError('UnknownRollback', `no rollback ${id}`, { rollback_id: id });
    const live =
      opts.live && !isTerminal(stored.status) && stored.timeline.length > 0
        ? await this.d.workflows.liveRollback(stored.workflow_id, LIVE_VIEW_WITHIN_MS)
        : undefined;
    const v = live && live.rollback_id === stored.rollback_id ? live : stored;
    // A finished rollback carries its post-mortem (docs/api.md `post_mortem?`), computed on read from its record.
    const { post_mortem: _stored, ...view } = v;
    const post_mortem = isTerminal(v.status) ? await this.buildPostMortemOf(v) : undefined;
    return {
      ...view,
      ...(post_mortem ? { post_mortem } : {}),
      deliveries: (await this.d.deliveries?.deliveriesFor(id)) ?? [],
      status_url: this.statusUrl(id),
      web_ui_url: this.d.workflows.webUiUrl(v.workflow_id),
    };
  }

  /** The post-mortem of a finished rollback (404 unknown, 409 while it runs). */
  async postMortem(id: string): Promise<PostMortem> {
    const v = await this.getRollback(id);
    if (!isTerminal(v.status) || !v.post_mortem) {
      throw new DomainError('RollbackRunning', `post-mortem is written when the rollback ends; rollback ${id} is ${v.status}`, {
        rollback_id: id,
        rollback_status: v.status,
        status_url: this.statusUrl(id),
      });
    }
    return v.post_mortem;
  }

  private async buildPostMortemOf(v: RollbackView): Promise<PostMortem> {
    const excerpt = (t: string | undefined): string | undefined =>
      t === undefined ? undefined : t.length > 400 ? `${t.slice(0, 400)}…` : t;
    const [from, to, audit] = await Promise.all([
      v.from_version ? this.d.registry.getVersion(v.prompt, v.from_version) : undefined,
      v.to_version ? this.d.registry.getVersion(v.prompt, v.to_version) : undefined,
      this.d.registry.audit({ rollback_id: v.rollback_id }),
    ]);
    return buildPostMortem(v, {
      deployed_at: from?.deployed_at ?? null,
      from_known_good: from?.known_good ?? null,
      ...(from ? { from_template_excerpt: excerpt(from.template) } : {}),
      ...(to ? { to_template_excerpt: excerpt(to.template) } : {}),
      audit: audit.map((a) => ({ at: a.at, actor: a.actor, action: a.action, reason: a.reason })),
    });
  }

  listRollbacks(filter: { prompt?: string; status?: RollbackStatus; limit?: number }) {
    return this.d.rollbacks.list(filter);
  }

  async readiness(): Promise<{ ok: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    await Promise.all([
      this.d.registry.listPrompts().then(
        () => (checks.store = 'ok'),
        (e: Error) => (checks.store = `down: ${e.message}`),
      ),
      this.d.workflows.ping().then(
        () => (checks.temporal = 'ok'),
        (e: Error) => (checks.temporal = `down: ${e.message}`),
      ),
    ]);
    if (this.d.workerStatus) checks.worker = this.d.workerStatus();
    return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
  }

  deploymentUrl(id: string): string {
    return `${this.d.publicUrl}/api/deployments/${encodeURIComponent(id)}`;
  }

  statusUrl(id: string): string {
    return `${this.d.publicUrl}/api/rollbacks/${encodeURIComponent(id)}`;
  }

  private async requirePrompt(name: string) {
    const p = await this.d.registry.getPrompt(name);
    if (!p) throw new DomainError('UnknownPrompt', `no prompt named ${name}; create it with PUT /api/prompts/${name}`, { prompt: name });
    return p;
  }

  private async requireVersion(prompt: string, version: string) {
    const v = await this.d.registry.getVersion(prompt, version);
    if (!v) throw new DomainError('UnknownVersion', `prompt ${prompt} has no version ${version}`, { prompt, version });
    return v;
  }
}
