// Least request by the power of two choices: draw two distinct eligible
// endpoints at random and take the one with fewer requests in flight (ties go
// to the first draw). With weights, the comparison is in flight per unit of
// weight, so a weight-2 endpoint is allowed twice the load.
// See Envoy's least_request LB: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { isEligible } from '../endpoint-eligibility.ts';

export class LeastRequestBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
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
    const first = this.#eligibleFrom(Math.floor(this.#random() * n), -1, exclude);
    if (first < 0) return null;
    if (n === 1) return list[first];
    // Second draw among the other n-1 positions, then scan on to an eligible one.
    const offset = 1 + Math.floor(this.#random() * (n - 1));
    const second = this.#eligibleFrom((first + offset) % n, first, exclude);
    if (second < 0) return list[first];
    const a = list[first];
    const b = list[second];
    // a.inFlight / a.weight <= b.inFlight / b.weight, without division.
    return b.inFlight * a.weight < a.inFlight * b.weight ? b : a;
  }

  /** Index of the first eligible endpoint at or after `start` (wrapping), other than `skip`; -1 if none. */
  #eligibleFrom(start: number, skip: number, exclude: readonly E[] | null): number {
    const list = this.#endpoints;
    const n = list.length;
    for (let step = 0; step < n; step++) {
      const i = (start + step) % n;
      if (i !== skip && isEligible(list[i], exclude)) return i;
    }
    return -1;
  }
}
