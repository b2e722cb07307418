// The request body of a stream of our HTTP/2 server, as the forwarding core
// takes it (../forwarding/request-body.ts ExchangeBody): the session pushes
// DATA in, an upstream client reads `current`, and reading is what credits
// the client's stream window (backpressure). It records what it forwarded up
// to --retry-buffer, so a retry can send the body again (`replay`). It does
// what the core's RequestBodyTap does over node:http2's stream, without a
// second stream in between or listeners and closures per request.

import { Readable } from 'node:stream';
import type { ExchangeBody } from '../forwarding/request-body.ts';
import type { ServerStream } from './server-stream.ts';

export class ServerRequestBody implements ExchangeBody {
  readonly stream: ServerStream;
  /** --retry-buffer */
  readonly #limit: number;
  /** Chunks forwarded so far, or null once they exceeded the limit (no replay). */
  #recorded: Buffer[] | null = [];
  #recordedBytes = 0;
  /** END_STREAM arrived (with the trailers, if any). */
  ended = false;
  /** The exchange is over: the rest is credited and dropped. */
  #discarding = false;
  /** The client's request trailers (a trailing HEADERS frame), set before the body ends; upstream clients read `current.trailers`. */
  trailers: Record<string, string> | null = null;
  current: ServerBodyStream;

  constructor(stream: ServerStream, replayLimit: number) {
    this.stream = stream;
    this.#limit = replayLimit;
    this.current = new ServerBodyStream(this);
  }

  get replayable(): boolean {
    return this.#recorded !== null;
  }

  /** DATA from the client; false when the reader is full (the stream's window is then not credited until it reads). */
  push(chunk: Buffer): boolean {
    if (this.#discarding) return true;
    if (this.#recorded !== null) {
      this.#recordedBytes += chunk.length;
      if (this.#recordedBytes <= this.#limit) this.#recorded.push(chunk);
      else this.#recorded = null;
    }
    return this.current.takeChunk(chunk);
  }

  /** END_STREAM from the client. */
  end(): void {
    this.ended = true;
    this.current.finish();
  }

  /** The stream was reset or the connection lost before the body ended: the upstream attempt fails with it. */
  abort(): void {
    if (this.ended) return;
    this.ended = true;
    this.#recorded = null;
    const current = this.current;
    const err = new Error('the client aborted the request body');
    // A sink hears of it now, as a reader would from the 'error' event.
    current.sink?.bodyFailed(err);
    current.destroy(err);
  }

  discard(): void {
    if (this.ended || this.#discarding) return;
    this.#discarding = true;
    this.#recorded = null;
    // Nothing reads any more: whatever waited for the reader is credited, so the client can finish sending.
    const stream = this.stream;
    if (stream.bodyPaused) stream.session.bodyWanted(stream);
  }

  replay(): ServerBodyStream {
    if (this.#recorded === null) throw new Error('ServerRequestBody.replay: more was forwarded than the replay buffer holds');
    const next = new ServerBodyStream(this);
    for (const chunk of this.#recorded) next.push(chunk);
    if (this.ended) next.finish();
    this.current = next;
    return next;
  }
}

/**
 * Who takes a body without reading it as a stream: our h2c client's stream
 * (./h2-stream.ts), so a request body that goes from our server to our client
 * costs no 'data'/'end' events, listeners or nextTicks per request (a gRPC
 * unary call's one DATA frame used to cost the Readable's resume and end
 * ticks). It pauses and resumes the body like a reader, through pause/resume.
 */
export interface BodySink {
  sendBody(chunk: Buffer): void;
  endBody(): void;
  bodyFailed(err: Error): void;
}

/** The stream an upstream client reads; reading it credits the client's window. */
export class ServerBodyStream extends Readable {
  readonly #body: ServerRequestBody;
  /** Set by attachSink: chunks go to it, not through the Readable (which still buffers while the sink is paused). */
  sink: BodySink | null = null;
  #sinkPaused = false;
  /** The body's end was pushed to this stream. */
  #ended = false;
  /** The sink was told of the end (once). */
  #sinkEnded = false;

  constructor(body: ServerRequestBody) {
    super({ highWaterMark: 64 * 1024 });
    this.#body = body;
    // Upstream clients report body failures through the dispatch handler and may stop listening first.
    this.on('error', noop);
  }

  /** The request's trailers once this body has ended (null when none). */
  get trailers(): Record<string, string> | null {
    return this.#body.trailers;
  }

  override _read(): void {
    const body = this.#body;
    const stream = body.stream;
    if (body.current === this && stream.bodyPaused) stream.session.bodyWanted(stream);
  }

  /** A chunk of the client's body; false when it waits (paused sink or full buffer). */
  takeChunk(chunk: Buffer): boolean {
    const sink = this.sink;
    if (sink === null || this.#sinkPaused || this.readableLength > 0) return this.push(chunk);
    sink.sendBody(chunk);
    // Sending may have paused the sink (no window upstream): the client's window waits for resume.
    return !this.#sinkPaused;
  }

  /** The client's body ended. */
  finish(): void {
    this.#ended = true;
    const sink = this.sink;
    if (sink !== null && !this.#sinkPaused && this.readableLength === 0) {
      this.#sinkEnded = true;
      sink.endBody();
      // Nothing reads this Readable: ending it would only schedule its 'readable' tick.
      return;
    }
    this.push(null);
  }

  /** The sink takes over from here: what is buffered goes to it now, the rest as it arrives. */
  attachSink(sink: BodySink): void {
    this.sink = sink;
    this.#sinkPaused = false;
    this.#drain();
  }

  detachSink(sink: BodySink): void {
    if (this.sink === sink) this.sink = null;
  }

  override pause(): this {
    if (this.sink === null) return super.pause();
    this.#sinkPaused = true;
    return this;
  }

  override resume(): this {
    if (this.sink === null) return super.resume();
    this.#sinkPaused = false;
    this.#drain();
    return this;
  }

  #drain(): void {
    const sink = this.sink!;
    while (this.readableLength > 0 && !this.#sinkPaused && this.sink === sink) sink.sendBody(this.read() as Buffer);
    if (this.#sinkPaused || this.sink !== sink) return;
    if (this.#ended) {
      if (!this.#sinkEnded) {
        this.#sinkEnded = true;
        sink.endBody();
      }
    } else {
      // Reading emptied the buffer: the client's window may be credited again (what _read does for a reader).
      const body = this.#body;
      const stream = body.stream;
      if (body.current === this && stream.bodyPaused) stream.session.bodyWanted(stream);
    }
  }
}

function noop(): void {}
