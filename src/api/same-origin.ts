import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem';

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
};

/**
 * Refuses state changes a browser sends on behalf of another site (CSRF): bodies are parsed as JSON whatever
 * their Content-Type, so a plain HTML form or a "simple" fetch from any page could otherwise post a rollback.
 * Browsers say where a request comes from (`Origin`, `Sec-Fetch-Site`); curl and scripts send neither and are
 * unaffected. The API's own origin is PUBLIC_URL's or the Host the request was sent to.
 */
export function sameOriginMutations(publicUrl: string | undefined) {
  const own = publicUrl ? hostOf(publicUrl) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!MUTATIONS.has(req.method)) return next();
    const site = req.header('sec-fetch-site')?.toLowerCase();
    if (site === 'cross-site') {
      return sendProblem(
        res,
        403,
        'Cross-site request refused',
        'Sec-Fetch-Site: cross-site: changes are not accepted from pages on other sites',
      );
    }
    const origin = req.header('origin');
    if (origin === undefined) return next();
    const from = hostOf(origin);
    const host = req.header('host')?.toLowerCase();
    if (from !== undefined && (from === own || from === host)) return next();
    sendProblem(
      res,
      403,
      'Cross-site request refused',
      `Origin ${JSON.stringify(origin)} is not this API's own origin${own ? ` (${own})` : ''}: changes are not accepted from pages on other sites`,
    );
  };
}
