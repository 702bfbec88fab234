import {
  Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes, type SignalDefinition } from '@temporalio/common';
import { DomainError } from '../../domain/errors';
import { monitorChecksTaskQueue, monitorWorkflowId, rollbackTaskQueue, rollbackWorkflowId } from '../../domain/names';
import {
  canaryDetails,
  canarySummary,
  monitorDetails,
  monitorSummary,
  rollbackDetails,
  rollbackSummary,
} from '../../domain/workflow-summary';
import type { WorkflowRunState, Workflows } from '../../ports/workflows';
import {
  abortSignal,
  approveSignal,
  checkNowSignal,
  DECISION_REFUSED,
  DECISION_UPDATES,
  type DecisionName,
  pauseSignal,
  resumeSignal,
  PromptNameKey,
  rejectSignal,
  RollbackSeverityKey,
  RollbackStateKey,
  stateQuery,
  stopMonitorSignal,
  type DecisionPayload,
} from '../../workflows/messages';
import type { RollbackInput, RollbackView } from '../../domain/rollback';
import { canaryWorkflow, type CanaryInput } from '../../workflows/canary';
import { monitorWorkflow } from '../../workflows/monitor';
import { rollbackWorkflow } from '../../workflows/rollback';

const STATUS: Record<string, WorkflowRunState> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  CONTINUED_AS_NEW: 'continued_as_new',
  TIMED_OUT: 'timed_out',
};

/** How long the API then waits for an accepted decision to be acted on before answering with the stored state. */
const ACT_WITHIN_MS = 8000;

/** gRPC codes that mean "the engine is not there or did not answer", not "your request was wrong". */
const UNREACHABLE_CODES = new Set([14 /* UNAVAILABLE */, 4 /* DEADLINE_EXCEEDED */, 1 /* CANCELLED */]);

/**
 * How long the API's client keeps retrying a call after it failed: 3 retries, 0.17 + 0.29 + 0.49 s (±20 %), see
 * API_GRPC_RETRY. Longer would be useless anyway: every engine call the API makes is bounded (TEMPORAL_CALL_TIMEOUT_MS).
 */
const RETRY_TAIL_MS = 1200;
/** The API's gRPC retries: at most 4 attempts, so that a call that gave up stops retrying within RETRY_TAIL_MS. */
export const API_GRPC_RETRY = { maxAttempts: 4 };

/**
 * The engine is not there or did not answer in time — anywhere in the cause chain — as opposed to an answer
 * (a workflow's own failure or a validator's refusal is an answer).
 */
function unreachable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (c instanceof WorkflowUpdateFailedError || c instanceof ApplicationFailure) return false;
    if (c instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'number' && UNREACHABLE_CODES.has(code)) return true;
    if (
      c instanceof Error &&
      /deadline|unavailable|ECONNREFUSED|ECONNRESET|Failed to connect|No connection established|Connection dropped/i.test(c.message)
    )
      return true;
  }
  return false;
}

/** How long listing the running monitors may take (pages of the visibility store) before the engine is called away. */
const LIST_TIMEOUT_MS = 30_000;

export class TemporalWorkflows implements Workflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly webUi: string,
    /** Every call answers within this (ms): a slow or absent engine becomes EngineUnavailable, never a hang. */
    private readonly timeoutMs = 1500,
    /** How the monitors it starts run their periodic checks (MONITOR_CHECKS). */
    private readonly monitorChecks: 'activity' | 'timer' = 'activity',
  ) {}

  /** One engine call within the time budget (`within`); no answer becomes EngineUnavailable (503), never a hang. */
  private async bounded<T>(what: string, fn: () => Promise<T>, ms = this.timeoutMs): Promise<T> {
    try {
      return await this.within(ms, fn);
    } catch (e) {
      if (unreachable(e)) {
        const message = e instanceof Error ? e.message : String(e);
        throw new DomainError(
          'EngineUnavailable',
          `the workflow engine (Temporal) did not answer, so it could not ${what}: ${message}; try again shortly`,
          { cause: (e as { cause?: Error }).cause?.message ?? message },
        );
      }
      throw e;
    }
  }

  async liveRollback(workflowId: string, withinMs: number): Promise<RollbackView | undefined> {
    try {
      return await this.within(withinMs, () => this.client.workflow.getHandle(workflowId).query(stateQuery));
    } catch {
      // Ended, not started yet, no worker to answer, engine away: the stored view stands.
      return undefined;
    }
  }

  async describe(workflowId: string): Promise<WorkflowRunState> {
    try {
      const d = await this.bounded(`describe ${workflowId}`, () => this.client.workflow.getHandle(workflowId).describe());
      return STATUS[d.status.name] ?? 'failed';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'not_found';
      throw e;
    }
  }

  async runningMonitors(): Promise<Set<string>> {
    // A name the query cannot quote is not listed (the reconciler then describes each monitor).
    if (!/^[\w.:/-]+$/.test(this.taskQueue)) throw new Error(`task queue ${this.taskQueue} cannot be named in a visibility query`);
    const ids = new Set<string>();
    // A thousand monitors are a page or two of the visibility store: a longer bound than one call's.
    await this.bounded(
      'list the running monitors',
      async () => {
        const query = `WorkflowType = '${monitorWorkflow.name}' AND ExecutionStatus = 'Running' AND TaskQueue = '${this.taskQueue}'`;
        for await (const w of this.client.workflow.list({ query })) ids.add(w.workflowId);
      },
      LIST_TIMEOUT_MS,
    );
    return ids;
  }

  async startRollback(input: RollbackInput): Promise<{ workflow_id: string }> {
    const workflowId = rollbackWorkflowId(input.prompt, input.rollback_id);
    await this.bounded('start the rollback', () =>
      this.client.workflow.start(rollbackWorkflow, {
        taskQueue: rollbackTaskQueue(this.taskQueue),
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: PromptNameKey, value: input.prompt },
          { key: RollbackSeverityKey, value: input.severity },
          // An incident the trigger table does not roll back at once (a page, a recommendation) starts observing.
          { key: RollbackStateKey, value: input.incident && input.incident.action !== 'rollback' ? 'observing' : 'rolling_back' },
        ]),
        staticSummary: rollbackSummary(input),
        staticDetails: rollbackDetails(input),
      }),
    );
    return { workflow_id: workflowId };
  }

  async startCanary(input: CanaryInput): Promise<{ workflow_id: string }> {
    const workflowId = `deploy/${input.prompt}/${input.deployment_id}`;
    await this.bounded('start the canary', () =>
      this.client.workflow.start(canaryWorkflow, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([{ key: PromptNameKey, value: input.prompt }]),
        staticSummary: canarySummary(input),
        staticDetails: canaryDetails(input),
      }),
    );
    return { workflow_id: workflowId };
  }

  async startMonitor(prompt: string, interval_s: number, by: string): Promise<{ workflow_id: string; created: boolean }> {
    const workflowId = monitorWorkflowId(prompt);
    try {
      await this.bounded('start the monitor', () =>
        this.client.workflow.start(monitorWorkflow, {
          taskQueue: this.taskQueue,
          workflowId,
          args: [
            {
              prompt,
              interval_s,
              started_by: by,
              rollback_task_queue: rollbackTaskQueue(this.taskQueue),
              ...(this.monitorChecks === 'activity'
                ? { checks: 'activity' as const, check_task_queue: monitorChecksTaskQueue(this.taskQueue) }
                : {}),
            },
          ],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: new TypedSearchAttributes([{ key: PromptNameKey, value: prompt }]),
          staticSummary: monitorSummary(prompt, interval_s),
          staticDetails: monitorDetails(prompt, interval_s, by),
        }),
      );
      return { workflow_id: workflowId, created: true };
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) return { workflow_id: workflowId, created: false };
      throw e;
    }
  }

  async stopMonitor(prompt: string, by: string): Promise<boolean> {
    try {
      await this.bounded('stop the monitor', () =>
        this.client.workflow.getHandle(monitorWorkflowId(prompt)).signal(stopMonitorSignal, { by }),
      );
      return true;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  async abortCanary(workflowId: string, by: string): Promise<boolean> {
    try {
      await this.bounded('abort the canary', () => this.client.workflow.getHandle(workflowId).signal(abortSignal, { by }));
      return true;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  async checkNow(prompt: string, source: string): Promise<void> {
    try {
      await this.bounded('ask the monitor to check now', () =>
        this.client.workflow.getHandle(monitorWorkflowId(prompt)).signal(checkNowSignal, { source }),
      );
    } catch (e) {
      if (!(e instanceof WorkflowNotFoundError)) throw e;
    }
  }

  async signalControl(workflowId: string, control: 'pause' | 'resume' | 'abort', payload: DecisionPayload): Promise<void> {
    const signal = control === 'pause' ? pauseSignal : control === 'resume' ? resumeSignal : abortSignal;
    await this.signalSoon(workflowId, signal, payload, control);
  }

  async decide(
    workflowId: string,
    decision: DecisionName,
    payload: DecisionPayload,
    startInput?: RollbackInput,
  ): Promise<RollbackView | undefined> {
    const update = DECISION_UPDATES[decision];
    let handle;
    try {
      // Accepted or refused by the workflow's validator within 2 s, or the engine counts as unavailable.
      handle = await this.within(this.timeoutMs, () =>
        startInput
          ? this.client.workflow.startUpdateWithStart(update, {
              args: [payload],
              waitForStage: 'ACCEPTED',
              startWorkflowOperation: new WithStartWorkflowOperation('rollbackWorkflow', {
                taskQueue: rollbackTaskQueue(this.taskQueue),
                workflowId,
                args: [startInput],
                // Decide on the running one; never start a second run of a rollback that already ended.
                workflowIdConflictPolicy: 'USE_EXISTING',
                workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
                typedSearchAttributes: new TypedSearchAttributes([
                  { key: PromptNameKey, value: startInput.prompt },
                  { key: RollbackSeverityKey, value: startInput.severity },
                  { key: RollbackStateKey, value: 'rolling_back' },
                ]),
                staticSummary: rollbackSummary(startInput),
                staticDetails: rollbackDetails(startInput),
              }),
            })
          : this.client.workflow.getHandle(workflowId).startUpdate(update, { args: [payload], waitForStage: 'ACCEPTED' }),
      );
    } catch (e) {
      // A rollback started before decisions were Updates (the frozen v1 body) has no handler: it takes the signal.
      if (e instanceof WorkflowUpdateFailedError && /No registered handler for update/.test(e.cause?.message ?? '')) {
        await this.legacyDecision(workflowId, decision, payload);
        return undefined;
      }
      throw this.decisionError(e, workflowId, decision);
    }
    try {
      return await this.within(ACT_WITHIN_MS, () => handle.result());
    } catch (e) {
      // Accepted: the workflow acts on it; the caller answers with the stored state meanwhile.
      if (!(e instanceof WorkflowUpdateFailedError) && unreachable(e)) return undefined;
      throw this.decisionError(e, workflowId, decision);
    }
  }

  private async legacyDecision(workflowId: string, decision: DecisionName, payload: DecisionPayload): Promise<void> {
    if (decision === 'approve' || decision === 'reject') {
      await this.within(this.timeoutMs, () =>
        this.client.workflow.getHandle(workflowId).signal(decision === 'approve' ? approveSignal : rejectSignal, payload),
      );
    } else {
      await this.signalControl(`${workflowId}/gradual`, decision, payload);
    }
  }

  /**
   * Resolves once no engine call is in flight and none failed within the last RETRY_TAIL_MS (at most `maxMs`): the
   * client's gRPC retries of a call that gave up keep running on their own timers, and one firing after the
   * connection closed throws from a timer. Close the connection after this. From here on no call is made: one
   * (a fast path's second start attempt) fails at once as the engine being unavailable.
   */
  async quiesce(maxMs = 3000): Promise<void> {
    this.stopping = true;
    const until = Date.now() + maxMs;
    while (Date.now() < until && (this.inFlight > 0 || Date.now() - this.lastFailedAt < RETRY_TAIL_MS))
      await new Promise((r) => setTimeout(r, 50));
  }

  private inFlight = 0;
  private lastFailedAt = 0;
  private stopping = false;

  /**
   * A client call bounded in time: the gRPC deadline and an abort signal, and a timer as the last word (the
   * client retries an unreachable server internally, and connecting has its own, longer timeout).
   */
  private async within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    if (this.stopping) throw Object.assign(new Error('the API is stopping: no new call to the engine'), { code: 14 });
    this.inFlight += 1;
    try {
      return await this.withinOnce(ms, fn);
    } catch (e) {
      this.lastFailedAt = Date.now();
      throw e;
    } finally {
      this.inFlight -= 1;
    }
  }

  private async withinOnce<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(Object.assign(new Error(`no answer within ${ms} ms (deadline exceeded)`), { code: 4 }));
      }, ms);
    });
    try {
      return await Promise.race([
        this.client.connection.withAbortSignal(abort.signal, () => this.client.connection.withDeadline(Date.now() + ms, fn)),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private decisionError(e: unknown, workflowId: string, decision: DecisionName): Error {
    if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure && e.cause.type === DECISION_REFUSED) {
      const fields = e.cause.details?.[0];
      return new DomainError(
        'DecisionRefused',
        e.cause.message,
        typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : {},
      );
    }
    if (
      e instanceof WorkflowNotFoundError ||
      e instanceof WorkflowExecutionAlreadyStartedError ||
      /already completed|not found/i.test((e as Error)?.message ?? '')
    ) {
      return new DomainError('NotAwaitingApproval', `workflow ${workflowId} is no longer running, so it cannot ${decision}`, {
        workflow_id: workflowId,
      });
    }
    if (unreachable(e)) {
      return new DomainError(
        'EngineUnavailable',
        `the workflow engine did not answer within ${this.timeoutMs / 1000} s; the ${decision} was not confirmed (it may still be applied once the engine answers: check GET /api/rollbacks/…)`,
        { workflow_id: workflowId },
      );
    }
    return e instanceof Error ? e : new Error(String(e));
  }

  /**
   * Signals a workflow that may be a moment from starting: an incident is visible once the monitor claims it,
   * and a gradual rollback's child once its parent reaches that step. Not there after ~3 s → 409.
   */
  private async signalSoon(
    workflowId: string,
    signal: SignalDefinition<[DecisionPayload]>,
    payload: DecisionPayload,
    what: string,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.workflow.getHandle(workflowId).signal(signal, payload);
        return;
      } catch (e) {
        if (!(e instanceof WorkflowNotFoundError)) throw e;
        if (attempt >= 30) {
          throw new DomainError('NotAwaitingApproval', `workflow ${workflowId} is not running, so it cannot ${what}`, {
            workflow_id: workflowId,
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async ping(): Promise<void> {
    await this.bounded('answer a health check', () => this.client.workflowService.getSystemInfo({}));
  }

  webUiUrl(workflowId: string): string {
    return `${this.webUi}/namespaces/${encodeURIComponent(this.client.options.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  }
}
