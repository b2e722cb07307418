// The request side of the contract between the forwarding core and an
// upstream client (undici's DispatchController): the core may pause, resume
// and abort the response it is reading. Every upstream client (our HTTP/1.1
// pool and HTTP/2 client, and the reference clients over node:http and
// node:http2) keeps this state the same way; it only says what pausing,
// resuming and aborting do on its own wire.

import type { Dispatcher } from 'undici';

export abstract class DispatchControllerBase implements Dispatcher.DispatchController {
  #aborted = false;
  #paused = false;
  #reason: Error | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  /** Abort once: record why, then let the client cancel its request and report the error to its handler. */
  abort(reason: Error): void {
    if (this.finished) return;
    this.#aborted = true;
    this.#reason = reason;
    this.aborting(reason);
  }

  pause(): void {
    this.#paused = true;
    this.pausing();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.resuming();
  }

  /** A controller reused for another request (../http1/pool-attempt.ts keeps one per client connection) starts unpaused and unaborted. */
  protected rearm(): void {
    this.#aborted = false;
    this.#paused = false;
    this.#reason = null;
  }

  /** The request is over (completed, failed or aborted): abort() does nothing. */
  protected abstract get finished(): boolean;
  /** Cancel the request on the wire and tell the handler (onResponseError with `reason`). */
  protected abstract aborting(reason: Error): void;
  /** Stop reading the response (or stop delivering what arrives). */
  protected abstract pausing(): void;
  /** Deliver what waited and read on. */
  protected abstract resuming(): void;
}
