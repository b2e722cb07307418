// Least request by the power of two choices: draw two distinct eligible
// endpoints at random and take the one with fewer requests in flight (ties go
// to the first draw).
//
// With weights (SRV weights, slow start) the draws are in proportion to the
// effective weights and the comparison is (in flight + 1) per unit of weight,
// so a weight-2 endpoint is allowed twice the load, and an endpoint ramping
// up at 10% of its weight loses to an idle full-weight one even at low load,
// where both have nothing in flight (Envoy weighs by weight / (active + 1) for
// the same reason). With equal weights this is the plain comparison.
// See Envoy's least_request LB: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { isEligible } from '../endpoint-eligibility.ts';
import { cumulativeWeights, drawWeighted } from '../weights.ts';

export class LeastRequestBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  /** Running sums of the effective weights; null while they are all the same (uniform draws). */
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

  pick(_hash: Hash64 | null, exclude: readonly E[] | null): E | null {
    const list = this.#endpoints;
    const n = list.length;
    if (n === 0) return null;
    const cumulative = this.#cumulative;
    if (cumulative !== null) return this.#pickWeighted(list, cumulative, exclude);
    const first = this.#eligibleFrom(Math.floor(this.#random() * n), -1, exclude);
    if (first < 0) return null;
    if (n === 1) return list[first];
    // Second draw among the other n-1 positions, then scan on to an eligible one.
    const offset = 1 + Math.floor(this.#random() * (n - 1));
    const second = this.#eligibleFrom((first + offset) % n, first, exclude);
    if (second < 0) return list[first];
    const a = list[first];
    const b = list[second];
    return b.inFlight < a.inFlight ? b : a;
  }

  #pickWeighted(list: readonly E[], cumulative: Float64Array, exclude: readonly E[] | null): E | null {
    const first = this.#eligibleFrom(drawWeighted(cumulative, this.#random()), -1, exclude);
    if (first < 0) return null;
    // A second weighted draw that lands on the first is moved to the next position.
    let second = drawWeighted(cumulative, this.#random());
    if (second === first) second = (first + 1) % list.length;
    second = this.#eligibleFrom(second, first, exclude);
    if (second < 0) return list[first];
    const a = list[first];
    const b = list[second];
    // (a.inFlight + 1) / a.w <= (b.inFlight + 1) / b.w, without division.
    return (b.inFlight + 1) * a.effectiveWeight < (a.inFlight + 1) * b.effectiveWeight ? b : a;
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
