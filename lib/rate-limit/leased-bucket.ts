// A bucket whose tokens are leased from the shared Redis budget in small
// batches (./redis-budget.ts), so the request path never waits on Redis: a
// request takes a leased token (a counter decrement), and when the lease runs
// low a new one is asked for in the background, before it runs out.
//
// Sizing, so that several sidecars at low rates do not overshoot: a batch is
// about 100 ms of this sidecar's share of the rate (rate / sidecars seen), at
// least 1 and at most its share of the burst; leased tokens expire after 1 s
// unused, so a sidecar cannot hoard tokens and spend them later as a burst.
// At 50/s and 2 sidecars a batch is 3 tokens; at 1/s it is 1.
//
// The first request of a new bucket, before Redis has answered its first
// lease, goes on credit (one token, repaid from the next tokens leased): a new
// key never waits for a round trip, at the price of at most one request per
// sidecar per new bucket above the limit at that moment. So does the first
// request to a bucket idle for longer than LEASE_TTL_MS (its tokens dropped),
// one credit unpaid at most. While Redis cannot
// be reached, requests pass (fail open) or are refused (fail closed), and a
// lease is tried again at most every 250 ms per bucket.

import type { Bucket } from './token-bucket.ts';

/** What a leased bucket needs from the shared budget. */
export interface LeaseSource {
  readonly reachable: boolean;
  readonly failClosed: boolean;
  /** Ask for `want` tokens for `bucket` (answered with bucket.leased or bucket.leaseFailed). */
  lease(bucket: LeasedBucket, want: number, now: number): void;
  /** A lease took too long: count it and treat Redis as unreachable. */
  leaseTimedOut(now: number): void;
}

/** How long a batch should last at this sidecar's share of the rate. */
const BATCH_MS = 100;
/** Leased tokens not used within this are dropped. */
export const LEASE_TTL_MS = 1000;
/** A lease unanswered this long counts as a failure (the request path never waits for it). */
export const LEASE_TIMEOUT_MS = 250;
/** After a failed lease, the next try waits this long. */
const RETRY_MS = 250;
/** Retry-After when failing closed. */
const CLOSED_WAIT_MS = 1000;

export class LeasedBucket implements Bucket {
  readonly source: LeaseSource;
  /** The Redis keys: the bucket, and the upstream's sidecar set. */
  readonly redisKey: string;
  readonly membersKey: string;
  readonly ratePerMs: number;
  readonly burst: number;
  tokens = 0;
  expiresAt = 0;
  /** Tokens used on credit, repaid from the next lease. */
  debt = 0;
  fresh = true;
  inFlight = false;
  leaseStartedAt = 0;
  /** No new lease before this (after a refusal or a failure). */
  nextLeaseAt = 0;
  /** Tokens per lease, and the level that triggers the next lease. */
  batch = 1;
  lowWater = 0;
  /** Redis's estimate of ms until its next token, from the last short lease. */
  waitMs = 0;

  constructor(source: LeaseSource, redisKey: string, membersKey: string, ratePerSecond: number, burst: number, now: number) {
    this.source = source;
    this.redisKey = redisKey;
    this.membersKey = membersKey;
    this.ratePerMs = ratePerSecond / 1000;
    this.burst = burst;
    this.#size(1);
    // Lease at once: the first requests then find tokens.
    this.#lease(now);
  }

  take(now: number): number {
    if (this.inFlight && now - this.leaseStartedAt > LEASE_TIMEOUT_MS) {
      this.inFlight = false;
      this.nextLeaseAt = now + RETRY_MS;
      this.source.leaseTimedOut(now);
    }
    if (this.tokens > 0) {
      if (now < this.expiresAt) {
        this.tokens--;
        this.fresh = false;
        // Low, or half its life gone (tokens left at expiry are dropped, and requests would wait for the next lease): lease more.
        if ((this.tokens <= this.lowWater || now >= this.expiresAt - LEASE_TTL_MS / 2) && !this.inFlight && now >= this.nextLeaseAt) this.#lease(now);
        return 0;
      }
      this.tokens = 0;
    }
    if (!this.inFlight && now >= this.nextLeaseAt) this.#lease(now);
    const source = this.source;
    if (!source.reachable) return source.failClosed ? CLOSED_WAIT_MS : 0;
    // Nothing held because nothing was asked of this bucket for a while (new, or idle for longer
    // than leased tokens live): the request goes on credit, as a new bucket's first one does,
    // rather than being refused for a lease only just asked for. Not while Redis's last answer
    // said it has none yet (nextLeaseAt), nor while a credit is unpaid, nor when the held tokens
    // were used up (expiresAt ahead): then Redis is the authority.
    if (this.debt === 0 && now >= this.expiresAt && now >= this.nextLeaseAt) {
      this.fresh = false;
      this.debt = 1;
      return 0;
    }
    return this.waitMs > 0 ? this.waitMs : 1 / this.ratePerMs;
  }

  #lease(now: number): void {
    this.inFlight = true;
    this.leaseStartedAt = now;
    this.source.lease(this, this.batch + this.debt, now);
  }

  /** The answer to a lease: `granted` tokens, Redis's wait when short, and how many sidecars share the bucket. */
  leased(granted: number, waitMs: number, sidecars: number, now: number): void {
    this.inFlight = false;
    // Redis has answered once: no more credit (it said what there is).
    this.fresh = false;
    const repaid = granted > 0 && this.debt > 0;
    let usable = granted - this.debt;
    if (usable < 0) {
      this.debt = -usable;
      usable = 0;
    } else this.debt = 0;
    if (usable > 0) {
      // The tokens still held live on with the new ones: at most a batch and a half is ever held.
      this.tokens += usable;
      this.expiresAt = now + LEASE_TTL_MS;
    }
    this.waitMs = waitMs;
    this.#size(sidecars);
    // Short: come back when Redis expects a token, not on every request.
    this.nextLeaseAt = granted === 0 ? now + Math.max(1, waitMs) : 0;
    // Still low because the lease went to repaying credit (batches of 1 at low
    // rates): fetch the next one now, so the next request finds a token. Only
    // then: re-leasing after every grant made a sidecar under load take each
    // token the moment Redis refilled it, and starved the others sharing the
    // bucket (0.2 of 50/s for one of two sidecars offered 100/s each).
    if (repaid && this.tokens <= this.lowWater) this.#lease(now);
  }

  leaseFailed(now: number): void {
    this.inFlight = false;
    this.nextLeaseAt = now + RETRY_MS;
  }

  #size(sidecars: number): void {
    const share = this.ratePerMs / Math.max(1, sidecars);
    const burstShare = Math.max(1, Math.floor(this.burst / Math.max(1, sidecars)));
    this.batch = Math.min(burstShare, Math.max(1, Math.ceil(share * BATCH_MS)));
    this.lowWater = this.batch >> 1;
  }
}
