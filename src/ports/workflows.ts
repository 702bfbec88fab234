import type { RollbackInput } from '../workflows/rollback';
import type { DecisionPayload } from '../workflows/messages';

/** The API's view of the durable engine: start rollbacks, send decisions, check it is reachable. */
export interface Workflows {
  startRollback(input: RollbackInput): Promise<{ workflow_id: string }>;
  signalDecision(workflowId: string, decision: 'approve' | 'reject', payload: DecisionPayload): Promise<void>;
  /** Throws when the engine does not answer. */
  ping(): Promise<void>;
  webUiUrl(workflowId: string): string;
}
