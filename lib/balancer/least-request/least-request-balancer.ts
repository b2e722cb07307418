// Least request by the power of two choices: draw two distinct eligible
// endpoints at random and take the one with fewer requests in flight (ties go
// to the first draw).
//
// With unequal weights (SRV weights, slow start) a pick is one random draw in
// proportion to effectiveWeight / (in flight + 1), as Envoy's weighted least
// request does it: a weight-2 endpoint is allowed twice the load, and an
// endpoint ramping up at 10% of its weight gets about 10% of a share even at
// low load, where nothing is in flight and a two-way comparison would tie.
// See Envoy's least_request LB: https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request

import type { Hash64 } from '../../hash/hash64.ts';
import type { Balancer, BalancerEndpoint } from '../balancer.ts';
import { eligibleOverride, isEligible } from '../endpoint-eligibility.ts';
import { weightsDiffer } from '../weights.ts';

export class LeastRequestBalancer<E extends BalancerEndpoint = BalancerEndpoint> implements Balancer<E> {
  #endpoints: readonly E[] = [];
  /** Effective weights differ (SRV weights, slow start): picks follow them. */
  #weighted = false;
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
    this.#weighted = weightsDiffer(this.#endpoints);
  }

  pick(_hash: Hash64 | null, exclude: readonly E[] | null, override: E | null = null): E | null {
    if (override !== null) {
      const chosen = eligibleOverride(override, exclude);
      if (chosen !== null) return chosen;
    }
    const list = this.#endpoints;
    const n = list.length;
    if (n === 0) return null;
    if (this.#weighted) return this.#pickWeighted(list, exclude);
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

  /**
   * Unequal weights: one draw over the eligible endpoints in proportion to
   * effectiveWeight / (in flight + 1), Envoy's weighted least request (there
   * an EDF schedule over the same dynamic weights). At low load, where little
   * is in flight, shares follow the weights; busy endpoints lose share as
   * their requests pile up. A pass over the endpoints, only while weights differ.
   */
  #pickWeighted(list: readonly E[], exclude: readonly E[] | null): E | null {
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (isEligible(e, exclude)) total += e.effectiveWeight / (e.inFlight + 1);
    }
    if (total === 0) return null;
    let r = this.#random() * total;
    let last: E | null = null;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (!isEligible(e, exclude)) continue;
      last = e;
      r -= e.effectiveWeight / (e.inFlight + 1);
      if (r < 0) return e;
    }
    return last; // rounding left r at 0
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
