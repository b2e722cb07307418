// Random: a uniformly random eligible endpoint. When the drawn endpoint is not
// eligible, the next eligible one after it is taken (a slight bias towards
// endpoints that follow unavailable ones, in exchange for a bounded pick).

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { isEligible } from '../endpoint-eligibility.ts';

export class RandomBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  readonly #random: () => number;

  /** `random` returns [0, 1); injectable for tests. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(endpoints: readonly E[]): void {
    this.#endpoints = endpoints.slice();
  }

  pick(_hash: Hash64 | null, exclude: readonly E[] | null): E | null {
    const list = this.#endpoints;
    const n = list.length;
    if (n === 0) return null;
    const start = Math.floor(this.#random() * n);
    // Visits each endpoint at most once.
    for (let step = 0; step < n; step++) {
      const e = list[(start + step) % n];
      if (isEligible(e, exclude)) return e;
    }
    return null;
  }
}
