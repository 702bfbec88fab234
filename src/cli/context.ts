/**
 * What every command runs inside: the API client built from the resolved settings, output that honours
 * `--json`, and one way of reporting failures with their exit codes:
 * 0 ok, 1 the API said no (or a `rollback --wait` did not end well), 2 the API could not be reached.
 */
import type { Command } from 'commander';
import { ApiError, connect, ConnectionError, unreachable, type PromptbackApi } from './api';
import { resolveSettings, type Resolved } from './settings';
import { suggest } from './suggest';

/** Where the CLI writes and how it exits; replaced in tests. `out`/`err` receive text with its newlines. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  exit: (code: number) => void;
  /** stdout is a terminal: progress may redraw one line in place. */
  tty?: boolean;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  // Setting exitCode (not process.exit) lets stdout drain before the process ends.
  exit: (code) => {
    process.exitCode = code;
  },
  tty: process.stdout.isTTY === true,
};

/** Bad command-line input that commander cannot check by itself. */
export class UsageError extends Error {}

/** What an action gets: the API, the settings it came from, and output that honours `--json`. */
export interface Ctx {
  api: PromptbackApi;
  settings: Resolved;
  json: boolean;
  io: Io;
  print: (line: string) => void;
  /** Writes `text` exactly as given (no newline added). */
  write: (text: string) => void;
  warn: (line: string) => void;
  /** Prints `data` as JSON with `--json`, else runs `human`. */
  emit: (data: unknown, human: () => void) => void;
}

export interface RunOptions {
  /** The prompt the command names: a 404 "Unknown prompt" (or "Unknown monitor") suggests the closest existing names. */
  prompt?: string;
  /** The version it names: a 404 "Unknown version" suggests the closest versions of the prompt. */
  version?: string;
}

/** Runs one action: builds the client from the global options, reports errors, sets the exit code. */
export async function run(
  io: Io,
  cmd: Command,
  action: (c: Ctx) => Promise<number | void> | number | void,
  opts: RunOptions = {},
): Promise<void> {
  const g = cmd.optsWithGlobals<{ url?: string; token?: string; json?: boolean }>();
  const json = g.json === true;
  const print = (line: string): void => io.out(`${line}\n`);
  let api: PromptbackApi | undefined;
  try {
    const settings = resolveSettings({ url: g.url, token: g.token });
    api = connect(settings.url, settings.token);
    const ctx: Ctx = {
      api,
      settings,
      json,
      io,
      print,
      write: io.out,
      warn: (line) => io.err(`${line}\n`),
      emit: (data, human) => (json ? print(JSON.stringify(data, null, 2)) : human()),
    };
    const code = await action(ctx);
    if (code) io.exit(code);
  } catch (e) {
    if (e instanceof ApiError) {
      io.err(`error: ${e.title} (${e.status}): ${e.detail}\n`);
      for (const f of e.errors) io.err(`  ${f.field}: ${f.message}\n`);
      if (e.status === 404 && api) {
        const hint = await didYouMean(api, e.title, opts);
        if (hint) io.err(`${hint}\n`);
      }
      io.exit(1);
    } else if (e instanceof ConnectionError) {
      io.err(`error: ${unreachable(e)}\n`);
      io.exit(2);
    } else {
      io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      io.exit(1);
    }
  }
}

/** `did you mean customer-support?` from the names that exist, or nothing when none is close (or none applies). */
async function didYouMean(api: PromptbackApi, title: string, opts: RunOptions): Promise<string | undefined> {
  try {
    let typed: string | undefined;
    let names: string[] = [];
    if (title === 'Unknown prompt' && opts.prompt !== undefined) {
      typed = opts.prompt;
      names = (await api.listPrompts()).prompts.map((p) => p.name);
    } else if (title === 'Unknown monitor' && opts.prompt !== undefined) {
      typed = opts.prompt;
      names = (await api.listMonitors()).monitors.map((m) => m.prompt);
    } else if (title === 'Unknown version' && opts.prompt !== undefined && opts.version !== undefined) {
      typed = opts.version;
      names = (await api.getPrompt(opts.prompt)).versions.map((v) => v.version);
    }
    const close = typed === undefined ? [] : suggest(typed, names);
    if (close.length === 0) return undefined;
    return `did you mean ${close.length === 1 ? close[0] : `one of: ${close.join(', ')}`}?`;
  } catch {
    // The hint is a courtesy: the error above already says what went wrong.
    return undefined;
  }
}
