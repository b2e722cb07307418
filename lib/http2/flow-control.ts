// Connection-level flow control (RFC 9113 section 5.2), shared by our client
// and server sessions. Stream windows live on the stream objects (plain
// numbers); the connection's receive side is this.

import { MAX_WINDOW } from './frames.ts';

/**
 * The connection's receive window. It is credited as DATA arrives (the
 * stream windows, credited only as the consumer takes the data, bound the
 * memory), so it only has to be large enough that it never throttles
 * several streams at once.
 */
export class ConnectionReceiveWindow {
  /** What the peer may still send on the connection. */
  window: number;
  readonly size: number;
  #unacked = 0;

  /** `size`: the window we announce (the difference to 65,535 goes out in a WINDOW_UPDATE with our SETTINGS). */
  constructor(size: number) {
    this.size = size;
    this.window = size;
  }

  /**
   * `length` bytes of DATA arrived. Returns -1 when they exceed the window
   * (a connection FLOW_CONTROL_ERROR), else the increment to send in a
   * WINDOW_UPDATE on stream 0 now (0: none yet).
   */
  consume(length: number): number {
    if (length > this.window) return -1;
    this.window -= length;
    this.#unacked += length;
    if (this.#unacked < this.size / 2) return 0;
    const n = this.#unacked;
    this.#unacked = 0;
    this.window += n;
    return n;
  }
}

/** A send window after a WINDOW_UPDATE of `increment`; above 2^31-1 is a FLOW_CONTROL_ERROR (section 6.9.1): -1. */
export function grow(window: number, increment: number): number {
  const next = window + increment;
  return next > MAX_WINDOW ? -1 : next;
}
