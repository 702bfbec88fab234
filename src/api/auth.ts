import type { NextFunction, Request, Response } from 'express';
import type { Role } from '../main/config';
import { sendProblem } from './problem';

export interface Token {
  actor: string;
  role: Role;
  token: string;
}

/** Which roles may act at each level: admin can do everything an operator can, an operator what a viewer can. */
export const GRANTS: Record<Role, readonly Role[]> = {
  viewer: ['viewer', 'operator', 'admin'],
  operator: ['operator', 'admin'],
  admin: ['admin'],
  ingest: ['ingest', 'admin'],
};

declare module 'express-serve-static-core' {
  interface Request {
    actor?: string;
  }
}

/** Bearer-token auth. With no tokens configured, auth is off and the actor is `anonymous`. */
export function authenticate(tokens: readonly Token[]) {
  const byToken = new Map(tokens.map((t) => [t.token, t]));
  return (needed: Role) =>
    (req: Request, res: Response, next: NextFunction): void => {
      if (byToken.size === 0) {
        req.actor = 'anonymous';
        return next();
      }
      const header = req.header('authorization') ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(header);
      const t = match ? byToken.get(match[1]!.trim()) : undefined;
      if (!t) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return sendProblem(res, 401, 'Unauthorized', match ? 'the bearer token is not valid' : 'send Authorization: Bearer <token>');
      }
      if (!GRANTS[needed].includes(t.role)) {
        return sendProblem(res, 403, 'Forbidden', `role ${t.role} of ${t.actor} may not do this; it needs ${needed}`);
      }
      req.actor = t.actor;
      next();
    };
}
