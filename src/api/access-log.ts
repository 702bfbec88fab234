import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** Probes and scrapes: polled every few seconds by machines, so their lines are debug, not info. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export interface AccessEntry {
  method: string;
  /** Without the query string: a resolve key may identify an end user. */
  path: string;
  status: number;
  duration_ms: number;
  /** The authenticated caller (`anonymous` with auth off); absent when the request never got that far. */
  actor?: string;
  /** The client went away before the answer was complete (or a stream it held was closed). */
  aborted?: boolean;
}

/**
 * One line per request once its answer is complete (or the client went away): method, path, status, duration,
 * actor. Info level, except probes and scrapes (debug) and server errors (warn). `level` lets the serving fast
 * path (GET …/resolve answered before Express) log its 200s at debug: that route runs thousands of times a second.
 */
export function logAccess(log: Logger, e: AccessEntry, level?: 'debug'): void {
  const lvl = level ?? (QUIET_PATHS.has(e.path) ? 'debug' : e.status >= 500 ? 'warn' : 'info');
  if (!log.isLevelEnabled(lvl)) return;
  log[lvl]({ access: e }, `${e.method} ${e.path} ${e.status} ${e.duration_ms} ms${e.actor ? ` ${e.actor}` : ''}`);
}

export const pathOf = (url: string | undefined): string => {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
};

export const elapsedMs = (startedAt: number): number => Math.round((performance.now() - startedAt) * 10) / 10;

/** The Express middleware: first in the chain, so every answer it gives is logged, errors and 404s included. */
export function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const startedAt = performance.now();
    const path = pathOf(req.originalUrl);
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const actor = req.actor;
      logAccess(log, {
        method: req.method,
        path,
        status: res.statusCode,
        duration_ms: elapsedMs(startedAt),
        ...(actor ? { actor } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
      });
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
