// The contract every load-balancing policy implements. Balancers are pure:
// no I/O, no timers, no undici, no node:http. The upstream layer owns the
// endpoints and their live state; a balancer only reads it.

import type { Hash64 } from '../hash/hash64.ts';

/** What a balancer may read of an endpoint. The upstream layer keeps these fields current. */
export interface BalancerEndpoint {
  /** `HOST:PORT`, IPv6 as `[ADDR]:PORT`. The ring hashes exactly this text. */
  readonly key: string;
  /** Relative weight, an integer >= 1 (SRV weights; 1 otherwise). The ring is built from it. */
  readonly weight: number;
  /**
   * The weight picks use now: `weight`, scaled down while the endpoint is in
   * slow start (lib/upstream/slow-start.ts), > 0. Round robin, random and
   * least request follow it; the ring does not (moving keys as a weight ramps
   * would break the affinity ring hash exists for).
   */
  readonly effectiveWeight: number;
  /** Requests currently in flight on this endpoint (least_request, bounded load). */
  readonly inFlight: number;
  /** False while the endpoint is ejected or draining: balancers walk past it. */
  readonly available: boolean;
}

/** Ring quality for metrics and the status page (Envoy's ring_hash_lb gauges). */
export interface RingStats {
  readonly entries: number;
  readonly minEntriesPerEndpoint: number;
  readonly maxEntriesPerEndpoint: number;
  readonly rebuilds: number;
  readonly endpoints: readonly { readonly key: string; readonly entries: number; readonly share: number }[];
}

export interface Balancer<E extends BalancerEndpoint = BalancerEndpoint> {
  /** Replace the endpoint set. Called off the request path, only when the set or weights changed. */
  update(endpoints: readonly E[]): void;
  /**
   * Pick an endpoint for one request (one HTTP/1.1 request, one HTTP/2 stream).
   * `hash` is the request's hash when the hash policy yielded one, else null.
   * `exclude` lists endpoints already tried by this request (retries): never return one of them.
   * `override` is an endpoint of the current set the request names itself (a
   * session cookie, lib/forwarding/session-cookie.ts): returned whenever it is
   * eligible (available, not excluded), whatever the policy would pick (ring,
   * bounded load, least request); otherwise ignored. Absent or null on most picks.
   * Returns null when no available endpoint is left.
   */
  pick(hash: Hash64 | null, exclude: readonly E[] | null, override?: E | null): E | null;
  /**
   * Effective weights changed (a slow-start step) but not the set: recompute
   * whatever the policy derived from them. Off the request path; never
   * rebuilds a ring.
   */
  reweight?(): void;
  /** Ring quality, for policies that keep a ring (off the request path; may allocate). */
  stats?(): RingStats;
}
