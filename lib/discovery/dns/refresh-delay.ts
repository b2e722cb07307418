// When to ask DNS again: after a success (refresh interval, optionally bounded
// by the record TTL) and after a failure (exponential backoff). Pure, so the
// arithmetic is tested without clocks.

/** A TTL-driven refresh never goes faster than this, even for TTL 0 records. */
export const MIN_TTL_REFRESH_MS = 250;
/** The first retry after a failed resolution; doubles per consecutive failure up to refreshMs. */
export const INITIAL_BACKOFF_MS = 250;
/** +-10%: spreads the queries of many sidecars started together (one Deployment rollout) over time. */
export const DEFAULT_JITTER = 0.1;

export interface SuccessDelayInput {
  readonly refreshMs: number;
  readonly respectTtl: boolean;
  /** Smallest TTL (seconds) among the records used, or null when unknown (SRV answers carry none in Node). */
  readonly minTtlSeconds: number | null;
  readonly jitter: number;
  /** A uniform sample in [0, 1). */
  readonly random: number;
}

/**
 * refreshMs with +-jitter; with respectTtl, min(TTL, refreshMs) where the TTL
 * part is floored at MIN_TTL_REFRESH_MS and only jittered downwards, so a
 * record is never used past its TTL and a TTL of 0 cannot turn into a query storm.
 * Example: refreshMs 5000, TTL 1 s -> 900..1000 ms; TTL 0 -> 250 ms; TTL 30 s -> 4500..5500 ms.
 */
export function successDelayMs(input: SuccessDelayInput): number {
  const { refreshMs, jitter, random } = input;
  if (input.respectTtl && input.minTtlSeconds !== null) {
    const ttlMs = Math.max(MIN_TTL_REFRESH_MS, input.minTtlSeconds * 1000);
    if (ttlMs < refreshMs) {
      return Math.max(MIN_TTL_REFRESH_MS, Math.round(ttlMs * (1 - jitter * random)));
    }
  }
  return Math.max(1, Math.round(refreshMs * (1 + jitter * (2 * random - 1))));
}

/**
 * Delay before retry number `failures` (1 = first failure): 250, 500, 1000, ...
 * capped at refreshMs, then jittered +-jitter (never above the cap).
 */
export function backoffDelayMs(failures: number, refreshMs: number, jitter: number, random: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const base = Math.min(refreshMs, INITIAL_BACKOFF_MS * 2 ** exponent);
  return Math.max(1, Math.min(refreshMs, Math.round(base * (1 + jitter * (2 * random - 1)))));
}
