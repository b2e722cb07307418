// Exact parsing of "<decimal number><unit>" (1.5s, 64KiB) into a whole number
// of base units, shared by ./duration.ts and ./size.ts. Uses BigInt so that
// 1.1s is exactly 1100 ms, not 1100.0000000000002.

/**
 * Returns the whole number of base units that `text` denotes, or undefined
 * when it is not `DIGITS[.DIGITS]UNIT` with a known unit, or when it is not a
 * whole number of base units, or when it exceeds `max`.
 * `units` maps a suffix to how many base units it is ('' = a bare number).
 */
export function parseScaled(text: string, units: Readonly<Record<string, number>>, max: number): number | undefined {
  const match = /^(\d+)(?:\.(\d+))?([A-Za-z]*)$/.exec(text);
  if (match === null) return undefined;
  const [, whole, fraction = '', unit] = match;
  const scale = units[unit];
  if (scale === undefined || !Object.hasOwn(units, unit)) return undefined;
  if (whole.length > 20 || fraction.length > 20) return undefined;
  const denominator = 10n ** BigInt(fraction.length);
  const numerator = (BigInt(whole) * denominator + BigInt(fraction === '' ? '0' : fraction)) * BigInt(scale);
  if (numerator % denominator !== 0n) return undefined;
  const value = numerator / denominator;
  if (value > BigInt(max)) return undefined;
  return Number(value);
}
