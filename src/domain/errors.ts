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
  | 'InvalidRequest';

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
