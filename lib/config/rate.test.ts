import { describe, expect, test } from 'vitest';
import { parseRate } from './rate.ts';

describe('parseRate', () => {
  test.each([
    ['100/s', 100],
    ['6000/m', 100],
    ['36/h', 0.01],
    ['0.5/s', 0.5],
    [' 10/s ', 10],
  ])('%s is %d per second', (text, perSecond) => {
    const r = parseRate(text);
    expect(r.ok && r.value.perSecond).toBeCloseTo(perSecond);
  });

  test.each(['', '100', '0/s', '10/d', '-1/s', '1e3/s', '/s', '10 / s', '1/day'])('%j is refused', (text) => {
    const r = parseRate(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.expected).toContain('100/s');
  });
});
