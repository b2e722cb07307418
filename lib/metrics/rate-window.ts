// A cheap sliding window of request and error counts over the last minute, for
// the status page's request rate and error rate. Recording is O(1) and
// allocation-free; reading walks the (60) buckets and happens only on /status.

export interface RateWindow {
  /** Count one finished request; `isError` marks it as a failure as well. */
  record(isError: boolean): void;
  /** Requests per second over the window (or since creation, when younger than the window). */
  requestRate(): number;
  /** Failed / all requests over the window; 0 when there were none. */
  errorRate(): number;
}

export interface RateWindowOptions {
  /** Window length in one-second buckets. Default 60. */
  readonly seconds?: number;
  /** Clock in milliseconds; injectable so tests can move time. Default Date.now. */
  readonly now?: () => number;
}

/**
 * One bucket per second, used as a ring: bucket `s % seconds` holds second `s`,
 * and `stamps` remembers which second it holds, so a bucket left over from a
 * previous lap is recognised as stale and zeroed on first use instead of by a
 * timer. Example with seconds = 60: a request at second 125 lands in bucket 5;
 * if bucket 5 is stamped 65 (a minute ago) it is reset to 0 first.
 */
export function createRateWindow(options: RateWindowOptions = {}): RateWindow {
  const seconds = options.seconds ?? 60;
  if (!Number.isInteger(seconds) || seconds < 1) throw new RangeError(`rate window seconds must be an integer >= 1, got ${seconds}`);
  const now = options.now ?? Date.now;
  const stamps = new Float64Array(seconds).fill(-1);
  const requests = new Float64Array(seconds);
  const errors = new Float64Array(seconds);
  const createdSecond = Math.floor(now() / 1000);

  // Sums the buckets that belong to the last `seconds` seconds, ending now.
  function sum(counts: Float64Array): number {
    const current = Math.floor(now() / 1000);
    let total = 0;
    for (let i = 0; i < seconds; i++) {
      if (stamps[i] > current - seconds && stamps[i] <= current) total += counts[i];
    }
    return total;
  }

  return {
    record(isError: boolean): void {
      const second = Math.floor(now() / 1000);
      const index = second % seconds;
      if (stamps[index] !== second) {
        stamps[index] = second;
        requests[index] = 0;
        errors[index] = 0;
      }
      requests[index]++;
      if (isError) errors[index]++;
    },
    requestRate(): number {
      // A young endpoint is judged over its own lifetime, so 10 requests in its
      // first 5 s read as 2 req/s rather than 10/60.
      const age = Math.floor(now() / 1000) - createdSecond + 1;
      return sum(requests) / Math.min(seconds, Math.max(1, age));
    },
    errorRate(): number {
      const total = sum(requests);
      return total === 0 ? 0 : sum(errors) / total;
    },
  };
}
