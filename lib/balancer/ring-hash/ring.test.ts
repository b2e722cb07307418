import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Hash64 } from '../../hash/hash64.ts';
import { hash64ToHex, initXxhash64, xxhash64 } from '../../hash/xxhash64.ts';
import type { BalancerEndpoint } from '../balancer.ts';
import { RoundRobinBalancer } from '../round-robin/round-robin-balancer.ts';
import { buildRing } from './ring.ts';
import type { Ring, RingEndpoint, RingOptions } from './ring.ts';
import { RingHashBalancer } from './ring-hash-balancer.ts';

await initXxhash64();

const STABLE: RingOptions = { mode: 'stable', entriesPerEndpoint: 160, minRingSize: 1024, maxRingSize: 8388608 };
const ENVOY: RingOptions = { mode: 'envoy', entriesPerEndpoint: 160, minRingSize: 1024, maxRingSize: 8388608 };

function endpointsOf(n: number, offset = 0): RingEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.${(i + offset) >> 8}.${(i + offset) & 255}:8080`, weight: 1 }));
}

function keyFor(ring: Ring, endpoints: readonly RingEndpoint[], hash: Hash64): string {
  return endpoints[ring.endpointIndex[ring.find(hash)]].key;
}

/** Deterministic request hashes: xxhash64 of `key-<seed>-<i>`. */
function requestHashes(count: number, seed = 0): Hash64[] {
  const out: Hash64[] = [];
  for (let i = 0; i < count; i++) {
    const h = { hi: 0, lo: 0 };
    xxhash64(`key-${seed}-${i}`, h);
    out.push(h);
  }
  return out;
}

const arbEndpointSet = fc.uniqueArray(
  fc.record({ key: fc.ipV4().map((ip) => `${ip}:80`), weight: fc.integer({ min: 1, max: 4 }) }),
  { minLength: 1, maxLength: 12, selector: (e) => e.key },
);

describe('ring: determinism', () => {
  for (const options of [STABLE, ENVOY]) {
    it(`${options.mode}: the same set in any order gives the same ring`, () => {
      fc.assert(
        fc.property(arbEndpointSet, fc.nat(), (set, rot) => {
          const shuffled = set.slice(rot % set.length).concat(set.slice(0, rot % set.length)).reverse();
          const a = buildRing(set, { ...options, entriesPerEndpoint: 8, minRingSize: 64 });
          const b = buildRing(shuffled, { ...options, entriesPerEndpoint: 8, minRingSize: 64 });
          expect(b.entries).toBe(a.entries);
          expect(Array.from(b.hashHi)).toEqual(Array.from(a.hashHi));
          expect(Array.from(b.hashLo)).toEqual(Array.from(a.hashLo));
          const keysA = Array.from(a.endpointIndex, (i) => set[i].key);
          const keysB = Array.from(b.endpointIndex, (i) => shuffled[i].key);
          expect(keysB).toEqual(keysA);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('find is the first entry >= hash, wrapping past the last entry', () => {
    const ring = buildRing(endpointsOf(3), STABLE);
    for (let k = 1; k < ring.entries; k++) {
      // Exactly at an entry: that entry; one above the previous entry: also that entry.
      expect(ring.find({ hi: ring.hashHi[k], lo: ring.hashLo[k] })).toBe(k);
      const prevLo = ring.hashLo[k - 1];
      const above = prevLo === 0xffffffff ? { hi: ring.hashHi[k - 1] + 1, lo: 0 } : { hi: ring.hashHi[k - 1], lo: prevLo + 1 };
      expect(ring.find(above)).toBe(k);
    }
    expect(ring.find({ hi: 0xffffffff, lo: 0xffffffff })).toBe(ring.hashHi[ring.entries - 1] === 0xffffffff && ring.hashLo[ring.entries - 1] === 0xffffffff ? ring.entries - 1 : 0);
    expect(ring.find({ hi: 0, lo: 0 })).toBe(0);
  });

  it('an empty ring finds nothing', () => {
    const ring = buildRing([], ENVOY);
    expect(ring.entries).toBe(0);
    expect(ring.find({ hi: 1, lo: 2 })).toBe(-1);
  });

  it('stable mode gives entriesPerEndpoint x weight entries, and shares sum to 1', () => {
    const set = [{ key: 'a:1', weight: 1 }, { key: 'b:1', weight: 3 }];
    const ring = buildRing(set, { ...STABLE, entriesPerEndpoint: 100 });
    expect(ring.entries).toBe(400);
    expect(ring.entriesOf(0)).toBe(100);
    expect(ring.entriesOf(1)).toBe(300);
    expect(ring.minEntriesPerEndpoint).toBe(100);
    expect(ring.maxEntriesPerEndpoint).toBe(300);
    expect(ring.share(0) + ring.share(1)).toBeCloseTo(1, 9);
    expect(ring.share(1)).toBeGreaterThan(0.6);
  });
});

describe('ring: stable mode moves only what it must', () => {
  it('adding one endpoint to N moves about 1/(N+1) of keys, all onto the new endpoint', () => {
    const hashes = requestHashes(10_000, 1);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), (n) => {
        const before = endpointsOf(n);
        const after = endpointsOf(n + 1);
        const a = buildRing(before, STABLE);
        const b = buildRing(after, STABLE);
        const newKey = after[n].key;
        let moved = 0;
        for (const h of hashes) {
          const ka = keyFor(a, before, h);
          const kb = keyFor(b, after, h);
          if (ka !== kb) {
            moved++;
            expect(kb).toBe(newKey);
          }
        }
        // Tolerance: the new endpoint's share with 160 entries is within about
        // +-35% of 1/(N+1) (ring variance ~ 1/sqrt(160)), plus sampling noise.
        const ideal = 1 / (n + 1);
        expect(moved / hashes.length).toBeGreaterThan(ideal * 0.6);
        expect(moved / hashes.length).toBeLessThan(ideal * 1.4);
      }),
      { numRuns: 12 },
    );
  });

  it('removing one endpoint moves only the keys it owned', () => {
    const hashes = requestHashes(5_000, 2);
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 20 }), fc.nat(), (n, pick) => {
        const before = endpointsOf(n);
        const removed = before[pick % n].key;
        const after = before.filter((e) => e.key !== removed);
        const a = buildRing(before, STABLE);
        const b = buildRing(after, STABLE);
        for (const h of hashes) {
          const ka = keyFor(a, before, h);
          if (ka !== removed) expect(keyFor(b, after, h)).toBe(ka);
        }
      }),
      { numRuns: 10 },
    );
  });
});

describe('ring: load spread', () => {
  const hashes = requestHashes(10_000, 3);
  for (const options of [STABLE, ENVOY]) {
    it(`${options.mode}: 10k random keys within a tolerance of fair share for N = 3..50`, () => {
      for (const n of [3, 5, 8, 13, 21, 34, 50]) {
        const set = endpointsOf(n);
        const ring = buildRing(set, options);
        const counts = new Array<number>(n).fill(0);
        for (const h of hashes) counts[ring.endpointIndex[ring.find(h)]]++;
        const fair = hashes.length / n;
        // Stated tolerance: |count / fair - 1| <= 3 / sqrt(entries per endpoint)
        // + 3 / sqrt(fair): about 3 sigma of the ring's arc-length spread (an
        // endpoint's share is a sum of k exponential arcs) plus 3 sigma of key
        // sampling. Stable mode has 160 entries each; envoy mode only
        // ceil(1024 / N), 21 at N = 50, hence its wider spread there.
        const tolerance = 3 / Math.sqrt(ring.minEntriesPerEndpoint) + 3 / Math.sqrt(fair);
        for (const c of counts) expect(Math.abs(c / fair - 1)).toBeLessThanOrEqual(tolerance);
      }
    });
  }
});

describe('ring: Envoy golden vectors (test/fixtures/envoy-ring-vectors.json)', () => {
  interface GoldenCase {
    name: string;
    minRingSize: number;
    maxRingSize: number;
    endpoints: { key: string; weight: number; entries: number }[];
    entries: number;
    ring: { hash: string; key: string }[];
    picks: { request: string; hash: string; endpoint: string }[];
  }
  const vectors = JSON.parse(readFileSync(new URL('../../../test/fixtures/envoy-ring-vectors.json', import.meta.url), 'utf8')) as {
    cases: GoldenCase[];
  };

  it('has cases, including one with unequal weights', () => {
    expect(vectors.cases.length).toBeGreaterThanOrEqual(5);
    expect(vectors.cases.some((c) => new Set(c.endpoints.map((e) => e.entries)).size > 1)).toBe(true);
  });

  for (const c of vectors.cases) {
    it(c.name, () => {
      // Feed the endpoints reversed: the ring must not depend on input order.
      const input = c.endpoints.map((e) => ({ key: e.key, weight: e.weight })).reverse();
      const ring = buildRing(input, { mode: 'envoy', entriesPerEndpoint: 1, minRingSize: c.minRingSize, maxRingSize: c.maxRingSize });
      expect(ring.entries).toBe(c.entries);
      for (const e of c.endpoints) expect(ring.entriesOf(input.findIndex((x) => x.key === e.key))).toBe(e.entries);
      c.ring.forEach((entry, k) => {
        expect(hash64ToHex({ hi: ring.hashHi[k], lo: ring.hashLo[k] })).toBe(entry.hash);
        expect(input[ring.endpointIndex[k]].key).toBe(entry.key.slice(0, entry.key.lastIndexOf('_')));
      });
      const h = { hi: 0, lo: 0 };
      for (const p of c.picks) {
        xxhash64(p.request, h);
        expect(hash64ToHex(h)).toBe(p.hash);
        expect(input[ring.endpointIndex[ring.find(h)]].key).toBe(p.endpoint);
      }
    });
  }
});

interface TestEndpoint extends BalancerEndpoint {
  key: string;
  weight: number;
  effectiveWeight: number;
  inFlight: number;
  available: boolean;
}

function testEndpoints(n: number): TestEndpoint[] {
  return endpointsOf(n).map((e) => ({ ...e, effectiveWeight: e.weight, inFlight: 0, available: true }));
}

function ringBalancer(hashBalanceFactor: number | null = null): RingHashBalancer<TestEndpoint> {
  return new RingHashBalancer<TestEndpoint>({ ...STABLE, hashBalanceFactor, fallback: new RoundRobinBalancer<TestEndpoint>() });
}

describe('ring-hash balancer', () => {
  it('ejected endpoints keys go to the next endpoint on the ring and come back when available again', () => {
    const eps = testEndpoints(6);
    const lb = ringBalancer();
    lb.update(eps);
    const hashes = requestHashes(3000, 4);
    const before = hashes.map((h) => lb.pick(h, null)!.key);
    const ejected = eps[2];
    ejected.available = false;
    const during = hashes.map((h) => lb.pick(h, null)!.key);
    const ring = lb.ring;
    let ownedByEjected = 0;
    hashes.forEach((h, i) => {
      if (before[i] === ejected.key) {
        ownedByEjected++;
        expect(during[i]).not.toBe(ejected.key);
        // The next entry clockwise that belongs to another endpoint.
        let k = ring.find(h);
        for (let guard = 0; guard < ring.entries && lb.stats().endpoints[ring.endpointIndex[k]].key === ejected.key; guard++) {
          k = (k + 1) % ring.entries;
        }
        expect(during[i]).toBe(lb.stats().endpoints[ring.endpointIndex[k]].key);
      } else {
        // Healthy endpoints' keys never move.
        expect(during[i]).toBe(before[i]);
      }
    });
    expect(ownedByEjected).toBeGreaterThan(100);
    ejected.available = true;
    expect(hashes.map((h) => lb.pick(h, null)!.key)).toEqual(before);
    expect(lb.rebuilds).toBe(1);
  });

  it('bounded load spills a hot key onto the next endpoint, by Envoy inequality', () => {
    const eps = testEndpoints(4);
    const lb = ringBalancer(1.25);
    lb.update(eps);
    const hot = { hi: 0x12345678, lo: 0x9abcdef0 };
    const home = lb.pick(hot, null)!;
    // T = 8 in flight, all on `home`: total slots = ceil(9 x 1.25) = 12, per endpoint ceil(12/4) = 3.
    home.inFlight = 8;
    const spill = lb.pick(hot, null)!;
    expect(spill).not.toBe(home);
    // At exactly the bound (inFlight === slots) the endpoint still accepts.
    home.inFlight = 3;
    eps.filter((e) => e !== home).forEach((e) => (e.inFlight = 1)); // T = 6: slots = ceil(ceil(7 x 1.25)=9 / 4) = 3
    expect(lb.pick(hot, null)).toBe(home);
    home.inFlight = 4; // T = 7: ceil(8 x 1.25) = 10 -> ceil(2.5) = 3 < 4
    expect(lb.pick(hot, null)).toBe(spill);
    // Every endpoint left is over its bound (the two idle ones are excluded):
    // T = 90, ceil(91 x 1.25) = 114, slots = ceil(114 / 4) = 29; the least overloaded wins.
    const others = eps.filter((e) => e !== home);
    home.inFlight = 50;
    others[0].inFlight = 40;
    others[1].inFlight = 0;
    others[2].inFlight = 0;
    expect(lb.pick(hot, [others[1], others[2]])).toBe(others[0]);
  });

  it('rebuilds only when the (key, weight) set changes; counts missing hashes', () => {
    const lb = ringBalancer();
    const eps = testEndpoints(3);
    lb.update(eps);
    lb.update(eps.slice().reverse().map((e) => ({ ...e })));
    expect(lb.rebuilds).toBe(1);
    lb.update(eps.map((e, i) => ({ ...e, weight: i === 0 ? 2 : 1 })));
    expect(lb.rebuilds).toBe(2);
    expect(lb.stats().entries).toBe(160 * 4);
    expect(lb.hashMissing).toBe(0);
    expect(lb.pick(null, null)).not.toBeNull();
    expect(lb.hashMissing).toBe(1);
  });

  it('never returns an excluded endpoint, walking on to the next', () => {
    const eps = testEndpoints(3);
    const lb = ringBalancer();
    lb.update(eps);
    const h = { hi: 1, lo: 1 };
    const first = lb.pick(h, null)!;
    const second = lb.pick(h, [first])!;
    expect(second).not.toBe(first);
    const third = lb.pick(h, [first, second])!;
    expect([first, second]).not.toContain(third);
    expect(lb.pick(h, eps)).toBeNull();
  });
});
