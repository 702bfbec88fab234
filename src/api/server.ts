import http from 'node:http';
import type { Express } from 'express';
import { PROMPT_NAME } from '../domain/names';
import { isDomainError } from '../domain/errors';
import { GRANTS, type Token } from './auth';
import { Problem } from './problem';
import type { PromptbackService } from './service';

const RESOLVE = /^\/api\/prompts\/([^/?#]+)\/resolve(?:\?(.*))?$/;

function problem(res: http.ServerResponse, status: number, title: string, detail: string): void {
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: `https://promptback.dev/problems/${slug}`, title, status, detail }));
}

/**
 * The HTTP server: `GET /api/prompts/{p}/resolve` — the serving hot path — is answered before Express (same
 * auth, same JSON, same problem+json errors as the Express route it shadows), everything else goes to the app.
 * Express's per-request work was most of resolve's cost (measured in bench/resolve).
 */
export function createServer(app: Express, service: PromptbackService, tokens: readonly Token[]): http.Server {
  const byToken = new Map(tokens.map((t) => [t.token, t]));
  return http.createServer((req, res) => {
    const m = req.method === 'GET' && req.url ? RESOLVE.exec(req.url) : null;
    if (!m) {
      app(req, res);
      return;
    }
    if (byToken.size > 0) {
      const t = byToken.get(/^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '');
      if (!t) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return problem(res, 401, 'Unauthorized', 'send Authorization: Bearer <token>');
      }
      if (!GRANTS.viewer.includes(t.role))
        return problem(res, 403, 'Forbidden', `role ${t.role} of ${t.actor} may not do this; it needs viewer`);
    }
    let prompt: string;
    try {
      prompt = decodeURIComponent(m[1]!);
    } catch {
      return problem(res, 400, 'Invalid request', 'prompt: not a valid URL-encoded name');
    }
    if (!PROMPT_NAME.test(prompt)) return problem(res, 400, 'Invalid request', 'prompt: must be 1–128 of [A-Za-z0-9._-]');
    const key = new URLSearchParams(m[2] ?? '').get('key');
    if (!key || key.length > 1024) return problem(res, 400, 'Invalid request', 'key: required, 1–1024 characters');
    service.resolve(prompt, key).then(
      (r) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(r));
      },
      (e: unknown) => {
        if (e instanceof Problem) return problem(res, e.status, e.title, e.detail);
        if (isDomainError(e)) return problem(res, 404, 'Unknown prompt', e.message);
        problem(res, 500, 'Internal error', 'an unexpected error occurred');
      },
    );
  });
}
