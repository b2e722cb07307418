// The conformance suite every Balancer implementation runs (hono-style): the
// promises of lib/balancer/balancer.ts checked the same way for each policy.
// Call runBalancerConformance() from a test file.

import { describe, expect, it } from 'vitest';
import type { Hash64 } from '../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from './balancer.ts';

export interface MutableEndpoint extends BalancerEndpoint {
  key: string;
  weight: number;
  effectiveWeight: number;
  inFlight: number;
  available: boolean;
}

export interface ConformanceOptions {
  /** A fresh balancer with no endpoints. */
  create(): Balancer<MutableEndpoint>;
  /** Whether picks use the hash (ring hash); the suite then also picks with null (fallback). */
  usesHash: boolean;
}

function endpoints(n: number): MutableEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ key: `127.0.0.${i + 1}:8080`, weight: 1, effectiveWeight: 1, inFlight: 0, available: true }));
}

/** Spread request hashes over the 64-bit space deterministically (splitmix-like, 32-bit). */
function requestHash(i: number, out: Hash64): Hash64 {
  out.hi = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  out.lo = Math.imul((i + 1) ^ 0x5bd1e995, 0x85ebca6b) >>> 0;
  return out;
}

export function runBalancerConformance(name: string, options: ConformanceOptions): void {
  const hashModes: (boolean | null)[] = options.usesHash ? [true, null] : [null];
  for (const withHash of hashModes) {
    const label = `${name}${options.usesHash ? (withHash ? ' (hashed)' : ' (no hash: fallback)') : ''}`;
    const h: Hash64 = { hi: 0, lo: 0 };
    const hashFor = (i: number): Hash64 | null => (withHash ? requestHash(i, h) : null);

    describe(`balancer conformance: ${label}`, () => {
      it('returns null before any update and with no endpoints', () => {
        const lb = options.create();
        expect(lb.pick(hashFor(0), null)).toBeNull();
        lb.update([]);
        expect(lb.pick(hashFor(1), null)).toBeNull();
      });

      it('returns null when no endpoint is available', () => {
        const lb = options.create();
        const eps = endpoints(4);
        lb.update(eps);
        for (const e of eps) e.available = false;
        for (let i = 0; i < 50; i++) expect(lb.pick(hashFor(i), null)).toBeNull();
      });

      it('never returns an unavailable endpoint', () => {
        const lb = options.create();
        const eps = endpoints(5);
        lb.update(eps);
        eps[1].available = false;
        eps[3].available = false;
        for (let i = 0; i < 500; i++) {
          const e = lb.pick(hashFor(i), null);
          expect(e).not.toBeNull();
          expect(e!.available).toBe(true);
        }
      });

      it('never returns an excluded endpoint, and null when all are excluded', () => {
        const lb = options.create();
        const eps = endpoints(4);
        lb.update(eps);
        const exclude = [eps[0], eps[2]];
        for (let i = 0; i < 500; i++) {
          const e = lb.pick(hashFor(i), exclude);
          expect(e === eps[1] || e === eps[3]).toBe(true);
        }
        // An excluded endpoint replaced by an equal-key object is still excluded.
        expect(lb.pick(hashFor(7), [{ ...eps[0] }, { ...eps[1] }, { ...eps[2] }, { ...eps[3] }])).toBeNull();
        expect(lb.pick(hashFor(8), eps)).toBeNull();
      });

      it('excluded plus unavailable leaves the one remaining endpoint', () => {
        const lb = options.create();
        const eps = endpoints(3);
        lb.update(eps);
        eps[0].available = false;
        for (let i = 0; i < 50; i++) expect(lb.pick(hashFor(i), [eps[1]])).toBe(eps[2]);
      });

      it('spreads picks over all endpoints', () => {
        const lb = options.create();
        const eps = endpoints(5);
        lb.update(eps);
        const counts = new Map<string, number>();
        const picks = 5000;
        for (let i = 0; i < picks; i++) {
          const e = lb.pick(hashFor(i), null)!;
          counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
        }
        expect(counts.size).toBe(5);
        // Every endpoint gets at least 40% of its fair share (ring arcs, random draws).
        for (const c of counts.values()) expect(c).toBeGreaterThan((picks / 5) * 0.4);
      });

      it('follows update(): removed endpoints are no longer picked, added ones are', () => {
        const lb = options.create();
        const eps = endpoints(4);
        lb.update(eps.slice(0, 2));
        lb.update(eps.slice(1, 4));
        const seen = new Set<string>();
        for (let i = 0; i < 2000; i++) seen.add(lb.pick(hashFor(i), null)!.key);
        expect(seen.has(eps[0].key)).toBe(false);
        expect(seen).toEqual(new Set([eps[1].key, eps[2].key, eps[3].key]));
      });

      it('an eligible override wins over the policy, every time; an unavailable or excluded one is ignored', () => {
        const lb = options.create();
        const eps = endpoints(5);
        lb.update(eps);
        for (let i = 0; i < 200; i++) expect(lb.pick(hashFor(i), null, eps[i % 5])).toBe(eps[i % 5]);
        // Busy, so least request and bounded load would avoid it: the override still wins.
        eps[3].inFlight = 1000;
        for (let i = 0; i < 50; i++) expect(lb.pick(hashFor(i), null, eps[3])).toBe(eps[3]);
        eps[3].inFlight = 0;
        eps[2].available = false;
        for (let i = 0; i < 200; i++) {
          const e = lb.pick(hashFor(i), null, eps[2]);
          expect(e).not.toBeNull();
          expect(e).not.toBe(eps[2]);
          const f = lb.pick(hashFor(i), [eps[4]], eps[4]);
          expect(f === eps[4] || f === eps[2]).toBe(false);
        }
        expect(lb.pick(hashFor(0), eps, eps[0])).toBeNull();
      });

      it('does not keep a reference to the caller array', () => {
        const lb = options.create();
        const eps = endpoints(2);
        const list = eps.slice();
        lb.update(list);
        list.length = 0;
        expect(lb.pick(hashFor(0), null)).not.toBeNull();
      });
    });
  }
}
