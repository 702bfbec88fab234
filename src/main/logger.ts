import pino, { type Logger } from 'pino';

export const createLogger = (level: string, name = 'promptback'): Logger => pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime });
