import path from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Registry } from '../ports/registry';
import type { Token } from './auth';
import { authenticate } from './auth';
import type { LiveDigest, LiveFeed } from './live';
import { Problem } from './problem';
import { MAX_SERIES_POINTS, promptName, seriesQuery } from './schemas';
import type { PromptbackService } from './service';

/** The page and its modules: plain files, no build step. */
const PAGE_DIR = path.join(__dirname, 'dashboard');
/** uPlot's own distribution files, served from node_modules (no CDN). */
const UPLOT_DIR = path.dirname(require.resolve('uplot/dist/uPlot.esm.js'));

/** The page talks to this origin only; data reaches it as text, never as markup. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot positions its legend and cursor with inline styles.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export interface DashboardDeps {
  service: PromptbackService;
  tokens: readonly Token[];
  /** Serves GET /api/events; without it the page still works, reloading on its own. */
  live?: LiveFeed;
}

const route =
  (h: (req: Request, res: Response) => Promise<void> | void): RequestHandler =>
  (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => h(req, res))
      .catch(next);
  };

/**
 * The web dashboard at `GET /` and what only it needs: `GET /api/events` (server-sent events naming what changed)
 * and `GET /api/prompts/{prompt}/metrics/series` (the chart around a switch). The page is public (it holds no
 * data); every call it makes is authenticated like any other client's.
 */
export function dashboardRoutes(deps: DashboardDeps): express.Router {
  const router = express.Router();
  const auth = authenticate(deps.tokens);
  const page = (_req: Request, res: Response): void => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(path.join(PAGE_DIR, 'index.html'));
  };
  router.get('/', page);
  router.use('/ui', express.static(PAGE_DIR, { index: false, fallthrough: true, maxAge: 0 }));
  router.use('/ui/vendor/uplot', express.static(UPLOT_DIR, { index: false, fallthrough: true, maxAge: '1h' }));

  const live = deps.live;
  if (live) {
    router.get(
      '/api/events',
      auth('viewer'),
      route((req, res) => live.serve(req, res)),
    );
  }

  router.get(
    '/api/prompts/:prompt/metrics/series',
    auth('viewer'),
    route(async (req, res) => {
      const prompt = promptName.safeParse(req.params.prompt);
      if (!prompt.success)
        throw new Problem(400, 'Invalid request', 'prompt: invalid name', { errors: [{ field: 'prompt', message: 'invalid name' }] });
      const q = seriesQuery.parse(req.query);
      const to = q.to ? new Date(q.to) : new Date();
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - 30 * 60_000);
      const field = (f: string, message: string) =>
        new Problem(400, 'Invalid request', `${f}: ${message}`, { errors: [{ field: f, message }] });
      if (from.getTime() >= to.getTime()) throw field('from', 'must be before to');
      if ((to.getTime() - from.getTime()) / (q.step_s * 1000) > MAX_SERIES_POINTS)
        throw field('step_s', `the range holds more than ${MAX_SERIES_POINTS} steps of ${q.step_s} s; use a larger step_s`);
      res.json(await deps.service.metricsSeries(prompt.data, from, to, q.step_s, q.version));
    }),
  );
  return router;
}

/** What GET /api/events compares: every prompt's serving state, the latest rollbacks, every monitor's last check. */
export async function dashboardDigest(service: PromptbackService, registry: Pick<Registry, 'getTraffic'>): Promise<LiveDigest> {
  const [prompts, rollbacks, monitors] = await Promise.all([
    service.listPrompts(),
    service.listRollbacks({ limit: 100 }),
    service.listMonitors(),
  ]);
  const digest: LiveDigest = { prompts: {}, rollbacks: {}, monitors: {} };
  await Promise.all(
    prompts.map(async (p) => {
      digest.prompts[p.name] = JSON.stringify([p.active_version, p.monitored, p.open_rollback_id, await registry.getTraffic(p.name)]);
    }),
  );
  for (const r of rollbacks) digest.rollbacks[r.rollback_id] = `${r.status}|${r.updated_at}|${r.timeline.length}`;
  for (const m of monitors)
    digest.monitors[m.prompt] = JSON.stringify([m.status, m.checks, m.last_check_at, m.last_action, m.last_verdict?.kind ?? null]);
  return digest;
}
