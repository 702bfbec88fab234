import http from 'node:http';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { PROMPT_NAME } from '../domain/names';
import { elapsedMs, logAccess, pathOf } from './access-log';
import { GRANTS, type Token } from './auth';
import type { PromptbackService } from './service';

/** Exactly `GET /api/prompts/{p}/resolve?key=K`; other parameters, a trailing slash, other cases go to Express. */
const RESOLVE = /^\/api\/prompts\/([^/?#%]+)\/resolve\?key=([^&]+)$/;
const BEARER = /^Bearer\s+(.+)$/i;

/** The query value as Express's parser (qs) reads it; undefined when only Express should judge it (bad escapes). */
function decodeKey(raw: string): string | undefined {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

export interface ServerOptions {
  /** Records a fast-path answer's duration (the Express routes record their own). */
  observe?: (seconds: number) => void;
  /** Access lines for fast-path answers (debug: the serving hot path); Express logs every other request. */
  log?: Logger;
}

/**
 * The HTTP server. `GET /api/prompts/{p}/resolve` — the serving hot path — is answered before Express when it can
 * be answered with 200: a well-formed request, authorized as a viewer, for a prompt with a deployed version. Every
 * other request, including every error of this route (401/403, 400, 404, a store failure), goes to the Express app,
 * so the errors, their problem+json and their logging stay in one place.
 *
 * Why: Express's per-request work (middleware chain, body parser, router, res.json) cost about as much CPU again as
 * the whole answer from memory (bench/resolve measures both). The JSON body is built once per answer: the route's
 * answers are frozen objects that live as long as the split, so a WeakMap keyed on them empties itself as routes go.
 */
export function createServer(app: Express, service: PromptbackService, tokens: readonly Token[], opts: ServerOptions = {}): http.Server {
  const byToken = new Map(tokens.map((t) => [t.token, t]));
  const bodies = new WeakMap<object, { body: string; length: string }>();
  const actorOf = (req: http.IncomingMessage): string =>
    byToken.size === 0 ? 'anonymous' : (byToken.get(BEARER.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '')?.actor ?? 'unknown');
  const isViewer = (req: http.IncomingMessage): boolean => {
    if (byToken.size === 0) return true;
    const t = byToken.get(BEARER.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '');
    return t !== undefined && GRANTS.viewer.includes(t.role);
  };

  return http.createServer((req, res) => {
    const m = req.method === 'GET' && req.url !== undefined ? RESOLVE.exec(req.url) : null;
    const prompt = m?.[1];
    const key = m ? decodeKey(m[2]!) : undefined;
    if (prompt === undefined || key === undefined || key.length > 1024 || !PROMPT_NAME.test(prompt) || !isViewer(req)) {
      app(req, res);
      return;
    }
    const started = performance.now();
    service.resolve(prompt, key).then(
      (answer) => {
        let cached = bodies.get(answer);
        if (cached === undefined) {
          const body = JSON.stringify(answer);
          cached = { body, length: String(Buffer.byteLength(body)) };
          bodies.set(answer, cached);
        }
        res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', cached.length]);
        res.end(cached.body);
        opts.observe?.((performance.now() - started) / 1000);
        if (opts.log?.isLevelEnabled('debug'))
          logAccess(
            opts.log,
            { method: 'GET', path: pathOf(req.url), status: 200, duration_ms: elapsedMs(started), actor: actorOf(req) },
            'debug',
          );
      },
      // Unknown prompt, nothing deployed, the store failing: Express answers it the one way it answers everything.
      () => {
        app(req, res);
      },
    );
  });
}
