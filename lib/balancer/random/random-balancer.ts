// Random: an eligible endpoint drawn at random, in proportion to its
// effective weight (uniformly when the weights are equal, the common case).
// When the drawn endpoint is not eligible, the next eligible one after it is
// taken (a slight bias towards endpoints that follow unavailable ones, in
// exchange for a bounded pick).

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { eligibleOverride, isEligible } from '../endpoint-eligibility.ts';
import { cumulativeWeights, drawWeighted } from '../weights.ts';

export class RandomBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  /** Running sums of the effective weights, by index; null while they are all the same. */
  #cumulative: Float64Array | null = null;
  readonly #random: () => number;

  /** `random` returns [0, 1); injectable for tests. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(endpoints: readonly E[]): void {
    this.#endpoints = endpoints.slice();
    this.reweight();
  }

  reweight(): void {
    this.#cumulative = cumulativeWeights(this.#endpoints);
  }

  pick(_hash: Hash64 | null, exclude: readonly E[] | null, override: E | null = null): E | null {
    if (override !== null) {
      const chosen = eligibleOverride(override, exclude);
      if (chosen !== null) return chosen;
    }
    const list = this.#endpoints;
    const n = list.length;
    if (n === 0) return null;
    const cumulative = this.#cumulative;
    const start = cumulative === null ? Math.floor(this.#random() * n) : drawWeighted(cumulative, this.#random());
    // Visits each endpoint at most once.
    for (let step = 0; step < n; step++) {
      const e = list[(start + step) % n];
      if (isEligible(e, exclude)) return e;
    }
    return null;
  }
}
