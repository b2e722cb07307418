// Round robin: each pick takes the next eligible endpoint after the previous
// pick. The cursor starts at a random position so that many sidecars started
// together do not all begin with the same pod.
//
// Weighted (SRV weights, slow start): when effective weights differ, picks
// follow smooth weighted round robin, as nginx does it: every pick adds each
// eligible endpoint's weight to its running credit, takes the endpoint with
// the most credit and takes the total weight off it. Over any window of
// total-weight picks each endpoint gets its share, interleaved rather than in
// bursts. Example with weights a=5, b=1, c=1: a a b a c a a, then again.
// That costs a pass over the endpoints per pick, so it runs only while the
// weights differ; equal weights (the common case) keep the O(1) cursor.

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { eligibleOverride, isEligible } from '../endpoint-eligibility.ts';
import { weightsDiffer } from '../weights.ts';

export class RoundRobinBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  #next = 0;
  /** Smooth weighted round robin credits, by index; null while every effective weight is the same. */
  #credit: Float64Array | null = null;
  readonly #random: () => number;

  /** `random` returns [0, 1); injectable for tests. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(endpoints: readonly E[]): void {
    this.#endpoints = endpoints.slice();
    this.#next = endpoints.length === 0 ? 0 : Math.floor(this.#random() * endpoints.length);
    this.#credit = null;
    this.reweight();
  }

  reweight(): void {
    const list = this.#endpoints;
    if (!weightsDiffer(list)) {
      this.#credit = null;
      return;
    }
    // Keep the credits when the set is the same: a step of the weights does not restart the sequence.
    if (this.#credit === null || this.#credit.length !== list.length) this.#credit = new Float64Array(list.length);
  }

  pick(_hash: Hash64 | null, exclude: readonly E[] | null, override: E | null = null): E | null {
    if (override !== null) {
      const chosen = eligibleOverride(override, exclude);
      if (chosen !== null) return chosen;
    }
    const list = this.#endpoints;
    const n = list.length;
    const credit = this.#credit;
    if (credit !== null) return this.#pickWeighted(list, credit, exclude);
    // Visits each endpoint at most once.
    for (let step = 0; step < n; step++) {
      const i = (this.#next + step) % n;
      const e = list[i];
      if (isEligible(e, exclude)) {
        this.#next = (i + 1) % n;
        return e;
      }
    }
    return null;
  }

  #pickWeighted(list: readonly E[], credit: Float64Array, exclude: readonly E[] | null): E | null {
    let best = -1;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (!isEligible(e, exclude)) continue;
      const w = e.effectiveWeight;
      credit[i] += w;
      total += w;
      if (best < 0 || credit[i] > credit[best]) best = i;
    }
    if (best < 0) return null;
    credit[best] -= total;
    return list[best];
  }
}
