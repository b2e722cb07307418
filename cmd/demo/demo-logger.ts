// ringside's log lines, in the demo's output: the same events the JSON logger
// writes, as one readable indented line each, so a warning (an endpoint
// ejected, a DNS failure) shows up where it happens in the story.

import type { LogLevel } from '../../lib/config/config.ts';
import type { Logger } from '../../lib/log/logger.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

const describe = (value: unknown): string => {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
};

export function createDemoLogger(level: LogLevel, say: (line: string) => void): Logger {
  const threshold = LEVELS[level];
  const log = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lvl] < threshold) return;
    const details = Object.entries(fields ?? {}).map(([k, v]) => `${k}=${describe(v)}`).join(' ');
    say(`    (ringside ${lvl}: ${msg}${details ? `, ${details}` : ''})`);
  };
  return {
    debugEnabled: threshold <= LEVELS.debug,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}
