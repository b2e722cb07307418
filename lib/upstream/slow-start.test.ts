import { describe, expect, it } from 'vitest';
import type { Endpoint } from './endpoint.ts';
import { SlowStart, slowStartFactor, slowStartStepMs } from './slow-start.ts';

const linear = { windowMs: 10_000, minWeightPercent: 10, aggression: 1 };

describe('slowStartFactor (Envoy: max(min%, (t / window)^(1 / aggression)))', () => {
  it('ramps linearly from the minimum to 1 over the window', () => {
    expect(slowStartFactor(0, linear)).toBe(0.1);
    expect(slowStartFactor(500, linear)).toBe(0.1);
    expect(slowStartFactor(5000, linear)).toBeCloseTo(0.5);
    expect(slowStartFactor(9000, linear)).toBeCloseTo(0.9);
    expect(slowStartFactor(10_000, linear)).toBe(1);
    expect(slowStartFactor(60_000, linear)).toBe(1);
  });

  it('a larger aggression starts faster, as Envoy defines the exponent (1 / aggression)', () => {
    const a2 = { ...linear, aggression: 2 };
    expect(slowStartFactor(1000, a2)).toBeCloseTo(Math.sqrt(0.1));
    expect(slowStartFactor(5000, a2)).toBeCloseTo(Math.sqrt(0.5));
    expect(slowStartFactor(5000, a2)).toBeGreaterThan(slowStartFactor(5000, linear));
  });

  it('never goes below the minimum nor above 1, and never decreases', () => {
    for (const aggression of [0.5, 1, 1.5, 4]) {
      let last = 0;
      for (let t = 0; t <= 11_000; t += 250) {
        const f = slowStartFactor(t, { ...linear, aggression });
        expect(f).toBeGreaterThanOrEqual(0.1);
        expect(f).toBeLessThanOrEqual(1);
        expect(f).toBeGreaterThanOrEqual(last);
        last = f;
      }
    }
  });

  it('steps window / 20, between 100 ms and 1 s', () => {
    expect(slowStartStepMs(1000)).toBe(100);
    expect(slowStartStepMs(10_000)).toBe(500);
    expect(slowStartStepMs(600_000)).toBe(1000);
  });
});

describe('SlowStart', () => {
  it('sets effective weights on each step, forgets endpoints past the window, and reports every step', () => {
    let now = 1000;
    let steps = 0;
    const s = new SlowStart(linear, () => steps++, () => now);
    const e = { weight: 4, effectiveWeight: 4 } as Endpoint;
    s.begin(e);
    expect(e.effectiveWeight).toBeCloseTo(0.4);
    expect(s.startedAt(e)).toBe(1000);
    now += 5000;
    s.step();
    expect(e.effectiveWeight).toBeCloseTo(2);
    expect(steps).toBe(1);
    now += 5000;
    s.step();
    expect(e.effectiveWeight).toBe(4);
    expect(s.size).toBe(0);
    expect(s.startedAt(e)).toBe(-1);
    s.stop();
  });

  it('is a no-op when off', () => {
    const s = new SlowStart({ windowMs: 0, minWeightPercent: 10, aggression: 1 }, () => {});
    const e = { weight: 1, effectiveWeight: 1 } as Endpoint;
    s.begin(e);
    expect(e.effectiveWeight).toBe(1);
    expect(s.size).toBe(0);
  });

  it('an endpoint that leaves mid-ramp gets its full weight back and stops the timer when it was the last', () => {
    const s = new SlowStart(linear, () => {});
    const e = { weight: 2, effectiveWeight: 2 } as Endpoint;
    s.begin(e);
    expect(e.effectiveWeight).toBeCloseTo(0.2);
    s.end(e);
    expect(e.effectiveWeight).toBe(2);
    expect(s.size).toBe(0);
  });
});
