import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import type { Express } from 'express';

/** The parts of an OpenAPI 3.1 document this checker reads. */
export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components?: { schemas?: Record<string, unknown> };
}

export const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** `/api/prompts/:prompt` → `/api/prompts/{prompt}`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  name?: string;
  regexp?: RegExp;
  handle?: { stack?: Layer[] };
}

/** The prefix of a mounted router, from the regexp Express 4 keeps for it (`^\/x\/?(?=\/|$)` → `/x`). */
function mountPath(layer: Layer): string {
  const src = layer.regexp?.source ?? '';
  if (src === '^\\/?(?=\\/|$)' || src === '^\\/?$') return '';
  const m = /^\^((?:\\\/[A-Za-z0-9_.-]+)+)\\\/\?\(\?=\\\/\|\$\)$/.exec(src);
  if (!m) throw new Error(`a router is mounted at ${src}: name its path here so its routes can be compared with the document`);
  return m[1]!.replace(/\\\//g, '/');
}

/** Every `METHOD path` routed by the app (routers included), in OpenAPI's path syntax. */
export function mountedRoutes(app: Express): string[] {
  const out = new Set<string>();
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const p of paths)
          for (const [method, on] of Object.entries(layer.route.methods))
            if (on && method !== '_all') out.add(`${method.toUpperCase()} ${openApiPath(prefix + p)}`);
      } else if (layer.name === 'router' && layer.handle?.stack) {
        walk(layer.handle.stack, prefix + mountPath(layer));
      }
    }
  };
  walk((app as unknown as { _router: { stack: Layer[] } })._router.stack, '');
  return [...out].sort();
}

export function documentedRoutes(doc: OpenApiDoc): string[] {
  return Object.entries(doc.paths)
    .flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => (METHODS as readonly string[]).includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    )
    .sort();
}

/** One JSON-pointer segment, as a URI fragment carries it. */
const segment = (s: string): string => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

const mediaType = (contentType: string): string => contentType.split(';')[0]!.trim().toLowerCase();

/**
 * Checks live answers against the document: the status must be one the operation documents, the media type one it
 * lists for that status, and the body valid against that schema (JSON Schema 2020-12, as OpenAPI 3.1 uses).
 */
export class Conformance {
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  /** `METHOD path status` of every answer checked. */
  readonly seen = new Set<string>();

  constructor(readonly doc: OpenApiDoc) {
    this.ajv = new Ajv2020({
      strict: false,
      allErrors: true,
      formats: {
        uri: (s: string) => URL.canParse(s),
        'date-time': (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\dT/.test(s),
      },
    });
    this.ajv.addSchema(doc, 'openapi.json');
  }

  /** Throws, saying what differs, unless the answer is one the document describes. */
  check(method: string, path: string, reply: { status: number; type: string; body: unknown }): void {
    const op = this.doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${path} is not in the OpenAPI document`);
    const response = op.responses[String(reply.status)];
    if (!response) {
      throw new Error(
        `${method} ${path} answered ${reply.status}, which the document does not list (${Object.keys(op.responses).join(', ')}): ${JSON.stringify(reply.body).slice(0, 300)}`,
      );
    }
    this.seen.add(`${method.toUpperCase()} ${path} ${reply.status}`);
    if (!response.content) return;
    const type = mediaType(reply.type);
    if (!response.content[type]) {
      throw new Error(`${method} ${path} ${reply.status} answered ${type}; the document lists ${Object.keys(response.content).join(', ')}`);
    }
    const pointer = `#/${['paths', path, method.toLowerCase(), 'responses', String(reply.status), 'content', type, 'schema'].map(segment).join('/')}`;
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `openapi.json${pointer}` });
      this.validators.set(pointer, validate);
    }
    if (!validate(reply.body)) {
      const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
      throw new Error(
        `${method} ${path} ${reply.status} does not match the document:\n  ${errors.join('\n  ')}\nbody: ${JSON.stringify(reply.body).slice(0, 2000)}`,
      );
    }
  }
}
