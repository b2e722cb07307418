// Rates as the rate-limit options write them: a count per unit of time,
// `100/s`, `6000/m`, `10/h` (also `0.5/s`).

import { expected, parsedValue, type Parsed } from './parsed.ts';
import type { Rate } from './config.ts';

export const RATE_FORM = 'a rate like 100/s, 6000/m or 10/h (a number > 0 per s, m or h)';

const RATE = /^(\d+(?:\.\d+)?)\/(s|m|h)$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

export function parseRate(text: string): Parsed<Rate> {
  const m = RATE.exec(text.trim());
  if (m === null) return expected(RATE_FORM);
  const count = Number(m[1]);
  const perSecond = count / UNIT_SECONDS[m[2]];
  // Below one request a day is surely a typo; above a billion per second is no limit.
  if (!(count > 0) || perSecond < 1 / 86_400 || perSecond > 1e9) return expected(RATE_FORM);
  return parsedValue({ perSecond, text: `${m[1]}/${m[2]}` });
}
