// Coarse timeouts for the lean engine: connections register once and arm a
// deadline by writing a number, so the request path never creates, clears or
// re-arms a Node.js timer. One unref'd interval sweeps the registered items
// every `tickMs` and fires the expired ones; a deadline fires between 0 and
// tickMs late, which is fine for connect, header and idle timeouts measured
// in seconds. (HAProxy and nginx use the same idea with a coarse clock.)

/** Something with a deadline; `deadline === 0` means disarmed. */
export interface TimedItem {
  deadline: number;
  onDeadline(): void;
}

export class TimerWheel {
  readonly tickMs: number;
  /** The coarse clock (ms since the epoch), refreshed every tick; arm deadlines relative to it. */
  now = Date.now();
  readonly #items = new Set<TimedItem>();
  #interval: NodeJS.Timeout | null = null;

  constructor(tickMs = 250) {
    this.tickMs = tickMs;
  }

  /** Watch `item` until `remove` (its deadline may change any time). */
  add(item: TimedItem): void {
    this.#items.add(item);
    if (this.#interval === null) {
      this.now = Date.now();
      this.#interval = setInterval(sweep, this.tickMs, this);
      this.#interval.unref();
    }
  }

  remove(item: TimedItem): void {
    this.#items.delete(item);
    if (this.#items.size === 0 && this.#interval !== null) {
      clearInterval(this.#interval);
      this.#interval = null;
    }
  }

  get size(): number {
    return this.#items.size;
  }

  /** Fire every item whose deadline has passed (called by the interval; public for tests). */
  sweep(now: number): void {
    this.now = now;
    for (const item of this.#items) {
      const d = item.deadline;
      if (d !== 0 && d <= now) {
        item.deadline = 0;
        item.onDeadline();
      }
    }
  }
}

function sweep(wheel: TimerWheel): void {
  wheel.sweep(Date.now());
}

/** The wheel shared by every lean connection of the process. */
export const timerWheel = new TimerWheel();
