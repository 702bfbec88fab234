import { Client, WorkflowIdReusePolicy } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { rollbackWorkflowId } from '../../domain/names';
import type { Workflows } from '../../ports/workflows';
import {
  approveSignal,
  PromptNameKey,
  rejectSignal,
  RollbackSeverityKey,
  RollbackStateKey,
  type DecisionPayload,
} from '../../workflows/messages';
import type { RollbackInput } from '../../workflows/rollback';

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

  async signalDecision(workflowId: string, decision: 'approve' | 'reject', payload: DecisionPayload): Promise<void> {
    await this.client.workflow.getHandle(workflowId).signal(decision === 'approve' ? approveSignal : rejectSignal, payload);
  }

  async ping(): Promise<void> {
    await this.client.connection.withDeadline(Date.now() + 2000, () => this.client.workflowService.getSystemInfo({}));
  }

  webUiUrl(workflowId: string): string {
    return `${this.webUi}/namespaces/${encodeURIComponent(this.client.options.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  }
}
