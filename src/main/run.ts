import type { Logger } from 'pino';
import { ConfigError } from './config';
import { createLogger, logFormat, type LogFormat } from './logger';

/**
 * Runs an entry point: starts it, and on SIGINT/SIGTERM runs its shutdown once, then exits; a signal during the start
 * runs the shutdown as soon as the start returns. A second signal (2 s or more after the first) exits at once. A
 * configuration error prints the message naming the variable and exits 2.
 */
export function runMain(name: string, start: (log: Logger) => Promise<() => Promise<void>>): void {
  let format: LogFormat;
  try {
    format = logFormat(process.env, process.stdout.isTTY === true);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger(process.env.LOG_LEVEL ?? 'info', `promptback-${name}`, { format });
  let stop: (() => Promise<void>) | undefined;
  let stoppingSince: number | undefined;
  const runStop = (s: () => Promise<void>) => {
    s().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C reaches us both from the terminal and relayed by tsx/npm: only a later, deliberate one forces exit.
      if (Date.now() - stoppingSince < 2000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = Date.now();
    // Still starting: what has started (the API, the store) is stopped once the start returns, not dropped.
    if (!stop) log.info({ signal }, 'shutting down once the start in progress returns (another signal 2 s on exits at once)');
    else {
      log.info({ signal }, 'shutting down');
      runStop(stop);
    }
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  start(log).then(
    (s) => {
      stop = s;
      if (stoppingSince !== undefined) {
        log.info('shutting down');
        runStop(s);
      }
    },
    (e: unknown) => {
      if (e instanceof ConfigError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(2);
      }
      log.fatal({ err: e }, `${name} failed to start`);
      process.exit(1);
    },
  );
}

/** An error's message and its causes' ("Failed to create schedule: 7 PERMISSION_DENIED: Schedules are disabled …"). */
export function messageWithCauses(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let c: unknown = e; c !== undefined && c !== null && !seen.has(c) && seen.size < 5; c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const m = c instanceof Error ? c.message : typeof c === 'string' ? c : describe(c);
    if (!parts.some((p) => p.includes(m))) parts.push(m);
    if (!(c instanceof Error)) break;
  }
  return parts.join(': ');
}

function describe(x: unknown): string {
  try {
    return JSON.stringify(x) ?? Object.prototype.toString.call(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}
