import type { ErrorRequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { isDomainError, type DomainErrorType } from '../domain/errors';
import { BatchRefused, type RefusalBody } from '../ports/metrics';

export interface FieldError {
  field: string;
  message: string;
}

/** An HTTP problem (RFC 9457) a route or the service throws; rendered as application/problem+json. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

const DOMAIN_STATUS: Record<DomainErrorType, [number, string]> = {
  UnknownPrompt: [404, 'Unknown prompt'],
  UnknownVersion: [404, 'Unknown version'],
  UnknownRollback: [404, 'Unknown rollback'],
  VersionExists: [409, 'Version already exists'],
  RollbackInFlight: [409, 'A rollback is already in flight'],
  NotAwaitingApproval: [409, 'Not awaiting approval'],
  NoKnownGoodVersion: [409, 'No known-good version'],
  InvalidRequest: [400, 'Invalid request'],
  EngineUnavailable: [503, 'Workflow engine unavailable'],
  AlreadyActive: [409, 'Already active'],
  ChangeInFlight: [409, 'A change is already in flight'],
  DecisionRefused: [409, 'Decision refused'],
  DeploymentAborted: [409, 'Deployment aborted'],
  MetricsUnavailable: [503, 'Metrics provider unavailable'],
  UnknownDeployment: [404, 'Unknown deployment'],
  UnknownMonitor: [404, 'Unknown monitor'],
  NothingDeployed: [404, 'Nothing deployed'],
  NothingToCompare: [409, 'Nothing to compare against'],
  StagingGate: [409, 'Staging gate'],
  CannotAbort: [409, 'Cannot abort'],
  RollbackRunning: [409, 'Rollback still running'],
};

const slug = (title: string): string => `https://promptback.dev/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;

/** Extra members never override the RFC 9457 ones (`status` is always the HTTP status). */
export function sendProblem(res: Response, status: number, title: string, detail: string, extra: Record<string, unknown> = {}): void {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ ...extra, type: slug(title), title, status, detail }));
}

const fieldPath = (path: (string | number)[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') || '(body)';

export const zodFieldErrors = (e: ZodError): FieldError[] => e.issues.map((i) => ({ field: fieldPath(i.path), message: i.message }));

/** A problem+json answer's members: what a route, the service or the ingest thread answers for a refusal. */
export type ProblemBody = RefusalBody;

/** The answer for an expected refusal (a Problem, invalid input, a domain error); undefined for anything else. */
export function problemOf(err: unknown): ProblemBody | undefined {
  if (err instanceof Problem) return { status: err.status, title: err.title, detail: err.detail, extra: err.extra };
  if (err instanceof BatchRefused) return err.problem;
  if (err instanceof ZodError) {
    const errors = zodFieldErrors(err);
    return { status: 400, title: 'Invalid request', detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '), extra: { errors } };
  }
  if (isDomainError(err)) {
    const [status, title] = DOMAIN_STATUS[err.type];
    return { status, title, detail: err.message, extra: err.details };
  }
  return undefined;
}

/** Seconds a client is asked to wait before retrying a request refused by an outage (Retry-After). */
export const OUTAGE_RETRY_AFTER_S = 5;

/**
 * Maps everything thrown by a route to problem+json; only unexpected failures are 5xx. `outage` says why an error means
 * a dependency (the store) cannot be used now: answered 503 with Retry-After, and logged at most once a second.
 */
export function problemHandler(
  log: { error(obj: unknown, msg: string): void; warn(obj: unknown, msg: string): void },
  outage?: (err: unknown) => string | undefined,
): ErrorRequestHandler {
  let lastOutageLog = 0;
  return (err: unknown, _req, res, _next) => {
    const p = problemOf(err);
    if (p) return sendProblem(res, p.status, p.title, p.detail, p.extra);
    const why = outage?.(err);
    if (why !== undefined) {
      if (Date.now() - lastOutageLog >= 1000) {
        lastOutageLog = Date.now();
        log.warn({ err }, `store unavailable: ${why}`);
      }
      res.set('Retry-After', String(OUTAGE_RETRY_AFTER_S));
      return sendProblem(res, 503, 'Store unavailable', `${why}; try again in a few seconds`);
    }
    const bodyErr = err as { type?: string; status?: number; limit?: number };
    if (bodyErr.type === 'entity.parse.failed') {
      return sendProblem(res, 400, 'Malformed JSON', `the request body is not valid JSON: ${(err as Error).message}`);
    }
    if (bodyErr.type === 'entity.too.large') {
      return sendProblem(res, 413, 'Body too large', `the request body exceeds ${bodyErr.limit ?? 1048576} bytes (1 MiB)`);
    }
    if (typeof bodyErr.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500) {
      return sendProblem(res, bodyErr.status, 'Bad request', (err as Error).message);
    }
    log.error({ err }, 'unhandled error');
    return sendProblem(res, 500, 'Internal error', 'an unexpected error occurred; it has been logged');
  };
}
