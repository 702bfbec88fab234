import { Client, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import { TypedSearchAttributes, type SignalDefinition } from '@temporalio/common';
import { DomainError } from '../../domain/errors';
import { monitorWorkflowId, rollbackWorkflowId } from '../../domain/names';
import type { Workflows } from '../../ports/workflows';
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
import type { CanaryInput } from '../../workflows/canary';

export class TemporalWorkflows implements Workflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly webUi: string,
  ) {}

  async startRollback(input: RollbackInput): Promise<{ workflow_id: string }> {
    const workflowId = rollbackWorkflowId(input.prompt, input.rollback_id);
    await this.client.workflow.start('rollbackWorkflow', {
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
    });
    return { workflow_id: workflowId };
  }

  async startCanary(input: CanaryInput): Promise<{ workflow_id: string }> {
    const workflowId = `deploy/${input.prompt}/${input.deployment_id}`;
    await this.client.workflow.start('canaryWorkflow', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: new TypedSearchAttributes([{ key: PromptNameKey, value: input.prompt }]),
      staticSummary: `Canary of ${input.prompt} ${input.version}: ${input.plan.stages.join(' → ')} %`,
    });
    return { workflow_id: workflowId };
  }

  async startMonitor(prompt: string, interval_s: number, by: string): Promise<{ workflow_id: string; created: boolean }> {
    const workflowId = monitorWorkflowId(prompt);
    try {
      await this.client.workflow.start('monitorWorkflow', {
        taskQueue: this.taskQueue,
        workflowId,
        args: [{ prompt, interval_s, started_by: by }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([{ key: PromptNameKey, value: prompt }]),
        staticSummary: `Monitor of ${prompt}, every ${interval_s} s`,
      });
      return { workflow_id: workflowId, created: true };
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) return { workflow_id: workflowId, created: false };
      throw e;
    }
  }

  async stopMonitor(prompt: string, by: string): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(monitorWorkflowId(prompt)).signal(stopMonitorSignal, { by });
      return true;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  async checkNow(prompt: string, source: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(monitorWorkflowId(prompt)).signal(checkNowSignal, { source });
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
    await this.client.connection.withDeadline(Date.now() + 2000, () => this.client.workflowService.getSystemInfo({}));
  }

  webUiUrl(workflowId: string): string {
    return `${this.webUi}/namespaces/${encodeURIComponent(this.client.options.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  }
}
