// Weighted picks shared by the policies that follow effective weights (SRV
// weights, slow start): whether weights differ at all, and a draw in
// proportion to them. Equal weights, the common case, skip both.

import type { BalancerEndpoint } from './balancer.ts';

/** Whether the endpoints' effective weights are not all the same. */
export function weightsDiffer(list: readonly BalancerEndpoint[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i].effectiveWeight !== list[0].effectiveWeight) return true;
  return false;
}

/** Running sums of the effective weights, by index; null when they are all the same. */
export function cumulativeWeights(list: readonly BalancerEndpoint[]): Float64Array | null {
  if (!weightsDiffer(list)) return null;
  const cumulative = new Float64Array(list.length);
  let sum = 0;
  for (let i = 0; i < list.length; i++) cumulative[i] = sum += list[i].effectiveWeight;
  return cumulative;
}

/** The index whose weight interval holds `r` (in [0, 1)) of the total: a binary search over the running sums. */
export function drawWeighted(cumulative: Float64Array, r: number): number {
  const target = r * cumulative[cumulative.length - 1];
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
