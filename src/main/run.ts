import type { Logger } from 'pino';
import { ConfigError } from './config';
import { createLogger, logFormat, type LogFormat } from './logger';

/**
 * Runs an entry point: starts it, and on SIGINT/SIGTERM runs its shutdown once, then exits. A second signal
 * exits at once. A configuration error prints the message naming the variable and exits 2.
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
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C reaches us both from the terminal and relayed by tsx/npm: only a later, deliberate one forces exit.
      if (Date.now() - stoppingSince < 2000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'shutting down');
    (stop ? stop() : Promise.resolve()).then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  start(log).then(
    (s) => {
      stop = s;
      if (stoppingSince !== undefined) {
        stoppingSince = undefined;
        shutdown('pending');
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
