/**
 * Errors that cross layers, told apart by `type` (also the Temporal ApplicationFailure type), never by
 * instanceof: they survive serialisation through activities and workflows.
 */
export type DomainErrorType =
  | 'UnknownPrompt'
  | 'UnknownVersion'
  | 'VersionExists'
  | 'RollbackInFlight'
  | 'UnknownRollback'
  | 'NotAwaitingApproval'
  | 'NoKnownGoodVersion'
  | 'InvalidRequest'
  /** The workflow engine (Temporal) did not answer in time: 503, try again. */
  | 'EngineUnavailable'
  /** A rollback to the version that already serves all traffic. */
  | 'AlreadyActive'
  /** Another change (deploy, canary, rollback) is in flight for the prompt: 409 naming it. */
  | 'ChangeInFlight'
  /** A decision (approve/reject/pause/resume/abort) the workflow's validator refused: 409 saying what happened instead. */
  | 'DecisionRefused'
  /** A canary stage or promotion after the deployment was aborted (e.g. by a rollback). */
  | 'DeploymentAborted'
  | 'UnknownDeployment'
  | 'UnknownMonitor'
  /** The prompt exists but serves no version yet. */
  | 'NothingDeployed'
  /** A canary needs another version serving to compare against. */
  | 'NothingToCompare'
  /** A canary of a version that has not been in staging long enough. */
  | 'StagingGate'
  /** Abort of a deployment that is not a rolling canary. */
  | 'CannotAbort'
  /** The post-mortem of a rollback that has not ended. */
  | 'RollbackRunning'
  /** A metrics provider (e.g. Prometheus) could not answer: down, 5xx, timeout, or an answer that is not a number. */
  | 'MetricsUnavailable';

/**
 * The failure type of an activity that could not use the store (unreachable, restarting, out of connections): an
 * outage, not a verdict on the rollback. A rollback waits for the store rather than failing on it.
 */
export const STORE_UNAVAILABLE = 'StoreUnavailable';

export class DomainError extends Error {
  constructor(
    readonly type: DomainErrorType,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = type;
  }
}

export const isDomainError = (e: unknown): e is DomainError =>
  e instanceof Error && typeof (e as { type?: unknown }).type === 'string' && 'details' in e;

/** Temporal refused to start a workflow id that already runs (told by name: the client's and the workflow's classes differ). */
export const isAlreadyStarted = (e: unknown): boolean => e instanceof Error && e.name === 'WorkflowExecutionAlreadyStartedError';
