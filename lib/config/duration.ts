// Durations in configuration: `250ms`, `5s`, `1m`, `1.5s`, `2h`. A bare number
// is rejected (is `5` seconds or milliseconds?), except `0` where "off" is allowed.

import { expected, parsedValue, type Parsed } from './parsed.ts';
import { parseScaled } from './decimal-units.ts';

export const DURATION_FORM = 'a duration like 250ms, 5s, 1m';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** The longest timer Node supports (setTimeout clamps anything larger to 1 ms). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export interface DurationOptions {
  /** Accept `0` (and `0s`, `0ms`) meaning "off". Otherwise the duration must be positive. */
  readonly allowZero?: boolean;
  /** Smallest accepted positive duration, in milliseconds. */
  readonly minMs?: number;
}

/** Parses a duration into whole milliseconds. */
export function parseDuration(text: string, options: DurationOptions = {}): Parsed<number> {
  const form = options.allowZero ? `${DURATION_FORM}, or 0 for off` : DURATION_FORM;
  if (options.allowZero && text === '0') return parsedValue(0);
  const ms = parseScaled(text, UNIT_MS, MAX_DURATION_MS);
  if (ms === undefined) {
    if (/^\d+(\.\d+)?$/.test(text)) return expected(`${form} (a bare number has no unit)`);
    if (/^\d+(\.\d+)?(ms|s|m|h)$/.test(text)) return expected(`${form}, in whole milliseconds and at most ${formatDuration(MAX_DURATION_MS)}`);
    return expected(form);
  }
  if (ms === 0 && !options.allowZero) return expected(`a positive duration like 250ms, 5s, 1m`);
  if (ms !== 0 && options.minMs !== undefined && ms < options.minMs) {
    return expected(`${DURATION_FORM}, at least ${formatDuration(options.minMs)}`);
  }
  return parsedValue(ms);
}

/** Prints milliseconds in the largest unit that represents them exactly (1500 -> `1500ms`, 60000 -> `1m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  if (ms % UNIT_MS.s === 0) return `${ms / UNIT_MS.s}s`;
  return `${ms}ms`;
}
