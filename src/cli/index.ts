/**
 * `promptback`: the command-line client of the HTTP API (see docs/api.md). It speaks HTTP only, so it works
 * against any running promptback. Human-readable output by default; `--json` prints the API's JSON as is.
 * The one non-JSON answer, a post-mortem's Markdown, is printed verbatim (with `--json`, as a JSON string).
 * Exit codes: 0 ok, 1 the API said no (or a `rollback --wait` did not complete), 2 the API could not be reached.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ROLLBACK_STATUSES, TERMINAL_STATUSES, type RollbackView, type TimelineEntry } from '../domain/rollback';
import type { StageProgress } from '../domain/stages';
import type { Verdict, WindowStats } from '../domain/verdict';

/** Where the CLI writes and how it exits; replaced in tests. `out`/`err` receive text with its newlines. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  exit: (code: number) => void;
}

const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  // Setting exitCode (not process.exit) lets stdout drain before the process ends.
  exit: (code) => {
    process.exitCode = code;
  },
};

const DEFAULT_URL = 'http://localhost:8000';
const REQUEST_TIMEOUT_MS = 30_000;
const POLL_MS = 1_000;
/** `rollback --wait` tolerates this many consecutive failed polls (API restarting, network blip). */
const MAX_POLL_FAILURES = 10;

/** A non-2xx answer; the API sends application/problem+json. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: { field: string; message: string }[],
  ) {
    super(`${title} (${status}): ${detail}`);
  }
}

/** The API could not be reached at all (refused, DNS, timeout, reset). */
class ConnectionError extends Error {}

/** Bad command-line input that commander cannot check by itself. */
class UsageError extends Error {}

/**
 * One API call. A JSON answer comes back parsed; any other content type (the post-mortem is text/markdown)
 * comes back as the text it is. A non-2xx answer throws an ApiError read from its problem+json.
 */
type Api = <T = unknown>(method: string, path: string, body?: unknown) => Promise<T>;

/** JSON, problem+json, any `+json`; a missing content type is treated as JSON too (and falls back to text). */
const isJsonType = (type: string): boolean => type === '' || /^application\/([\w.-]+\+)?json\b/i.test(type.trim());

function connect(url: string, token: string | undefined): Api {
  const base = url.replace(/\/+$/, '');
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let status: number;
    let statusText: string;
    let type: string;
    let text: string;
    try {
      const res = await fetch(base + path, {
        method,
        headers: {
          accept: 'application/json, application/problem+json, text/markdown;q=0.9, text/*;q=0.5',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      ({ status, statusText } = res);
      type = res.headers.get('content-type') ?? '';
      text = await res.text();
    } catch (e) {
      throw new ConnectionError(unreachable(base, e));
    }
    if (status < 200 || status >= 300) throw toApiError(status, statusText, parseJson(text), text);
    return (isJsonType(type) ? parseJson(text) : text) as T;
  };
}

function unreachable(base: string, e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `the promptback API at ${base} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const why = err.cause?.code === 'ECONNREFUSED' ? 'connection refused' : (err.cause?.code ?? err.cause?.message ?? err.message);
  return (
    `cannot reach the promptback API at ${base} (${why}).\n` +
    `Is it running? Start it with \`npm start\`, or point --url / PROMPTBACK_URL at the right address.`
  );
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function toApiError(status: number, statusText: string, data: unknown, text: string): ApiError {
  const p = (typeof data === 'object' && data !== null ? data : {}) as { title?: unknown; detail?: unknown; errors?: unknown };
  const title = typeof p.title === 'string' ? p.title : statusText || 'HTTP error';
  const detail = typeof p.detail === 'string' ? p.detail : text.trim().slice(0, 500) || '(no detail)';
  const errors = (Array.isArray(p.errors) ? (p.errors as { field?: unknown; message?: unknown }[]) : []).map((e) => ({
    field: typeof e.field === 'string' ? e.field : '(body)',
    message: typeof e.message === 'string' ? e.message : JSON.stringify(e.message ?? ''),
  }));
  return new ApiError(status, title, detail, errors);
}

/** What an action gets: the API, and output that honours `--json`. */
interface Ctx {
  api: Api;
  json: boolean;
  print: (line: string) => void;
  /** Writes `text` exactly as given (no newline added). */
  write: (text: string) => void;
  warn: (line: string) => void;
  /** Prints `data` as JSON with `--json`, else runs `human`. */
  emit: (data: unknown, human: () => void) => void;
}

/** Runs one action: builds the client from the global options, reports errors, sets the exit code. */
async function run(io: Io, cmd: Command, action: (c: Ctx) => Promise<number | void>): Promise<void> {
  const g = cmd.optsWithGlobals<{ url: string; token?: string; json?: boolean }>();
  const json = g.json === true;
  const print = (line: string): void => io.out(`${line}\n`);
  const ctx: Ctx = {
    api: connect(g.url, g.token),
    json,
    print,
    write: io.out,
    warn: (line) => io.err(`${line}\n`),
    emit: (data, human) => (json ? print(JSON.stringify(data, null, 2)) : human()),
  };
  try {
    const code = await action(ctx);
    if (code) io.exit(code);
  } catch (e) {
    if (e instanceof ApiError) {
      io.err(`error: ${e.title} (${e.status}): ${e.detail}\n`);
      for (const f of e.errors) io.err(`  ${f.field}: ${f.message}\n`);
      io.exit(1);
    } else if (e instanceof ConnectionError) {
      io.err(`error: ${e.message}\n`);
      io.exit(2);
    } else {
      io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      io.exit(1);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

const enc = encodeURIComponent;

const query = (params: Record<string, string | number | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

/** Any JSON value as text; objects as JSON. */
const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? 'null';
};

const cell = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : text(v));

/** Left-aligned columns, two spaces apart. */
function table(header: string[], rows: unknown[][]): string {
  const cells = [header, ...rows.map((r) => r.map(cell))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** `label  value` lines, skipping empty values. */
function fields(pairs: [string, unknown][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join('\n');
}

/** `2025-11-25 21:54:03` (UTC) from an ISO time. */
const when = (iso: unknown): string => {
  if (typeof iso !== 'string') return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 19).replace('T', ' ');
};

/** `21:54:03` (UTC) from an ISO time. */
const clock = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(11, 19);
};

/** A timeline detail value: bare when unambiguous, else JSON (quoted strings, objects). */
const value = (v: unknown): string => {
  if (typeof v !== 'string') return text(v);
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
};

/** `HH:MM:SS event key=value …` (UTC). */
export function timelineLine(e: TimelineEntry): string {
  const detail = typeof e.detail === 'object' && e.detail !== null ? Object.entries(e.detail) : [];
  return [clock(e.at), e.event, ...detail.map(([k, v]) => `${k}=${value(v)}`)].join(' ');
}

/** `1h 5m`, `4m 12s`, `9s` from whole seconds. */
const duration = (s: number): string => {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
};

/** `4m 12s left` / `overdue 1m 3s` from an ISO deadline, against the local clock. */
const timeLeft = (iso: unknown, now: number = Date.now()): string => {
  const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
  if (Number.isNaN(t)) return '-';
  const s = Math.round((t - now) / 1000);
  return s >= 0 ? `${duration(s)} left` : `overdue ${duration(-s)}`;
};

/** `next_step` with its time, if it has one. */
const nextStep = (p: { next_step: string; next_at?: string }): string =>
  p.next_at ? `${p.next_step} (at ${when(p.next_at)})` : p.next_step;

/** A gradual rollback's progress as `fields` pairs: the stage, the share left on the version rolled back from, the next step. */
const gradualFields = (g: StageProgress, from: string | null, indent = ''): [string, unknown][] => [
  [
    `${indent}gradual`,
    `stage ${g.stage + 1}/${g.of}: ${g.percent}% of traffic left on ${cell(from)}` +
      (g.paused ? ` (paused${g.paused_reason ? `: ${g.paused_reason}` : ''})` : ''),
  ],
  [`${indent}next`, nextStep(g)],
];

const percent = (r: unknown): string => (typeof r === 'number' ? `${(r * 100).toFixed(2)}%` : '-');
const ms = (n: unknown): string => (typeof n === 'number' ? `${Math.round(n)}ms` : '-');
const fixed = (n: unknown, digits: number): string => (typeof n === 'number' ? n.toFixed(digits) : '-');

// ---------------------------------------------------------------------------------------------------------
// Response shapes the human output reads (the JSON mode prints whatever the API sent).

interface PromptRow {
  name: string;
  active_version: string | null;
  monitored: boolean;
  open_rollback_id: string | null;
}
interface PromptDetail extends PromptRow {
  description?: string | null;
  owner?: string | null;
  traffic: { version: string; percent: number }[];
  versions: { version: string; created_at: string; deployed_at: string | null; state: string; known_good: boolean }[];
  related: string[];
}
type Window = WindowStats & { version?: string | null };
interface StartedRollback {
  rollback_id: string;
  status: string;
  status_url?: string;
  web_ui_url?: string;
}

interface Approval {
  rollback_id: string;
  prompt: string;
  status: string;
  severity: string;
  reason?: string;
  deadline: string | null;
  default_action: string | null;
  tier: number;
}
interface MonitorView {
  prompt: string;
  workflow_id: string;
  status: string;
  interval_s: number;
  started_by?: string;
  started_at?: string;
  stopped_by?: string | null;
  last_check_at: string | null;
  active_version?: string | null;
  last_verdict: Verdict | null;
  last_action: string | null;
  checks: number;
  open_rollback_id: string | null;
  open_incident_url?: string | null;
  web_ui_url?: string | null;
  /** `POST /api/monitors` only: false when it was running already. */
  created?: boolean;
}
interface DeploymentView {
  deployment_id: string;
  prompt: string;
  version: string;
  strategy: string;
  status: string;
  requested_by?: string;
  created_at?: string;
  updated_at?: string;
  from_version: string | null;
  detail?: {
    reason?: string;
    error?: string;
    /** Canary: `percent` is the share on the new version. */
    progress?: StageProgress;
    stages?: { percent: number; at: string; judgement?: { outcome: string; reason: string } }[];
  };
  status_url?: string;
  workflow_id?: string;
  monitor?: { workflow_id: string } | { error: string };
}

const windowRow = (label: string, w: Window): unknown[] => [
  label,
  w.version,
  w.requests,
  w.errors,
  percent(w.error_rate),
  ms(w.latency_ms?.p50),
  ms(w.latency_ms?.p95),
  ms(w.latency_ms?.p99),
  fixed(w.quality_mean, 3),
];

function showRollback(c: Ctx, r: RollbackView): void {
  const t = r.trigger;
  c.print(
    fields([
      ['rollback', `${r.rollback_id}  ${r.status}`],
      ['prompt', `${r.prompt}  ${cell(r.from_version)} → ${cell(r.to_version)}`],
      ['mode', r.mode],
      ['severity', r.severity],
      ['reason', r.reason],
      ['trigger', t && `${t.metric} observed ${cell(t.observed)} vs threshold ${t.threshold} over ${t.window_s}s (${t.samples} samples)`],
      ['requested', `${when(r.requested_at)} by ${r.requested_by}`],
      ['decided by', r.decided_by],
      ['deadline', r.deadline && when(r.deadline)],
      ['verification', r.verification?.result],
      ...(r.gradual ? gradualFields(r.gradual, r.from_version) : []),
    ]),
  );
  if (r.timeline.length > 0) c.print(['timeline (UTC):', ...r.timeline.map((e) => `  ${timelineLine(e)}`)].join('\n'));
}

/** Polls a rollback until it ends, printing each new timeline entry; 0 if it completed, else 1. */
async function follow(c: Ctx, id: string): Promise<number> {
  let seen = 0;
  let failures = 0;
  for (;;) {
    let r: RollbackView;
    try {
      r = await c.api<RollbackView>('GET', `/api/rollbacks/${enc(id)}`);
      failures = 0;
    } catch (e) {
      const transient = e instanceof ConnectionError || (e instanceof ApiError && e.status >= 500);
      if (!transient || ++failures > MAX_POLL_FAILURES) throw e;
      c.warn(`warning: polling rollback ${id} failed (${e.message.split('\n')[0]}); retrying`);
      await sleep(POLL_MS);
      continue;
    }
    if (!c.json) for (const e of r.timeline.slice(seen)) c.print(timelineLine(e));
    seen = Math.max(seen, r.timeline.length);
    if (TERMINAL_STATUSES.includes(r.status)) {
      // Completed without verified recovery is not success: a script waiting on it must see that.
      const unverified = r.status === 'completed' && r.outcome === 'unverified';
      c.emit(r, () =>
        c.print(
          `rollback ${r.rollback_id} ${r.status}${unverified ? ' (unverified)' : ''}: ${r.prompt} ${cell(r.from_version)} → ${cell(r.to_version)}`,
        ),
      );
      return r.status === 'completed' && !unverified ? 0 : 1;
    }
    await sleep(POLL_MS);
  }
}

function showMonitor(c: Ctx, m: MonitorView): void {
  const v = m.last_verdict;
  c.print(
    fields([
      ['monitor', `${m.prompt}  ${m.status}`],
      ['workflow', m.workflow_id],
      ['interval', `${m.interval_s}s`],
      ['active version', m.active_version],
      ['checks', m.checks],
      ['last check', m.last_check_at && when(m.last_check_at)],
      ['last verdict', v && `${v.kind}: ${v.summary}`],
      ['last action', m.last_action],
      ['open rollback', m.open_rollback_id],
      ['incident', m.open_incident_url],
      ['started', m.started_at && `${when(m.started_at)} by ${cell(m.started_by)}`],
      ['stopped by', m.stopped_by],
      ['web ui', m.web_ui_url],
    ]),
  );
}

function showDeployment(c: Ctx, d: DeploymentView): void {
  const p = d.detail?.progress;
  c.print(
    fields([
      ['deployment', `${d.deployment_id}  ${d.status}`],
      ['prompt', `${d.prompt}  ${cell(d.from_version)} → ${d.version}`],
      ['strategy', d.strategy],
      ['requested', d.created_at && `${when(d.created_at)} by ${cell(d.requested_by)}`],
      ['updated', d.updated_at && when(d.updated_at)],
      ['reason', d.detail?.reason ?? d.detail?.error],
      ['canary', p && `stage ${p.stage + 1}/${p.of}: ${p.percent}% of traffic on ${d.version}`],
      ['next', p && d.status === 'rolling_out' ? nextStep(p) : undefined],
    ]),
  );
  const stages = d.detail?.stages ?? [];
  if (stages.length > 0) {
    const rows = stages.map((s) => [`${s.percent}%`, when(s.at), s.judgement?.outcome, s.judgement?.reason]);
    c.print(`\n${table(['STAGE', 'JUDGED (UTC)', 'OUTCOME', 'REASON'], rows)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Argument parsers

const positiveInt = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
};

const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const jsonObject = (raw: string): Record<string, unknown> => {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new InvalidArgumentError(`not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError('must be a JSON object');
  return v as Record<string, unknown>;
};

/** `--template` or `--template-file` (a path, or `-` for stdin), exactly one. */
function readTemplate(o: { template?: string; templateFile?: string }): string {
  if ((o.template === undefined) === (o.templateFile === undefined)) {
    throw new UsageError('give exactly one of --template <text> or --template-file <path>');
  }
  if (o.template !== undefined) return o.template;
  const file = o.templateFile ?? '-';
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read template file ${file}: ${(e as Error).message}`);
  }
}

/** A metrics file (a path, or `-` for stdin): `{ "events": [...] }`, or a bare array of events. */
function readEvents(file: string): { events: unknown[] } {
  let raw: string;
  try {
    raw = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read metrics file ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`metrics file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (Array.isArray(v)) return { events: v };
  const events = typeof v === 'object' && v !== null ? (v as { events?: unknown }).events : undefined;
  if (!Array.isArray(events)) throw new UsageError(`metrics file ${file} must hold {"events": [...]} (or a JSON array of events)`);
  return { events };
}

// ---------------------------------------------------------------------------------------------------------
// The program

export function buildProgram(io: Io = processIo): Command {
  const program = new Command('promptback')
    .description('Keeps bad prompt versions out of production: a client of the promptback HTTP API. Times are UTC.')
    // Set before adding commands: subcommands copy these settings.
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride((e) => {
      io.exit(e.exitCode);
      throw e;
    })
    .showHelpAfterError('(add --help for usage)')
    .addOption(new Option('--url <url>', 'base URL of the promptback API').env('PROMPTBACK_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'bearer token').env('PROMPTBACK_TOKEN'))
    .option('--json', 'print the raw JSON the API answers');

  // Prompts.
  const prompts = program.command('prompts').description('list, show and register prompts');
  prompts
    .command('list')
    .description('all prompts with their active version and any open rollback')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api<{ prompts: PromptRow[] }>('GET', '/api/prompts');
        c.emit(data, () =>
          c.print(
            data.prompts.length === 0
              ? 'no prompts'
              : table(
                  ['PROMPT', 'ACTIVE', 'MONITORED', 'OPEN ROLLBACK'],
                  data.prompts.map((p) => [p.name, p.active_version, p.monitored ? 'yes' : 'no', p.open_rollback_id]),
                ),
          ),
        );
      }),
    );
  prompts
    .command('show')
    .description('a prompt: traffic, versions, related prompts')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const p = await c.api<PromptDetail>('GET', `/api/prompts/${enc(prompt)}`);
        c.emit(p, () => {
          c.print(
            fields([
              ['prompt', p.name],
              ['description', p.description],
              ['owner', p.owner],
              ['active', cell(p.active_version)],
              ['traffic', p.traffic.map((t) => `${t.version} ${t.percent}%`).join(', ')],
              ['related', p.related.join(', ')],
              ['open rollback', p.open_rollback_id],
            ]),
          );
          if (p.versions.length > 0) {
            const rows = p.versions.map((v) => [
              `${v.version === p.active_version ? '*' : ' '} ${v.version}`,
              v.state,
              v.known_good ? 'yes' : 'no',
              when(v.created_at),
              when(v.deployed_at),
            ]);
            c.print(`\n${table(['  VERSION', 'STATE', 'KNOWN GOOD', 'CREATED', 'DEPLOYED'], rows)}`);
          }
        });
      }),
    );
  prompts
    .command('put')
    .description('create or update a prompt')
    .argument('<prompt>')
    .option('--description <text>', 'what the prompt is for')
    .option('--owner <owner>', 'owning team or person')
    .option('--related <prompts>', 'comma-separated related prompts', list)
    .action((prompt: string, o: { description?: string; owner?: string; related?: string[] }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const p = await c.api<PromptRow>('PUT', `/api/prompts/${enc(prompt)}`, o);
        c.emit(p, () => c.print(`prompt ${prompt} saved (active version ${cell(p.active_version)})`));
      }),
    );

  // Versions and deploys.
  program
    .command('versions')
    .description('prompt versions')
    .command('add')
    .description('register a new version of a prompt')
    .argument('<prompt>')
    .argument('<version>')
    .option('--template <text>', 'the template text')
    .option('--template-file <path>', 'read the template from a file (- for stdin)')
    .option('--metadata <json>', 'a JSON object stored with the version', jsonObject)
    .action(
      (
        prompt: string,
        version: string,
        o: { template?: string; templateFile?: string; metadata?: Record<string, unknown> },
        cmd: Command,
      ) =>
        run(io, cmd, async (c) => {
          const body = { version, template: readTemplate(o), ...(o.metadata ? { metadata: o.metadata } : {}) };
          const v = await c.api('POST', `/api/prompts/${enc(prompt)}/versions`, body);
          c.emit(v, () => c.print(`added ${prompt} ${version}`));
        }),
    );
  program
    .command('deploy')
    .description('make a version serve traffic')
    .argument('<prompt>')
    .argument('<version>')
    .addOption(new Option('--strategy <strategy>', 'how to switch (API default: immediate)').choices(['immediate', 'canary']))
    .action((prompt: string, version: string, o: { strategy?: string }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const body = { version, ...(o.strategy ? { strategy: o.strategy } : {}) };
        const d = await c.api<Partial<DeploymentView> & { deployment_id: string }>('POST', `/api/prompts/${enc(prompt)}/deploy`, body);
        c.emit(d, () => {
          c.print(`deployment ${d.deployment_id} ${cell(d.status)}: ${prompt} ${cell(d.from_version)} → ${version} (${cell(d.strategy)})`);
          const monitor = d.monitor;
          c.print(
            fields([
              ['  status', d.status_url],
              ['  workflow', d.workflow_id],
              ['  monitor', monitor && ('error' in monitor ? monitor.error : monitor.workflow_id)],
            ]),
          );
          if (d.status === 'rolling_out') c.print(`follow it with: promptback deployments show ${d.deployment_id}`);
        });
      }),
    );
  const deployments = program.command('deployments').description('inspect and abort deployments (canary rollouts)');
  deployments
    .command('show')
    .description('one deployment: status, canary stage and judgements')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const d = await c.api<DeploymentView>('GET', `/api/deployments/${enc(id)}`);
        c.emit(d, () => showDeployment(c, d));
      }),
    );
  deployments
    .command('abort')
    .description('abort a canary rollout: all traffic goes back to the version it started from')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const d = await c.api<DeploymentView>('POST', `/api/deployments/${enc(id)}/abort`, {});
        c.emit(d, () => {
          c.print(`deployment ${d.deployment_id} ${d.status}: ${d.prompt} ${d.version}`);
          const reason = d.detail?.reason;
          if (reason) c.print(`  reason  ${reason}`);
        });
      }),
    );
  program
    .command('resolve')
    .description('which version (and template) serves a request key now')
    .argument('<prompt>')
    .requiredOption('--key <key>', 'request key (traffic splits hash it)')
    .action((prompt: string, o: { key: string }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const r = await c.api<{ version: string; template: string }>('GET', `/api/prompts/${enc(prompt)}/resolve${query({ key: o.key })}`);
        c.emit(r, () => c.print(`version ${r.version}\n\n${r.template}`));
      }),
    );

  // Rollbacks.
  program
    .command('rollback')
    .description('roll a prompt back (to its last known-good version unless --to names one)')
    .argument('<prompt>')
    .option('--to <version>', 'target version')
    .option('--reason <text>', 'why, for the timeline and the post-mortem')
    .addOption(new Option('--mode <mode>', 'how to switch (API default: immediate)').choices(['immediate', 'gradual']))
    .option('--wait', 'follow the rollback until it ends; exit 0 only if it completed')
    .action((prompt: string, o: { to?: string; reason?: string; mode?: string; wait?: boolean }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const body = {
          prompt,
          ...(o.to !== undefined ? { target_version: o.to } : {}),
          ...(o.reason !== undefined ? { reason: o.reason } : {}),
          ...(o.mode !== undefined ? { mode: o.mode } : {}),
        };
        const r = await c.api<StartedRollback>('POST', '/api/rollback', body);
        if (!(o.wait && c.json)) {
          c.emit(r, () => {
            c.print(`rollback ${r.rollback_id} ${r.status}`);
            c.print(
              fields([
                ['  status', r.status_url],
                ['  web ui', r.web_ui_url],
              ]),
            );
          });
        }
        return o.wait ? follow(c, r.rollback_id) : 0;
      }),
    );

  const rollbacks = program.command('rollbacks').description('list, inspect and decide rollbacks');
  rollbacks
    .command('list')
    .description('rollbacks, newest first')
    .option('--prompt <prompt>', 'only this prompt')
    .addOption(new Option('--status <status>', 'only this status').choices(ROLLBACK_STATUSES))
    .option('--limit <n>', 'at most n', positiveInt)
    .action((o: { prompt?: string; status?: string; limit?: number }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api<{ rollbacks: RollbackView[] }>('GET', `/api/rollbacks${query(o)}`);
        c.emit(data, () =>
          c.print(
            data.rollbacks.length === 0
              ? 'no rollbacks'
              : table(
                  ['ROLLBACK', 'PROMPT', 'FROM', 'TO', 'STATUS', 'SEVERITY', 'REQUESTED (UTC)', 'BY'],
                  data.rollbacks.map((r) => [
                    r.rollback_id,
                    r.prompt,
                    r.from_version,
                    r.to_version,
                    r.status,
                    r.severity,
                    when(r.requested_at),
                    r.requested_by,
                  ]),
                ),
          ),
        );
      }),
    );
  rollbacks
    .command('show')
    .description('one rollback with its timeline')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const r = await c.api<RollbackView>('GET', `/api/rollbacks/${enc(id)}`);
        c.emit(r, () => showRollback(c, r));
      }),
    );
  for (const [decision, done] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    rollbacks
      .command(decision)
      .description(`${decision} a rollback that is awaiting approval`)
      .argument('<id>')
      .option('--comment <text>', 'recorded with the decision')
      .action((id: string, o: { comment?: string }, cmd: Command) =>
        run(io, cmd, async (c) => {
          const r = await c.api<{ status?: string } | null>('POST', `/api/rollbacks/${enc(id)}/${decision}`, o);
          c.emit(r, () => c.print(`rollback ${id} ${done}${r?.status ? `; now ${r.status}` : ''}`));
        }),
      );
  }

  for (const [control, description] of [
    ['pause', 'pause a gradual rollback at its current stage'],
    ['resume', 'resume a paused gradual rollback'],
    ['abort', 'abort a gradual rollback: all traffic goes back to the version it was rolling back from'],
  ] as const) {
    rollbacks
      .command(control)
      .description(description)
      .argument('<id>')
      .action((id: string, _o, cmd: Command) =>
        run(io, cmd, async (c) => {
          const r = await c.api<RollbackView>('POST', `/api/rollbacks/${enc(id)}/${control}`, {});
          c.emit(r, () => {
            c.print(`rollback ${r.rollback_id} ${r.status}: ${r.prompt} ${cell(r.from_version)} → ${cell(r.to_version)}`);
            if (r.gradual) c.print(fields(gradualFields(r.gradual, r.from_version, '  ')));
          });
        }),
      );
  }
  rollbacks
    .command('postmortem')
    .description('the post-mortem of a rollback, as Markdown')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const md = await c.api<unknown>('GET', `/api/rollbacks/${enc(id)}/postmortem`);
        // The API answers text/markdown; `--json` prints it as a JSON string.
        const doc = typeof md === 'string' ? md : text(md);
        c.emit(doc, () => c.write(doc.endsWith('\n') ? doc : `${doc}\n`));
      }),
    );

  program
    .command('approvals')
    .description('rollbacks waiting for a decision, their deadlines and what happens at the deadline')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api<{ approvals: Approval[] }>('GET', '/api/approvals');
        c.emit(data, () => {
          if (data.approvals.length === 0) return c.print('no pending approvals');
          const now = Date.now();
          c.print(
            table(
              ['ROLLBACK', 'PROMPT', 'SEVERITY', 'STATUS', 'DEADLINE (UTC)', 'LEFT', 'TIER', 'AT DEADLINE'],
              data.approvals.map((a) => [
                a.rollback_id,
                a.prompt,
                a.severity,
                a.status,
                when(a.deadline),
                timeLeft(a.deadline, now),
                a.tier,
                a.default_action,
              ]),
            ),
          );
          c.print('\ndecide with: promptback rollbacks approve|reject <rollback> [--comment <text>]');
        });
      }),
    );

  // Monitors.
  const monitors = program.command('monitors').description('start, stop and inspect the monitors that watch prompts');
  monitors
    .command('list')
    .description('all monitors with their last check')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api<{ monitors: MonitorView[] }>('GET', '/api/monitors');
        c.emit(data, () =>
          c.print(
            data.monitors.length === 0
              ? 'no monitors'
              : table(
                  ['PROMPT', 'STATUS', 'INTERVAL', 'CHECKS', 'LAST CHECK (UTC)', 'LAST ACTION', 'OPEN ROLLBACK', 'LAST VERDICT'],
                  data.monitors.map((m) => [
                    m.prompt,
                    m.status,
                    `${m.interval_s}s`,
                    m.checks,
                    when(m.last_check_at),
                    m.last_action,
                    m.open_rollback_id,
                    m.last_verdict && `${m.last_verdict.kind}: ${m.last_verdict.summary}`,
                  ]),
                ),
          ),
        );
      }),
    );
  monitors
    .command('show')
    .description('one monitor: its last check, verdict and open incident')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const m = await c.api<MonitorView>('GET', `/api/monitors/${enc(prompt)}`);
        c.emit(m, () => showMonitor(c, m));
      }),
    );
  monitors
    .command('start')
    .description('start watching a prompt (a no-op if its monitor runs already)')
    .argument('<prompt>')
    .option('--interval <seconds>', 'seconds between checks (API default applies if omitted)', positiveInt)
    .action((prompt: string, o: { interval?: number }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const body = { prompt, ...(o.interval !== undefined ? { interval_s: o.interval } : {}) };
        const m = await c.api<MonitorView>('POST', '/api/monitors', body);
        c.emit(m, () =>
          c.print(
            `monitor ${prompt} ${m.created === false ? 'already running' : 'started'}: ${m.workflow_id}, every ${cell(m.interval_s)}s`,
          ),
        );
      }),
    );
  monitors
    .command('stop')
    .description('stop watching a prompt')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const m = await c.api<MonitorView | null>('DELETE', `/api/monitors/${enc(prompt)}`);
        c.emit(m, () => c.print(`monitor ${prompt} ${m?.status ?? 'stopping'}`));
      }),
    );

  // Metrics.
  const metrics = program
    .command('metrics')
    .description('a prompt version’s traffic over a window, next to its baseline (last known-good version)')
    .argument('<prompt>')
    .option('--version <version>', 'version (default: the active one)')
    .option('--window <seconds>', 'window length in seconds', positiveInt, 300)
    .action((prompt: string, o: { version?: string; window: number }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const path = `/api/prompts/${enc(prompt)}/metrics${query({ version: o.version, window_s: o.window })}`;
        const m = await c.api<Window & { baseline: Window | null }>('GET', path);
        c.emit(m, () => {
          const rows = [windowRow('current', m), ...(m.baseline ? [windowRow('baseline', m.baseline)] : [])];
          c.print(`${prompt}, last ${o.window}s`);
          c.print(table(['', 'VERSION', 'REQUESTS', 'ERRORS', 'ERROR RATE', 'P50', 'P95', 'P99', 'QUALITY'], rows));
          if (m.requests === 0) c.print('no requests in the window: inconclusive');
        });
      }),
    );
  metrics
    .command('ingest')
    .description('send metric events from a JSON file ({"events": [...]}, - for stdin)')
    .argument('<file>')
    .action((file: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const body = readEvents(file);
        const r = await c.api<{ accepted: number }>('POST', '/api/metrics', body);
        c.emit(r, () => c.print(`accepted ${r.accepted} of ${body.events.length} events`));
      }),
    );

  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      // Commander errors (usage, --help) were already printed and their exit code set.
      if (e instanceof CommanderError) return;
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
}
