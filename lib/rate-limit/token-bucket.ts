// A token bucket (the local rate limit, and the shape the Redis budget keeps
// too): `burst` tokens at most, refilled continuously at `rate` per second,
// one token per request. Pure arithmetic on a monotonic clock passed in
// (performance.now() milliseconds): no timers, nothing allocated per take.
//
// Worked example, 2/s with burst 2: full at t=0, takes at 0, 0 and 0 give
// ok, ok, refused (wait 500 ms); at t=250 the bucket holds 0.5 (refused, wait
// 250 ms); at t=500 it holds 1 again (ok).

/** A place to take one token from: 0 when taken, else milliseconds until one is expected. */
export interface Bucket {
  take(now: number): number;
}

/** Float slack on "one whole token" (see take()). */
const EPSILON = 1e-9;

export class TokenBucket implements Bucket {
  readonly ratePerMs: number;
  readonly burst: number;
  tokens: number;
  /** The clock reading `tokens` was last brought up to date at. */
  last: number;

  constructor(ratePerSecond: number, burst: number, now: number) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError(`rate must be > 0 per second, got ${ratePerSecond}`);
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError(`burst must be >= 1, got ${burst}`);
    this.ratePerMs = ratePerSecond / 1000;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): number {
    let tokens = this.tokens;
    // A clock reading older than the last one (never with performance.now(); tolerated) adds nothing.
    if (now > this.last) {
      tokens += (now - this.last) * this.ratePerMs;
      if (tokens > this.burst) tokens = this.burst;
      this.last = now;
    }
    // Refilled in float steps, a token due exactly now can read 0.9999999999:
    // a client pacing at the rate would then be refused every other time.
    if (tokens >= 1 - EPSILON) {
      this.tokens = tokens - 1;
      return 0;
    }
    this.tokens = tokens;
    return (1 - tokens) / this.ratePerMs;
  }
}

/** One second's worth of tokens, and at least one: the burst when none is configured. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.ceil(ratePerSecond));
}
