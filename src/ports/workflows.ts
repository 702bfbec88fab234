import type { RollbackInput, RollbackView } from '../domain/rollback';
import type { CanaryInput } from '../workflows/canary';
import type { DecisionName, DecisionPayload } from '../workflows/messages';

/** Where a workflow execution stands (its latest run), or that no execution has that id. */
export type WorkflowRunState =
  'running' | 'completed' | 'failed' | 'canceled' | 'terminated' | 'timed_out' | 'continued_as_new' | 'not_found';

/**
 * The durable engine as the API and the reconciler see it. Every method answers within a bound (about 2 s);
 * an engine that is down or does not answer throws DomainError EngineUnavailable.
 */
export interface Workflows {
  startRollback(input: RollbackInput): Promise<{ workflow_id: string }>;
  startCanary(input: CanaryInput): Promise<{ workflow_id: string }>;
  /** Idempotent: `created` is false when the prompt's monitor was already running. */
  startMonitor(prompt: string, interval_s: number, by: string): Promise<{ workflow_id: string; created: boolean }>;
  stopMonitor(prompt: string, by: string): Promise<boolean>;
  /** The ingest fast path: ask the prompt's monitor to check now. */
  checkNow(prompt: string, source: string): Promise<void>;
  /**
   * A decision on a rollback (approve, reject, pause, resume, abort) as a validated Update: answers the state the
   * workflow accepted and acted on, or undefined when it accepted but has not acted yet. With `startInput` the
   * workflow is started from it first if it is not running yet (a claimed incident a moment from starting).
   * Throws DomainError `DecisionRefused` (the workflow's reason), `EngineUnavailable` (no answer within 2 s),
   * or `NotAwaitingApproval` when the workflow is no longer running.
   */
  decide(
    workflowId: string,
    decision: DecisionName,
    payload: DecisionPayload,
    startInput?: RollbackInput,
  ): Promise<RollbackView | undefined>;
  /** Pause, resume or abort a canary rollout (signals; also the gradual child of a rollback started before Updates). */
  signalControl(workflowId: string, control: 'pause' | 'resume' | 'abort', payload: DecisionPayload): Promise<void>;
  /** Asks a canary rollout to abort (all traffic back on its old version). False if it no longer runs. */
  abortCanary(workflowId: string, by: string): Promise<boolean>;
  /** Throws when the engine does not answer. */
  ping(): Promise<void>;
  describe(workflowId: string): Promise<WorkflowRunState>;
  /**
   * The workflow ids of every monitor the engine lists as running (its visibility store, which may lag a moment
   * behind): one listing instead of a describe per prompt. Absent where the engine cannot list.
   */
  runningMonitors?(): Promise<Set<string>>;
  /**
   * A running rollback's view as its workflow holds it now (its `state` query): between saves the store lags (checks
   * are saved on state changes, not one by one). Undefined when the workflow does not answer within `withinMs`.
   */
  liveRollback(workflowId: string, withinMs: number): Promise<RollbackView | undefined>;
  webUiUrl(workflowId: string): string;
}
