import { Client, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, type SignalDefinition } from '@temporalio/common';
import { DomainError } from '../../domain/errors';
import { monitorWorkflowId, rollbackWorkflowId } from '../../domain/names';
import type { WorkflowRunState, Workflows } from '../../ports/workflows';
import {
  abortSignal,
  approveSignal,
  checkNowSignal,
  pauseSignal,
  resumeSignal,
  PromptNameKey,
  rejectSignal,
  RollbackSeverityKey,
  RollbackStateKey,
  stopMonitorSignal,
  type DecisionPayload,
} from '../../workflows/messages';
import type { RollbackInput } from '../../domain/rollback';
import { canaryWorkflow, type CanaryInput } from '../../workflows/canary';
import { monitorWorkflow } from '../../workflows/monitor';
import { rollbackWorkflow } from '../../workflows/rollback';

/** gRPC codes that mean "the engine is not there or did not answer", not "your request was wrong". */
const UNREACHABLE_CODES = new Set([14 /* UNAVAILABLE */, 4 /* DEADLINE_EXCEEDED */, 1 /* CANCELLED */]);

function unreachable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'number' && UNREACHABLE_CODES.has(code)) return true;
    if (/ECONNREFUSED|ECONNRESET|Failed to connect|No connection established|Connection dropped/i.test(c.message)) return true;
  }
  return false;
}

const STATUS: Record<string, WorkflowRunState> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'canceled',
  TERMINATED: 'terminated',
  CONTINUED_AS_NEW: 'continued_as_new',
  TIMED_OUT: 'timed_out',
};

export class TemporalWorkflows implements Workflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly webUi: string,
    /** Every call answers within this (ms): a slow or absent engine becomes EngineUnavailable, never a hang. */
    private readonly timeoutMs = 1500,
  ) {}

  /**
   * Runs one engine call within the time budget. The gRPC deadline ends the call (and the client's retries of
   * UNAVAILABLE); the timer is the backstop for the time the client spends between retries.
   */
  private async bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.client.connection.withDeadline(Date.now() + Math.max(200, this.timeoutMs - 300), fn), budget]);
    } catch (e) {
      if (e instanceof Error && (e.message.startsWith('no answer within') || unreachable(e))) {
        throw new DomainError(
          'EngineUnavailable',
          `the workflow engine (Temporal) did not answer, so it could not ${what}: ${e.message}; try again shortly`,
          { cause: (e as { cause?: Error }).cause?.message ?? e.message },
        );
      }
      throw e;
    } finally {
      clearTimeout(timer);
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

  async startRollback(input: RollbackInput): Promise<{ workflow_id: string }> {
    const workflowId = rollbackWorkflowId(input.prompt, input.rollback_id);
    await this.bounded('start the rollback', () =>
      this.client.workflow.start(rollbackWorkflow, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: PromptNameKey, value: input.prompt },
          { key: RollbackSeverityKey, value: input.severity },
          { key: RollbackStateKey, value: 'rolling_back' },
        ]),
        staticSummary: `Rollback of ${input.prompt}${input.target_version ? ` to ${input.target_version}` : ''}: ${input.reason}`,
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
        staticSummary: `Canary of ${input.prompt} ${input.version}: ${input.plan.stages.join(' → ')} %`,
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
          args: [{ prompt, interval_s, started_by: by }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: new TypedSearchAttributes([{ key: PromptNameKey, value: prompt }]),
          staticSummary: `Monitor of ${prompt}, every ${interval_s} s`,
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

  async signalDecision(workflowId: string, decision: 'approve' | 'reject', payload: DecisionPayload): Promise<void> {
    await this.signalSoon(workflowId, decision === 'approve' ? approveSignal : rejectSignal, payload, 'take a decision');
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
