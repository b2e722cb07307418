import { describe, expect, it } from 'vitest';
import { createRateWindow } from './rate-window.ts';

describe('createRateWindow', () => {
  it('counts the last minute only, forgetting buckets from earlier laps', () => {
    let nowMs = 10_000_000;
    const window = createRateWindow({ now: () => nowMs });
    nowMs += 120_000; // two minutes old: the rate is over the full 60 s
    for (let i = 0; i < 30; i++) window.record(i % 3 === 0);
    expect(window.requestRate()).toBeCloseTo(30 / 60, 9);
    expect(window.errorRate()).toBeCloseTo(10 / 30, 9);

    nowMs += 30_000;
    window.record(false);
    expect(window.requestRate()).toBeCloseTo(31 / 60, 9);

    nowMs += 31_000; // the first 30 fall out of the window
    expect(window.requestRate()).toBeCloseTo(1 / 60, 9);
    expect(window.errorRate()).toBe(0);

    nowMs += 60_000 * 5; // same bucket index, five laps later: stale, not added to
    window.record(true);
    expect(window.requestRate()).toBeCloseTo(1 / 60, 9);
    expect(window.errorRate()).toBe(1);
  });

  it('judges a young window over its own age', () => {
    let nowMs = 5_000;
    const window = createRateWindow({ now: () => nowMs });
    for (let i = 0; i < 10; i++) window.record(false);
    nowMs += 4_000; // 5 whole seconds including the current one
    expect(window.requestRate()).toBeCloseTo(2, 9);
  });

  it('reports zero with no traffic and rejects a bad length', () => {
    const window = createRateWindow();
    expect(window.requestRate()).toBe(0);
    expect(window.errorRate()).toBe(0);
    expect(() => createRateWindow({ seconds: 0 })).toThrow(RangeError);
  });
});
