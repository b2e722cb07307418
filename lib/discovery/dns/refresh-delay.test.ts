import { expect, test } from 'vitest';
import { backoffDelayMs, successDelayMs } from './refresh-delay.ts';

test('without respectTtl: refreshMs +-jitter, whatever the TTL', () => {
  const base = { refreshMs: 5000, respectTtl: false, minTtlSeconds: 1, jitter: 0.1 };
  expect(successDelayMs({ ...base, random: 0 })).toBe(4500);
  expect(successDelayMs({ ...base, random: 0.5 })).toBe(5000);
  expect(successDelayMs({ ...base, random: 0.99999 })).toBe(5500);
});

test('with respectTtl: min(TTL, refreshMs), TTL part jittered only downwards and floored at 250 ms', () => {
  const base = { refreshMs: 5000, respectTtl: true, jitter: 0.1 };
  expect(successDelayMs({ ...base, minTtlSeconds: 1, random: 0 })).toBe(1000);
  expect(successDelayMs({ ...base, minTtlSeconds: 1, random: 0.99999 })).toBe(900);
  expect(successDelayMs({ ...base, minTtlSeconds: 0, random: 0.99999 })).toBe(250);
  expect(successDelayMs({ ...base, minTtlSeconds: 30, random: 0.5 })).toBe(5000);
  // TTL unknown (SRV): refreshMs.
  expect(successDelayMs({ ...base, minTtlSeconds: null, random: 0.5 })).toBe(5000);
  // refreshMs below the floor still wins: the floor only limits how fast TTLs can drive us.
  expect(successDelayMs({ ...base, refreshMs: 100, minTtlSeconds: 0, random: 0.5 })).toBe(100);
});

test('backoff: 250, 500, 1000, ... capped at refreshMs, jitter never above the cap', () => {
  const mid = 0.5;
  expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffDelayMs(n, 5000, 0.1, mid))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  expect(backoffDelayMs(1, 5000, 0.1, 0)).toBe(225);
  expect(backoffDelayMs(1, 5000, 0.1, 0.99999)).toBe(275);
  expect(backoffDelayMs(10, 5000, 0.1, 0.99999)).toBe(5000);
  expect(backoffDelayMs(1, 100, 0.1, 0.5)).toBe(100);
});
