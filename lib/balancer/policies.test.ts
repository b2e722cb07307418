import { describe, expect, it } from 'vitest';
import type { MutableEndpoint } from './balancer-conformance.ts';
import { createBalancer } from './create-balancer.ts';
import { LeastRequestBalancer } from './least-request/least-request-balancer.ts';
import { RingHashBalancer } from './ring-hash/ring-hash-balancer.ts';
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

  it('accounts for weight: in flight per unit of weight', () => {
    const e = eps(2);
    e[0].weight = e[0].effectiveWeight = 4;
    e[0].inFlight = 3; // 0.75 per unit
    e[1].inFlight = 1; // 1 per unit
    const lb = new LeastRequestBalancer<MutableEndpoint>();
    lb.update(e);
    for (let i = 0; i < 50; i++) expect(lb.pick(null, null)).toBe(e[0]);
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
