// Which endpoints a pick may return: available and not already tried by this
// request. Shared by every policy so they agree on what "excluded" means.

import type { BalancerEndpoint } from './balancer.ts';

/**
 * True when `endpoint` is in `exclude`. Matches by identity or by key, so an
 * endpoint object replaced by an update() between two attempts still counts as tried.
 */
export function isExcluded(endpoint: BalancerEndpoint, exclude: readonly BalancerEndpoint[] | null): boolean {
  if (exclude === null) return false;
  for (let i = 0; i < exclude.length; i++) {
    const x = exclude[i];
    if (x === endpoint || x.key === endpoint.key) return true;
  }
  return false;
}

/** The request's override (Balancer.pick) when it is eligible, else null: the policy picks. */
export function eligibleOverride<E extends BalancerEndpoint>(override: E | null | undefined, exclude: readonly BalancerEndpoint[] | null): E | null {
  return override != null && isEligible(override, exclude) ? override : null;
}

/** Available and not excluded. */
export function isEligible(endpoint: BalancerEndpoint, exclude: readonly BalancerEndpoint[] | null): boolean {
  return endpoint.available && !isExcluded(endpoint, exclude);
}
