// Byte sizes in configuration: plain bytes (`65536`), binary units (`64KiB`,
// `1MiB`, `1GiB`) and decimal units (`64KB` = 64000, `1MB`).

import { expected, parsedValue, type Parsed } from './parsed.ts';
import { parseScaled } from './decimal-units.ts';

export const SIZE_FORM = 'a size like 65536, 64KiB, 1MiB';

const UNIT_BYTES = {
  '': 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
} as const;

export function parseSize(text: string): Parsed<number> {
  const bytes = parseScaled(text, UNIT_BYTES, Number.MAX_SAFE_INTEGER);
  return bytes === undefined ? expected(SIZE_FORM) : parsedValue(bytes);
}

/** Prints bytes in the largest binary unit that represents them exactly (65536 -> `64KiB`). */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes !== 0 && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return String(bytes);
}
