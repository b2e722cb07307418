import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultBurst, TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  test('the worked example: 2/s with burst 2', () => {
    const b = new TokenBucket(2, 2, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBeCloseTo(500);
    expect(b.take(250)).toBeCloseTo(250);
    expect(b.take(500)).toBe(0);
    expect(b.take(500)).toBeCloseTo(500);
  });

  test('an idle bucket fills up to its burst, no further', () => {
    const b = new TokenBucket(10, 3, 0);
    for (let i = 0; i < 3; i++) expect(b.take(0)).toBe(0);
    let ok = 0;
    for (let i = 0; i < 10; i++) if (b.take(60_000) === 0) ok++;
    expect(ok).toBe(3);
  });

  test('the default burst is one second of the rate, at least 1', () => {
    expect(defaultBurst(100)).toBe(100);
    expect(defaultBurst(0.5)).toBe(1);
    expect(defaultBurst(100 / 60)).toBe(2);
  });

  test('property: over any sequence of clock readings, accepted <= burst + rate x elapsed, and a refusal says when to come back', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 10_000, noNaN: true }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.double({ min: 0, max: 2000, noNaN: true }), { minLength: 1, maxLength: 300 }),
        (rate, burst, gaps) => {
          const start = 1000;
          const b = new TokenBucket(rate, burst, start);
          let now = start;
          let accepted = 0;
          for (const gap of gaps) {
            now += gap;
            const wait = b.take(now);
            if (wait === 0) accepted++;
            else {
              expect(wait).toBeGreaterThan(0);
              // Taking again exactly when told succeeds (the bucket refills at the rate).
              expect(wait).toBeLessThanOrEqual(1000 / rate + 1e-6);
            }
            // Never more than the burst plus what the elapsed time refilled (with float slack).
            expect(accepted).toBeLessThanOrEqual(burst + (rate * (now - start)) / 1000 + 1e-6);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: a steady offered load above the rate is accepted at the rate (within one token)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 2, max: 5 }), (rate, over) => {
        const b = new TokenBucket(rate, 1, 0);
        const step = 1000 / (rate * over);
        let accepted = 0;
        const n = rate * over * 3;
        for (let i = 1; i <= n; i++) if (b.take(i * step) === 0) accepted++;
        expect(Math.abs(accepted - rate * 3)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 100 },
    );
  });
});
