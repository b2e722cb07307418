import { beforeAll, describe, expect, it } from 'vitest';
import { initXxhash64 } from '../hash/xxhash64.ts';
import type { MutableEndpoint } from './balancer-conformance.ts';
import { createBalancer } from './create-balancer.ts';
import { LeastRequestBalancer } from './least-request/least-request-balancer.ts';
import { RingHashBalancer } from './ring-hash/ring-hash-balancer.ts';
import { RandomBalancer } from './random/random-balancer.ts';
import { RoundRobinBalancer } from './round-robin/round-robin-balancer.ts';

function eps(n: number): MutableEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.0.${i}:80`, weight: 1, effectiveWeight: 1, inFlight: 0, available: true }));
}

describe('round_robin', () => {
  it('cycles through endpoints in order, skipping unavailable ones', () => {
    const lb = new RoundRobinBalancer<MutableEndpoint>(() => 0);
    const e = eps(3);
    lb.update(e);
    expect([0, 1, 2, 3].map(() => lb.pick(null, null))).toEqual([e[0], e[1], e[2], e[0]]);
    e[1].available = false;
    expect([0, 1, 2].map(() => lb.pick(null, null))).toEqual([e[2], e[0], e[2]]);
  });
});

describe('least_request', () => {
  it('of two draws, takes the one with fewer requests in flight', () => {
    const e = eps(2);
    e[0].inFlight = 5;
    const lb = new LeastRequestBalancer<MutableEndpoint>(Math.random);
    lb.update(e);
    for (let i = 0; i < 100; i++) expect(lb.pick(null, null)).toBe(e[1]);
  });

  it('never picks the busiest of three (it always loses a two-way draw)', () => {
    const e = eps(3);
    e[2].inFlight = 9;
    e[1].inFlight = 1;
    const lb = new LeastRequestBalancer<MutableEndpoint>();
    lb.update(e);
    for (let i = 0; i < 300; i++) expect(lb.pick(null, null)).not.toBe(e[2]);
  });

  it('with unequal weights, picks in proportion to weight / (in flight + 1), as Envoy does', () => {
    const e = eps(2);
    e[0].weight = e[0].effectiveWeight = 4;
    e[0].inFlight = 3; // 4 / 4 = 1
    e[1].inFlight = 1; // 1 / 2 = 0.5
    const lb = new LeastRequestBalancer<MutableEndpoint>();
    lb.update(e);
    let first = 0;
    for (let i = 0; i < 3000; i++) if (lb.pick(null, null) === e[0]) first++;
    expect(first / 3000).toBeGreaterThan(0.62);
    expect(first / 3000).toBeLessThan(0.71);
  });

  it('with nothing in flight, shares follow the effective weights (a ramping endpoint gets its fraction, not a tie)', () => {
    const e = eps(4);
    e[3].effectiveWeight = 0.1; // slow start at 10%
    const lb = new LeastRequestBalancer<MutableEndpoint>();
    lb.update(e);
    let ramping = 0;
    for (let i = 0; i < 6000; i++) if (lb.pick(null, null) === e[3]) ramping++;
    // 0.1 / 3.1 = 3.2%; a two-way comparison on in-flight counts alone would give it 25%.
    expect(ramping / 6000).toBeGreaterThan(0.015);
    expect(ramping / 6000).toBeLessThan(0.05);
    // Back to equal weights: the plain power of two choices again.
    e[3].effectiveWeight = 1;
    lb.reweight();
    ramping = 0;
    for (let i = 0; i < 6000; i++) if (lb.pick(null, null) === e[3]) ramping++;
    expect(ramping / 6000).toBeGreaterThan(0.2);
  });
});

describe('weighted round_robin and random', () => {
  it('round robin interleaves by weight (smooth weighted round robin) and goes back to plain cycling when weights are equal', () => {
    const e = eps(3);
    e[0].effectiveWeight = 5;
    const lb = new RoundRobinBalancer<MutableEndpoint>(() => 0);
    lb.update(e);
    const seq = Array.from({ length: 7 }, () => e.indexOf(lb.pick(null, null)!));
    expect(seq).toEqual([0, 0, 1, 0, 2, 0, 0]);
    e[0].effectiveWeight = 1;
    lb.reweight();
    const counts = [0, 0, 0];
    for (let i = 0; i < 30; i++) counts[e.indexOf(lb.pick(null, null)!)]++;
    expect(counts).toEqual([10, 10, 10]);
  });

  it('weighted round robin skips unavailable and excluded endpoints', () => {
    const e = eps(3);
    e[0].effectiveWeight = 3;
    const lb = new RoundRobinBalancer<MutableEndpoint>(() => 0);
    lb.update(e);
    e[0].available = false;
    for (let i = 0; i < 10; i++) expect(lb.pick(null, [e[1]])).toBe(e[2]);
  });

  it('random draws in proportion to effective weights', () => {
    const e = eps(2);
    e[1].effectiveWeight = 3;
    const lb = new RandomBalancer<MutableEndpoint>();
    lb.update(e);
    let heavy = 0;
    for (let i = 0; i < 4000; i++) if (lb.pick(null, null) === e[1]) heavy++;
    expect(heavy / 4000).toBeGreaterThan(0.7);
    expect(heavy / 4000).toBeLessThan(0.8);
  });
});

describe('ring hash under slow start', () => {
  beforeAll(() => initXxhash64());
  it('keys keep their endpoints while one ramps (the ring is not rebuilt); keyless requests follow the ramp', () => {
    const e = eps(4);
    const lb = new RingHashBalancer<MutableEndpoint>({
      mode: 'stable',
      entriesPerEndpoint: 64,
      minRingSize: 64,
      maxRingSize: 1024,
      hashBalanceFactor: null,
      fallback: new RoundRobinBalancer<MutableEndpoint>(() => 0),
    });
    lb.update(e);
    const h = { hi: 0, lo: 0 };
    const owners = (): string[] =>
      Array.from({ length: 500 }, (_, i) => {
        h.hi = Math.imul(i + 1, 0x9e3779b1) >>> 0;
        h.lo = Math.imul(i + 7, 0x85ebca6b) >>> 0;
        return lb.pick(h, null)!.key;
      });
    const before = owners();
    const rebuilds = lb.rebuilds;
    e[3].effectiveWeight = 0.1;
    lb.reweight();
    expect(owners()).toEqual(before);
    expect(lb.rebuilds).toBe(rebuilds);
    // No key: the fallback's weighted round robin gives the ramping endpoint 0.1 / 3.1 of the picks.
    let ramping = 0;
    for (let i = 0; i < 310; i++) if (lb.pick(null, null) === e[3]) ramping++;
    expect(ramping).toBe(10);
  });
});

describe('createBalancer', () => {
  const base = {
    hashFallback: 'round_robin',
    ringMode: 'envoy',
    ringEntriesPerEndpoint: 10,
    minRingSize: 64,
    maxRingSize: 1024,
    hashBalanceFactor: null,
  } as const;
  it('maps each lb name to its policy', () => {
    expect(createBalancer({ ...base, lb: 'round_robin' })).toBeInstanceOf(RoundRobinBalancer);
    expect(createBalancer({ ...base, lb: 'least_request' })).toBeInstanceOf(LeastRequestBalancer);
    expect(createBalancer({ ...base, lb: 'ring_hash' })).toBeInstanceOf(RingHashBalancer);
  });
});
