import { describe, expect, it } from 'vitest';
import { TimerWheel } from './timer-wheel.ts';

describe('TimerWheel', () => {
  it('fires armed items once their deadline passed, once, and never disarmed ones', () => {
    const wheel = new TimerWheel(1000);
    const fired: string[] = [];
    const a = { deadline: 100, onDeadline: () => fired.push('a') };
    const b = { deadline: 0, onDeadline: () => fired.push('b') };
    const c = { deadline: 300, onDeadline: () => fired.push('c') };
    wheel.add(a);
    wheel.add(b);
    wheel.add(c);
    wheel.sweep(200);
    wheel.sweep(250);
    expect(fired).toEqual(['a']);
    expect(a.deadline).toBe(0);
    wheel.remove(c);
    wheel.sweep(1000);
    expect(fired).toEqual(['a']);
    wheel.remove(a);
    wheel.remove(b);
    expect(wheel.size).toBe(0);
  });

  it('lets an item remove itself (or others) while firing', () => {
    const wheel = new TimerWheel(1000);
    const fired: number[] = [];
    const items = [1, 2, 3].map((n) => ({ deadline: n, onDeadline: () => { fired.push(n); for (const i of items) wheel.remove(i); } }));
    for (const i of items) wheel.add(i);
    wheel.sweep(10);
    expect(fired).toEqual([1]);
    expect(wheel.size).toBe(0);
  });
});
