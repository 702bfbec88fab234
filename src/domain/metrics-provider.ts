/**
 * Where a prompt's metrics live, as in Argo Rollouts' metric providers: promptback's own ingest (`builtin`, the
 * default) or the team's Prometheus, read with one PromQL template per measure.
 */
export type MetricsProviderKind = 'builtin' | 'prometheus';

/** PromQL templates; `{{prompt}}`, `{{version}}` and `{{window}}` (e.g. `300s`) are substituted before a query runs. */
export interface PrometheusQueries {
  requests: string;
  errors: string;
  latency_p99_ms: string;
  latency_p50_ms?: string;
  latency_p95_ms?: string;
  /** 0..1. */
  quality_mean?: string;
  /** How many requests carried a quality score; without it, every request in the window is taken as scored. */
  quality_samples?: string;
}

export type PromptMetrics = { provider: 'builtin' } | { provider: 'prometheus'; queries: PrometheusQueries };

export const BUILTIN_METRICS: PromptMetrics = Object.freeze({ provider: 'builtin' });

export const TEMPLATE_VARIABLES = ['prompt', 'version', 'window'] as const;

/** PromQL duration of a window, e.g. `300s`. */
export const promDuration = (window_s: number): string => `${Math.max(1, Math.round(window_s))}s`;

/**
 * Label values are double-quoted strings in PromQL: a prompt or version name (validated as [A-Za-z0-9._-]) needs no
 * escaping, but escaping keeps a query well-formed whatever the name.
 */
const quoteSafe = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export function renderQuery(template: string, vars: { prompt: string; version: string; window_s: number }): string {
  return template.replace(/\{\{\s*(prompt|version|window)\s*\}\}/g, (_m, name: string) =>
    name === 'window' ? promDuration(vars.window_s) : quoteSafe(name === 'prompt' ? vars.prompt : vars.version),
  );
}

/**
 * Problems of a template that can be seen without asking Prometheus: unknown `{{variables}}`, no `{{version}}`
 * (the active version and its baseline would read the same numbers), unbalanced brackets or quotes.
 */
export function templateProblems(template: string): string[] {
  const problems: string[] = [];
  for (const m of template.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(m[1]!))
      problems.push(`unknown variable {{${m[1]}}}; use ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`);
  }
  if (!/\{\{\s*version\s*\}\}/.test(template)) problems.push('must use {{version}}, or every version would read the same numbers');
  // Brackets outside string literals must nest; the {{…}} placeholders are taken out first.
  const body = template.replace(/\{\{\s*[^}]*?\s*\}\}/g, 'x');
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  let quote: string | undefined;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') stack.push(c);
    else if (c in pairs) {
      if (stack.pop() !== pairs[c]) {
        problems.push(`unbalanced "${c}"`);
        return problems;
      }
    }
  }
  if (quote) problems.push(`unterminated ${quote} string`);
  else if (stack.length > 0) problems.push(`unclosed "${stack[stack.length - 1]}"`);
  return problems;
}
