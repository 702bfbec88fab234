/**
 * `promptback`: the command-line client of the HTTP API (see docs/api.md). It speaks HTTP only (all of it in
 * ./api.ts), so it works against any running promptback. Human-readable output by default; `--json` prints the
 * API's JSON as is. Each command group lives in ./commands; output formatting in ./format.ts.
 * Exit codes: 0 ok, 1 the API said no (or a `rollback --wait` did not end verified), 2 the API could not be reached.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Help, Option } from 'commander';
import { registerCompletion } from './commands/completion';
import { registerConfig } from './commands/config';
import { registerDeployments } from './commands/deployments';
import { registerMetrics } from './commands/metrics';
import { registerMonitors } from './commands/monitors';
import { registerPrompts } from './commands/prompts';
import { registerRollbacks } from './commands/rollbacks';
import { processIo, type Io } from './context';
import { DEFAULT_URL } from './settings';

export type { Io } from './context';

/** The version in package.json. */
export function cliVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Global options that take a value: skipped when looking for the subcommand. */
const VALUE_OPTIONS = new Set(['--url', '--token']);
const VERSION_FLAGS = new Set(['-V', '--version']);

/**
 * `--version` asked of the program itself, i.e. before any subcommand: `metrics <prompt> --version v2` names a
 * prompt version, so commander's own version option (recognised anywhere) cannot be used.
 */
function asksVersion(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VERSION_FLAGS.has(a)) return true;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return false;
  }
  return false;
}

export function buildProgram(io: Io = processIo): Command {
  const versionOption = new Option('-V, --version', 'print the promptback version');
  const program: Command = new Command('promptback')
    .description('Keeps bad prompt versions out of production: a client of the promptback HTTP API. Times are UTC.')
    // Set before adding commands: subcommands copy these settings.
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .configureHelp({
      visibleOptions(cmd): Option[] {
        const shown = Help.prototype.visibleOptions.call(this, cmd);
        return cmd === program ? [versionOption, ...shown] : shown;
      },
    })
    .exitOverride((e) => {
      io.exit(e.exitCode);
      throw e;
    })
    .showHelpAfterError('(add --help for usage)')
    .option('--url <url>', `base URL of the promptback API (env PROMPTBACK_URL, else the config file, else ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (env PROMPTBACK_TOKEN, else the config file)')
    .option('--json', "print the API's JSON instead of text (one JSON document per command)");

  registerPrompts(program, io);
  registerDeployments(program, io);
  registerRollbacks(program, io);
  registerMonitors(program, io);
  registerMetrics(program, io);
  registerConfig(program, io);
  registerCompletion(program, io);
  return program;
}

/** Runs the CLI on `args` (without the node and script paths). */
export async function runCli(args: string[], io: Io = processIo): Promise<void> {
  if (asksVersion(args)) {
    io.out(`${cliVersion()}\n`);
    return;
  }
  try {
    await buildProgram(io).parseAsync(args, { from: 'user' });
  } catch (e) {
    // Commander errors (usage, --help) were already printed and their exit code set.
    if (e instanceof CommanderError) return;
    io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    io.exit(1);
  }
}

if (require.main === module) void runCli(process.argv.slice(2));
