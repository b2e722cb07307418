// Round robin: each pick takes the next eligible endpoint after the previous
// pick. The cursor starts at a random position so that many sidecars started
// together do not all begin with the same pod.

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { isEligible } from '../endpoint-eligibility.ts';

export class RoundRobinBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  #next = 0;
  readonly #random: () => number;

  /** `random` returns [0, 1); injectable for tests. */
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  update(endpoints: readonly E[]): void {
    this.#endpoints = endpoints.slice();
    this.#next = endpoints.length === 0 ? 0 : Math.floor(this.#random() * endpoints.length);
  }

  pick(_hash: Hash64 | null, exclude: readonly E[] | null): E | null {
    const list = this.#endpoints;
    const n = list.length;
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
}
