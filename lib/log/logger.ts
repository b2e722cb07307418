// Structured JSON logs on stdout: one line per event, `{"time","level","msg",...fields}`.
// Request logging is only done at debug level, so callers guard it with `logger.debugEnabled`.

import type { LogLevel } from '../config/config.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export interface Logger {
  readonly debugEnabled: boolean;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = LEVELS[level];
  const log = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lvl] < threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
    if (fields) {
      for (const k of Object.keys(fields)) {
        const v = fields[k];
        entry[k] = v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code } : v;
      }
    }
    write(JSON.stringify(entry) + '\n');
  };
  return {
    debugEnabled: threshold <= LEVELS.debug,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}

/** A logger that drops everything (tests, embedded use). */
export const silentLogger: Logger = createLogger('error', () => {});
