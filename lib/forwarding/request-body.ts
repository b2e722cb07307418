// A request body as undici consumes it, detached from the client's stream.
//
// Two reasons for the indirection:
// - undici consumes a body with stream.pipeline(), which destroys the body
//   stream when done or failed. For an Http2Stream that would also destroy the
//   response half we are still writing to; for an HTTP/1.1 IncomingMessage it
//   would kill the client's socket before we could answer 502.
// - a retry needs the body again. The tap records what it forwarded, up to a
//   bound (--retry-buffer); `replay()` gives a fresh stream that re-emits the
//   recorded bytes and continues with the rest of the client's body.
//
// Data flows with backpressure: the source is paused when the current
// stream's buffer is full and resumed from _read.

import { Readable } from 'node:stream';

/**
 * What the core needs of a request body: whether it can be sent again, and
 * the stream an upstream client reads. RequestBodyTap below for the
 * reference codecs; ../http1/ has its own, which can also go out as the bytes
 * the client sent.
 */
export interface ExchangeBody {
  /** Everything forwarded so far is still held (within --retry-buffer): the body can be sent again. */
  readonly replayable: boolean;
  /** The stream the first attempt sends. */
  readonly current: NodeJS.ReadableStream;
  /** A stream that carries the whole body again; called only while `replayable`. */
  replay(): NodeJS.ReadableStream;
  /** The exchange is over: read the rest of the client's body and drop it. */
  discard(): void;
}

export class RequestBodyTap implements ExchangeBody {
  readonly source: Readable;
  readonly #limit: number;
  /** Chunks forwarded so far, or null once they exceeded the limit (no replay). */
  #recorded: Buffer[] | null = [];
  #recordedBytes = 0;
  #ended = false;
  /** The exchange is over: the rest of the client's body is read and dropped (see discard). */
  #discarding = false;
  /**
   * The client's request trailers (an HTTP/2 trailing HEADERS frame, or the
   * trailer section of an HTTP/1.1 chunked body), set before the body ends;
   * null when it had none. Upstream clients read them from the body stream
   * (`RequestBodyStream.trailers`) once it has ended.
   */
  trailers: Record<string, string> | null = null;
  current: RequestBodyStream;

  constructor(source: Readable, replayLimit: number) {
    this.source = source;
    this.#limit = replayLimit;
    this.current = new RequestBodyStream(this);
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    // node:http2 emits 'trailers' when the trailing HEADERS frame arrives,
    // before 'end'; node:http fills IncomingMessage.trailers before 'end'.
    source.on('trailers', (trailers: Record<string, string | string[] | undefined>) => this.#setTrailers(trailers));
    source.on('end', () => {
      const http1Trailers = (source as { trailers?: Record<string, string | string[] | undefined> }).trailers;
      if (this.trailers === null && http1Trailers !== undefined) this.#setTrailers(http1Trailers);
      this.#ended = true;
      this.current.push(null);
    });
    source.on('close', () => {
      if (!this.#ended) this.current.destroy(new Error('the client aborted the request body'));
    });
  }

  #onData(chunk: Buffer): void {
    // Empty DATA frames carry nothing, and a flood of zero-length writes on an
    // upstream HTTP/2 stream that is then reset wedges node:http2 natively
    // (100% CPU, unbounded memory): never forward them.
    if (chunk.length === 0 || this.#discarding) return;
    if (this.#recorded !== null) {
      this.#recordedBytes += chunk.length;
      if (this.#recordedBytes <= this.#limit) this.#recorded.push(chunk);
      else this.#recorded = null;
    }
    if (!this.current.push(chunk)) this.source.pause();
  }

  #setTrailers(fields: Record<string, string | string[] | undefined>): void {
    let out: Record<string, string> | null = null;
    for (const name in fields) {
      const value = fields[name];
      if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
      (out ??= {})[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    this.trailers = out;
  }

  /**
   * The exchange ended (its response is complete, or it failed) before the
   * client's body did: nothing reads `current` any more, so the source it
   * paused would stay paused and the client, held by flow control, could never
   * finish sending (its HTTP/2 stream never closes). Read on and drop the rest,
   * as node:http's server does with an unread request body.
   */
  discard(): void {
    if (this.#ended || this.#discarding) return;
    this.#discarding = true;
    this.#recorded = null;
    this.source.resume();
  }

  /** Everything forwarded so far is still recorded: replay() can send it again. */
  get replayable(): boolean {
    return this.#recorded !== null;
  }

  /** A new stream carrying the whole body again (only while replayable). */
  replay(): RequestBodyStream {
    if (this.#recorded === null) throw new Error('RequestBodyTap.replay: more was forwarded than the replay buffer holds');
    const next = new RequestBodyStream(this);
    for (const chunk of this.#recorded) next.push(chunk);
    if (this.#ended) next.push(null);
    this.current = next;
    return next;
  }
}

export class RequestBodyStream extends Readable {
  readonly #tap: RequestBodyTap;

  constructor(tap: RequestBodyTap) {
    super({ highWaterMark: 64 * 1024 });
    this.#tap = tap;
    // undici reports body failures through the dispatch handler and may stop
    // listening before we destroy the stream (client gone, shutdown): an
    // unheard 'error' here must not become an uncaught exception.
    this.on('error', noop);
  }

  /** The request's trailers once this body has ended (null when none). */
  get trailers(): Record<string, string> | null {
    return this.#tap.trailers;
  }

  override _read(): void {
    if (this.#tap.current === this) this.#tap.source.resume();
  }
}

function noop(): void {}
