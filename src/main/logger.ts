import type { Logger as SdkLogger, LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from './config';

export type LogFormat = 'pretty' | 'json';
const FORMATS: readonly LogFormat[] = ['pretty', 'json'];

/**
 * Pretty (one coloured line per entry) for a person at a terminal, JSON for anything that collects logs; LOG_FORMAT
 * overrides either way. A bad LOG_FORMAT stops start-up naming the variable.
 */
export function logFormat(env: { LOG_FORMAT?: string | undefined }, stdoutIsTTY: boolean): LogFormat {
  const raw = env.LOG_FORMAT?.trim();
  if (raw === undefined || raw === '') return stdoutIsTTY ? 'pretty' : 'json';
  if ((FORMATS as readonly string[]).includes(raw)) return raw as LogFormat;
  throw new ConfigError(
    `LOG_FORMAT: must be one of ${FORMATS.join(', ')} (got ${JSON.stringify(raw)}); unset, it follows stdout (pretty on a terminal)`,
  );
}

export interface LoggerOptions {
  /** Default: logFormat(process.env, stdout is a TTY). */
  format?: LogFormat;
  /** Default: stdout. */
  destination?: DestinationStream;
}

export function createLogger(level: string, name = 'promptback', opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? logFormat(process.env, process.stdout.isTTY === true);
  const base = { name, level, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'json') return opts.destination ? pino(base, opts.destination) : pino(base);
  // In-process and synchronous (no transport thread): a line is on the terminal before the next one is written.
  const stream = pretty({
    colorize: opts.destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    // An access line's message already says method, path, status, duration and actor: the object is for machines.
    ignore: 'pid,hostname,access',
    sync: true,
    ...(opts.destination ? { destination: opts.destination as unknown as NodeJS.WritableStream } : {}),
  });
  return pino(base, stream);
}

/**
 * The Temporal SDK's logger (worker, core, activities, workflows) on top of ours. What the SDK itself says at info
 * level while starting — core's connection details, worker state changes, webpack's bundle statistics — goes to
 * debug; what activities and workflows log keeps its level, and every warning and error stays visible.
 */
export function temporalSdkLogger(log: Logger): SdkLogger {
  const sdk = log.child({ component: 'temporal-sdk' });
  const quiet = new Set(['worker', 'core', 'client']);
  const emit = (level: SdkLogLevel, message: string, meta?: LogMetadata): void => {
    const component = typeof meta?.sdkComponent === 'string' ? meta.sdkComponent : undefined;
    const to =
      level === 'TRACE'
        ? 'trace'
        : level === 'DEBUG'
          ? 'debug'
          : level === 'INFO'
            ? component === undefined || quiet.has(component)
              ? 'debug'
              : 'info'
            : level === 'WARN'
              ? // The monitor-checks worker runs activities only, on purpose: the SDK's warning about it is no news.
                message.startsWith('No workflows registered')
                ? 'debug'
                : 'warn'
              : 'error';
    sdk[to](meta ?? {}, message);
  };
  return {
    log: emit,
    trace: (m, meta) => emit('TRACE', m, meta),
    debug: (m, meta) => emit('DEBUG', m, meta),
    info: (m, meta) => emit('INFO', m, meta),
    warn: (m, meta) => emit('WARN', m, meta),
    error: (m, meta) => emit('ERROR', m, meta),
  };
}
