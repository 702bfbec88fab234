import express from 'express';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { openApiDocument } from '../../src/api/openapi';
import type { PromptbackService } from '../../src/api/service';
import type { LiveFeed } from '../../src/api/live';
import type { PromptWatch } from '../../src/api/watch';
import { createLogger } from '../../src/main/logger';
import { documentedRoutes, mountedRoutes, type OpenApiDoc } from '../support/openapi';

/** The app with every optional route mounted; its use cases are never called here. */
const fullApp = () =>
  createApp({
    service: {} as PromptbackService,
    log: createLogger('silent', 'promptback-test'),
    tokens: [],
    watch: {} as PromptWatch,
    live: {} as LiveFeed,
    slack: { signingSecret: 'x', users: {} },
  });

describe('routes of the Express app against the OpenAPI document', () => {
  it('every mounted route is documented, and every documented route is mounted', () => {
    const mounted = mountedRoutes(fullApp());
    const documented = documentedRoutes(openApiDocument() as unknown as OpenApiDoc);
    expect(
      mounted.filter((r) => !documented.includes(r)),
      'mounted but missing from src/api/openapi.ts',
    ).toEqual([]);
    expect(
      documented.filter((r) => !mounted.includes(r)),
      'documented but not mounted',
    ).toEqual([]);
  });

  it('a route added without its documentation is caught, also inside a mounted router', () => {
    const app = fullApp();
    const router = express.Router();
    router.get('/things/:id', (_req, res) => void res.end());
    app.use('/api/extra', router);
    app.post('/api/undocumented/:name', (_req, res) => void res.end());
    const documented = documentedRoutes(openApiDocument() as unknown as OpenApiDoc);
    expect(mountedRoutes(app).filter((r) => !documented.includes(r))).toEqual([
      'GET /api/extra/things/{id}',
      'POST /api/undocumented/{name}',
    ]);
  });
});
