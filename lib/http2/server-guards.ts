// The per-connection counters our HTTP/2 server (./server-session.ts) defends
// itself with, as plain numbers: the rapid-reset token bucket
// (CVE-2023-44487), per-second counts of control frames and of empty frames
// (CVE-2019-9512, -9515, -9518) and of the resets they provoke (-9514), and a ring of lately closed streams, which
// tells a frame on a closed stream from one on an idle stream (RFC 9113
// section 5.1: STREAM_CLOSED, or PROTOCOL_ERROR).

import { timerWheel } from '../io/timer-wheel.ts';

/** Client RST_STREAMs allowed in a burst, and per second after it (what the listener gave node:http2: streamResetBurst, streamResetRate). */
const RESET_BURST = 100;
const RESET_RATE = 33;
/** Empty DATA frames (without END_STREAM) and WINDOW_UPDATEs on closed streams tolerated per second before it is a flood. */
const MAX_EMPTY_FRAMES = 1000;
/** SETTINGS and PING frames tolerated per second, even from a client that reads the acks (a flood costs us an ack each). */
const MAX_CONTROL_FRAMES = 10_000;
/** RST_STREAMs we send per second (malformed requests, frames on closed streams, ...) before the client is cut (CVE-2019-9514). */
const MAX_OUR_RESETS = 1000;
/** Streams closed lately, remembered to tell a frame on a closed stream from one on an idle one. */
const CLOSED_RING = 64;

// How a stream closed, for frames that still come on it (section 5.1).
/** Both sides ended: more frames are a connection error STREAM_CLOSED. */
export const C_ENDED = 1;
/** The client reset it: a stream error STREAM_CLOSED. */
export const C_CLIENT_RESET = 2;
/** We reset it: frames in flight are ignored. */
export const C_WE_RESET = 3;

export class ServerGuards {
  #resetTokens = RESET_BURST;
  #resetRefilled = timerWheel.now;
  #emptyFrames = 0;
  #controlFrames = 0;
  #ourResets = 0;
  /** When the current second of the per-second counts began. */
  #countsSince = 0;
  readonly #closedIds = new Int32Array(CLOSED_RING);
  readonly #closedHow = new Uint8Array(CLOSED_RING);
  #closedNext = 0;

  /** A client reset one of its streams: false when that is more than the bucket allows (rapid reset). */
  reset(): boolean {
    const now = timerWheel.now;
    if (now > this.#resetRefilled) {
      this.#resetTokens = Math.min(RESET_BURST, this.#resetTokens + ((now - this.#resetRefilled) * RESET_RATE) / 1000);
      this.#resetRefilled = now;
    }
    return --this.#resetTokens >= 0;
  }

  /** One more SETTINGS or PING frame (`control`) or empty frame this second; true when over the limit. */
  count(control: boolean): boolean {
    this.#second();
    return control ? ++this.#controlFrames > MAX_CONTROL_FRAMES : ++this.#emptyFrames > MAX_EMPTY_FRAMES;
  }

  /** We sent one more RST_STREAM in our defence this second; true when that is a flood the client provokes. */
  ourReset(): boolean {
    this.#second();
    return ++this.#ourResets > MAX_OUR_RESETS;
  }

  #second(): void {
    const now = timerWheel.now;
    if (now - this.#countsSince >= 1000) {
      this.#countsSince = now;
      this.#emptyFrames = 0;
      this.#controlFrames = 0;
      this.#ourResets = 0;
    }
  }

  /** Stream `streamId` closed `how` (C_ENDED, C_CLIENT_RESET, C_WE_RESET). */
  closed(streamId: number, how: number): void {
    const i = this.#closedNext;
    this.#closedIds[i] = streamId;
    this.#closedHow[i] = how;
    this.#closedNext = (i + 1) % CLOSED_RING;
  }

  /** How `streamId` closed, or 0 when it is not among the lately closed (long closed, or never opened). */
  howClosed(streamId: number): number {
    const ids = this.#closedIds;
    for (let i = 0; i < CLOSED_RING; i++) if (ids[i] === streamId) return this.#closedHow[i];
    return 0;
  }
}
