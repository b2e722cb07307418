import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { formatDuration, MAX_DURATION_MS, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  test.each([
    ['250ms', 250],
    ['5s', 5000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['2h', 7_200_000],
    ['0.25s', 250],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  test.each(['5', '1.5', '', 's', '5 s', '-5s', '5sec', '1e3ms', '0.5ms', '5S', ' 5s', '1m30s'])('rejects %j', (text) => {
    const parsed = parseDuration(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.expected).toContain('a duration like 250ms, 5s, 1m');
  });

  test('a bare number is called out as having no unit', () => {
    expect(parseDuration('5')).toMatchObject({ ok: false, expected: expect.stringContaining('bare number') });
  });

  test('zero is only accepted where it means off', () => {
    expect(parseDuration('0').ok).toBe(false);
    expect(parseDuration('0s')).toMatchObject({ ok: false, expected: expect.stringContaining('positive') });
    expect(parseDuration('0', { allowZero: true })).toEqual({ ok: true, value: 0 });
    expect(parseDuration('0ms', { allowZero: true })).toEqual({ ok: true, value: 0 });
  });

  test('a minimum is enforced and named', () => {
    expect(parseDuration('100ms', { minMs: 250 })).toMatchObject({ ok: false, expected: expect.stringContaining('at least 250ms') });
    expect(parseDuration('250ms', { minMs: 250 })).toEqual({ ok: true, value: 250 });
  });

  test('durations beyond what a Node timer can hold are rejected', () => {
    expect(parseDuration(`${MAX_DURATION_MS}ms`)).toEqual({ ok: true, value: MAX_DURATION_MS });
    expect(parseDuration(`${MAX_DURATION_MS + 1}ms`).ok).toBe(false);
    expect(parseDuration('1000h').ok).toBe(false);
  });

  test('property: any duration printed then parsed gives the same milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_DURATION_MS }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, value: ms });
      }),
      { numRuns: 2000 },
    );
  });

  test('property: NUMBER+unit parses to NUMBER times the unit', () => {
    const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])), (n, unit) => {
        expect(parseDuration(`${n}${unit}`)).toEqual({ ok: true, value: n * units[unit] });
      }),
    );
  });

  test('property: arbitrary text never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        const parsed = parseDuration(text);
        if (parsed.ok) expect(Number.isInteger(parsed.value) && parsed.value > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
