// A request body read by ./server-connection.ts, as the forwarding core sees
// it (ExchangeBody). An HTTP/1.1 attempt (./pool-attempt.ts) gets the bytes as
// the client framed them (a chunked body stays chunked: nothing to decode and
// encode again); an upstream client of the dispatch contract (our HTTP/2
// client) gets them decoded, through a stream, with a chunked body's trailers.
// What was forwarded is kept as the client framed it, while it fits
// --retry-buffer and --retries allows another attempt, so an attempt of
// either kind can send it all again (decoding it again for a stream).

import { Readable } from 'node:stream';
import type { ExchangeBody } from '../forwarding/request-body.ts';
import { ChunkedScanner, parseTrailerSection, type ChunkDataSink } from './chunked-scanner.ts';

/** Where the body's bytes come from: the client connection, whose reads stop when a consumer is full. */
export interface BodySource {
  /** A consumer wants more: resume reading the client. */
  bodyWanted(): void;
}

/** An HTTP/1.1 attempt that takes the body as the client framed it. */
export interface RawBodySink {
  /** False when the upstream socket is full (reads stop until it drains). */
  writeBody(bytes: Buffer): boolean;
  /** The whole body was written. */
  bodyEnded(): void;
}

/** The body decoded, for an upstream client; its trailers (a chunked body's) are readable once it ended, as RequestBodyStream's. */
class DecodedBody extends Readable {
  readonly relay: RequestBodyRelay;

  constructor(relay: RequestBodyRelay) {
    super({ highWaterMark: 64 * 1024 });
    this.relay = relay;
    // A client may stop listening before we destroy the stream (its request failed): an unheard error is not an uncaught one.
    this.on('error', noop);
  }

  get trailers(): Record<string, string> | null {
    return this.relay.trailers;
  }

  override _read(): void {
    if (this.relay.stream === this) this.relay.source.bodyWanted();
  }
}

export class RequestBodyRelay implements ExchangeBody, ChunkDataSink {
  readonly source: BodySource;
  /** The body is chunked (else it has a content-length). */
  chunked = false;
  /** The HTTP/1.1 attempt the bytes go to as they are, or null. */
  sink: RawBodySink | null = null;
  /** The decoded stream the current attempt reads, or null. */
  stream: DecodedBody | null = null;
  /** A chunked body's trailer fields (names lower-case), once read; null when none. */
  trailers: Record<string, string> | null = null;
  /** The client's body ended. */
  ended = false;
  #kept: Buffer[] | null = null;
  #keptBytes = 0;
  #limit = 0;
  #discarding = false;
  /** A decoded push was refused (the stream is full): data() says stop reading. */
  #full = false;
  /** The trailer section while it arrives in pieces. */
  #trailerText = '';

  constructor(source: BodySource) {
    this.source = source;
  }

  /** A new body; `keepLimit` > 0: keep what is forwarded, up to that many bytes, for another attempt. */
  reset(chunked: boolean, keepLimit: number): void {
    this.chunked = chunked;
    this.sink = null;
    this.stream = null;
    this.trailers = null;
    this.ended = false;
    this.#kept = keepLimit > 0 ? [] : null;
    this.#keptBytes = 0;
    this.#limit = keepLimit;
    this.#discarding = false;
    this.#full = false;
    this.#trailerText = '';
  }

  /** The stream for a client attempt reads decoded bytes: the connection hands chunk data here (onChunkData). */
  get decoding(): boolean {
    return this.stream !== null && this.chunked;
  }

  /** What was forwarded so far, as the client framed it (while replayable). */
  get kept(): readonly Buffer[] | null {
    return this.#kept;
  }

  get keptBytes(): number {
    return this.#keptBytes;
  }

  // --- ExchangeBody ----------------------------------------------------------
  get replayable(): boolean {
    return this.#kept !== null;
  }

  /** The first attempt goes through a client: the body decoded, from here on. */
  get current(): NodeJS.ReadableStream {
    this.sink = null;
    return (this.stream = new DecodedBody(this));
  }

  replay(): NodeJS.ReadableStream {
    this.sink = null;
    const stream = (this.stream = new DecodedBody(this));
    const kept = this.#kept!;
    if (this.chunked) {
      // Decoded again from the start; the trailers were read the first time if the body has ended.
      const scanner = new ChunkedScanner();
      scanner.reset();
      for (const b of kept) scanner.scan(b, 0, b.length, this);
    } else for (const b of kept) stream.push(b);
    this.#full = false;
    if (this.ended) stream.push(null);
    return stream;
  }

  discard(): void {
    if (this.ended || this.#discarding) return;
    this.#discarding = true;
    this.#kept = null;
    this.sink = null;
    this.stream = null;
    // Reads may be paused for a consumer that is gone: the rest is read and dropped.
    this.source.bodyWanted();
  }

  /** The attempt `sink` takes the body from here: what was kept is its to send first. */
  sendTo(sink: RawBodySink): void {
    this.stream = null;
    this.sink = sink;
  }

  // --- from the connection ----------------------------------------------------
  /** Body bytes as the client framed them (checked against the framing); false: stop reading the client until bodyWanted(). */
  data(bytes: Buffer): boolean {
    if (this.#discarding) return true;
    const kept = this.#kept;
    if (kept !== null) {
      this.#keptBytes += bytes.length;
      if (this.#keptBytes > this.#limit) this.#kept = null;
      else kept.push(bytes);
    }
    const stream = this.stream;
    if (stream !== null) {
      if (!this.chunked) return stream.push(bytes);
      // Decoded by the connection's scanner (onChunkData) before these bytes came.
      const full = this.#full;
      this.#full = false;
      return !full;
    }
    return this.sink === null || this.sink.writeBody(bytes);
  }

  /** The client's body ended. */
  end(): void {
    this.ended = true;
    if (this.#discarding) return;
    if (this.stream !== null) this.stream.push(null);
    else this.sink?.bodyEnded();
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    if (end > start && this.stream !== null && !this.stream.push(buf.subarray(start, end))) this.#full = true;
  }

  /** The trailer section (validated by the scanner: `name: value` lines), in pieces; the last ends with the blank line. */
  onChunkTrailers(buf: Buffer, start: number, end: number): void {
    if (this.trailers !== null) return; // read already (a replay decodes the body again)
    const text = this.#trailerText + buf.toString('latin1', start, end);
    if (!text.endsWith('\r\n\r\n') && text !== '\r\n') {
      this.#trailerText = text;
      return;
    }
    this.#trailerText = '';
    const parsed = parseTrailerSection(text);
    let fields: Record<string, string> | null = null;
    for (const name in parsed) {
      const value = parsed[name];
      (fields ??= {})[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    this.trailers = fields;
  }
}

function noop(): void {}
