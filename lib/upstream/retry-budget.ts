// Retries may add at most a fixed share of extra load (20% over the last 10 s,
// like Linkerd's retry budget), plus a small floor so a quiet upstream can
// still retry. A storm of failures then cannot multiply the traffic that hits
// a struggling service.

const WINDOW_SECONDS = 10;
const RATIO = 0.2;
/** Retries always allowed per window, whatever the traffic. */
const MIN_RETRIES = 10;

export class RetryBudget {
  readonly #requests = new Uint32Array(WINDOW_SECONDS);
  readonly #retries = new Uint32Array(WINDOW_SECONDS);
  #second = 0;

  /** Count one request at `nowMs` (O(1)). */
  recordRequest(nowMs: number): void {
    this.#advance(nowMs);
    this.#requests[this.#second % WINDOW_SECONDS]++;
  }

  /** Take one retry from the budget; false when the window's budget is spent. */
  tryRetry(nowMs: number): boolean {
    this.#advance(nowMs);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++) {
      requests += this.#requests[i];
      retries += this.#retries[i];
    }
    if (retries >= MIN_RETRIES + RATIO * requests) return false;
    this.#retries[this.#second % WINDOW_SECONDS]++;
    return true;
  }

  #advance(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    if (second === this.#second) return;
    // Clear the buckets of the seconds that passed since the last call.
    const gap = Math.min(second - this.#second, WINDOW_SECONDS);
    for (let i = 1; i <= gap; i++) {
      const b = (this.#second + i) % WINDOW_SECONDS;
      this.#requests[b] = 0;
      this.#retries[b] = 0;
    }
    this.#second = second;
  }
}
