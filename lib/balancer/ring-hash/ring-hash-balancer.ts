// Ring hash: a request with a hash goes to the endpoint owning that point of
// the ring (./ring.ts); a request without one goes to the fallback policy.
//
// Unavailable (ejected, draining) endpoints stay in the ring: the pick walks
// clockwise past them to the next eligible endpoint, as gRPC's ring_hash does
// (gRFC A42), so the keys of healthy endpoints never move when one is ejected,
// and the ejected endpoint's keys come back to it when it recovers. Envoy
// instead rebuilds its ring from healthy hosts only, which reshuffles more.
//
// Bounded load (hashBalanceFactor, Envoy's hash_balance_factor, "Consistent
// Hashing with Bounded Loads", https://arxiv.org/abs/1608.01350): with the
// factor as a percentage p (1.25 -> 125), T the requests in flight over the
// available endpoints and w an endpoint's share of their total weight,
//   slots = max(1, ceil(ceil((T + 1) x p / 100) x w))
// and the endpoint accepts the request when its inFlight <= slots (the "+ 1"
// counts the request being placed). This is Envoy's exact inequality
// (thread_aware_lb_impl.cc hostOverloadFactor). An overloaded endpoint is
// skipped like an unavailable one; Envoy probes in a hash-seeded random order
// instead, we keep walking the ring so a hot key spills onto its successors
// deterministically. When every eligible endpoint is over its bound, the least
// overloaded one (inFlight / slots) is returned, as Envoy does.

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint, RingStats } from '../balancer.ts';
import { eligibleOverride, isExcluded } from '../endpoint-eligibility.ts';
import { buildRing } from './ring.ts';
import type { Ring, RingMode } from './ring.ts';

export interface RingHashBalancerOptions<E extends BalancerEndpoint> {
  readonly mode: RingMode;
  readonly entriesPerEndpoint: number;
  readonly minRingSize: number;
  readonly maxRingSize: number;
  /** > 1, or null for no bound. */
  readonly hashBalanceFactor: number | null;
  /** Used for requests whose hash policy yielded no hash. */
  readonly fallback: Balancer<E>;
}

/** Ring quality for metrics and the status page; the shape is the Balancer contract's. */
export type RingHashStats = RingStats;

export class RingHashBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  readonly #options: RingHashBalancerOptions<E>;
  readonly #balancePercent: number;
  /** Sorted by key, one per key: the ring's endpoint indices point into this. */
  #endpoints: readonly E[] = [];
  #ring: Ring;
  /** `key weight` lines of the current ring, to detect real changes. */
  #signature = '';
  #rebuilds = 0;
  #hashMissing = 0;
  // Per-pick "seen" marks without allocation: an endpoint is seen in this pick when its mark equals #epoch.
  #seen = new Uint32Array(0);
  #epoch = 0;

  constructor(options: RingHashBalancerOptions<E>) {
    if (options.hashBalanceFactor !== null && !(options.hashBalanceFactor > 1)) {
      throw new RangeError(`hashBalanceFactor must be > 1 or null, got ${options.hashBalanceFactor}`);
    }
    this.#options = options;
    this.#balancePercent = options.hashBalanceFactor === null ? 0 : Math.round(options.hashBalanceFactor * 100);
    this.#ring = buildRing([], options);
  }

  /** Requests that had no hash and went to the fallback policy. */
  get hashMissing(): number {
    return this.#hashMissing;
  }

  /** How many times the ring was rebuilt (not counting construction). */
  get rebuilds(): number {
    return this.#rebuilds;
  }

  /** Current ring, read-only (tests, bench). */
  get ring(): Ring {
    return this.#ring;
  }

  update(endpoints: readonly E[]): void {
    const sorted = dedupeByKey(endpoints);
    let signature = '';
    for (const e of sorted) signature += `${e.key} ${e.weight}\n`;
    if (signature !== this.#signature) {
      // Build first, then swap: a pick never sees a half-built ring.
      this.#ring = buildRing(sorted, this.#options);
      this.#signature = signature;
      this.#rebuilds++;
    }
    // Same keys in the same (sorted) order, so the ring's indices stay valid
    // even when the endpoint objects themselves were replaced.
    this.#endpoints = sorted;
    if (this.#seen.length < sorted.length) this.#seen = new Uint32Array(sorted.length);
    this.#options.fallback.update(endpoints);
  }

  /**
   * Slow start steps reach only the fallback policy (requests without a key):
   * the ring keeps each endpoint's full weight, as Envoy's ring hash does, so
   * no key moves while a new endpoint ramps up.
   */
  reweight(): void {
    this.#options.fallback.reweight?.();
  }

  pick(hash: Hash64 | null, exclude: readonly E[] | null, override: E | null = null): E | null {
    if (override !== null) {
      const chosen = eligibleOverride(override, exclude);
      if (chosen !== null) return chosen;
    }
    if (hash === null) {
      this.#hashMissing++;
      return this.#options.fallback.pick(null, exclude);
    }
    const ring = this.#ring;
    const list = this.#endpoints;
    const n = list.length;
    if (ring.entries === 0) return null;

    const bounded = this.#balancePercent > 0;
    let totalSlots = 0;
    let totalWeight = 0;
    if (bounded) {
      let inFlight = 0;
      for (let i = 0; i < n; i++) {
        const e = list[i];
        if (!e.available) continue;
        inFlight += e.inFlight;
        totalWeight += e.weight;
      }
      totalSlots = Math.floor(((inFlight + 1) * this.#balancePercent + 99) / 100);
    }

    const seen = this.#seen;
    const epoch = this.#nextEpoch();
    const endpointIndex = ring.endpointIndex;
    const size = ring.entries;
    let entry = ring.find(hash);
    let distinct = 0;
    let leastOverloaded: E | null = null;
    let leastFactor = Infinity;
    // Walk at most the whole ring once, and stop as soon as every endpoint was considered.
    for (let step = 0; step < size && distinct < n; step++, entry = entry + 1 === size ? 0 : entry + 1) {
      const idx = endpointIndex[entry];
      if (seen[idx] === epoch) continue;
      seen[idx] = epoch;
      distinct++;
      const e = list[idx];
      if (!e.available || isExcluded(e, exclude)) continue;
      if (!bounded) return e;
      const slots = Math.max(1, Math.ceil(totalSlots * ((e.weight * 1.0) / totalWeight)));
      if (e.inFlight <= slots) return e;
      const factor = e.inFlight / slots;
      if (factor < leastFactor) {
        leastFactor = factor;
        leastOverloaded = e;
      }
    }
    return leastOverloaded;
  }

  stats(): RingHashStats {
    const ring = this.#ring;
    return {
      entries: ring.entries,
      minEntriesPerEndpoint: ring.minEntriesPerEndpoint,
      maxEntriesPerEndpoint: ring.maxEntriesPerEndpoint,
      rebuilds: this.#rebuilds,
      endpoints: this.#endpoints.map((e, i) => ({ key: e.key, entries: ring.entriesOf(i), share: ring.share(i) })),
    };
  }

  #nextEpoch(): number {
    this.#epoch = (this.#epoch + 1) >>> 0;
    if (this.#epoch === 0) {
      // Wrapped after 2^32 picks: clear stale marks so none equals the new epoch.
      this.#seen.fill(0);
      this.#epoch = 1;
    }
    return this.#epoch;
  }
}

function dedupeByKey<E extends BalancerEndpoint>(endpoints: readonly E[]): E[] {
  const sorted = endpoints.slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const out: E[] = [];
  for (const e of sorted) if (out.length === 0 || out[out.length - 1].key !== e.key) out.push(e);
  return out;
}
