// One request/response of the lean h2c client (./h2-session.ts carries it on
// a connection). The stream is also the undici dispatch controller its handler
// pauses, resumes and aborts: no EventEmitter, no closures per stream.

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DispatchControllerBase } from '../forwarding/dispatch-controller.ts';
import { ErrorCode } from './frames.ts';
import type { H2Session } from './h2-session.ts';
import { CONNECTION_SPECIFIC } from './header-fields.ts';
import { ServerBodyStream } from './server-request-body.ts';

type Handler = Dispatcher.DispatchHandler;
type Headers = Record<string, string | string[]>;

/**
 * Our receive window per stream. 1 MiB: a single large download over a
 * fast link is not throttled by the window (loopback or a pod network moves
 * 1 MiB in well under a round trip's worth of a busy proxy), small responses
 * never need a WINDOW_UPDATE at all, and a paused stream (slow client) holds at
 * most 1 MiB here. (node:http2 and nghttp2 default to 64 KiB - 1, which costs a
 * WINDOW_UPDATE every 32 KiB and throttles large bodies; Envoy uses 256 MiB.)
 */
export const RECV_STREAM_WINDOW = 1 << 20;

export const S_NEW = 0; // not yet on a session (queued by the client)
export const S_OPEN = 1; // HEADERS sent; the response is not complete
export const S_DONE = 2; // finished, failed or aborted

// Read states.

export const kStream = Symbol('h2Stream');
/** A request body; the listener's body stream also carries the client's request trailers once it has ended (../forwarding/request-body.ts). */
export type BodyWithStream = Readable & { [kStream]?: H2Stream; readonly trailers?: Record<string, string> | null };

/**
 * One request/response on a session; it is also the dispatch controller the
 * handler pauses, resumes and aborts.
 */
export class H2Stream extends DispatchControllerBase {
  id = 0;
  session: H2Session | null = null;
  readonly handler: Handler;
  /** The request head as a flat list, pseudo-header fields first. */
  readonly headers: string[];
  readonly body: BodyWithStream | null;
  readonly isHead: boolean;
  state = S_NEW;
  headSeen = false;
  /** What the peer lets us send on this stream. */
  sendWindow = 0;
  /** What we still let the peer send on this stream. */
  recvWindow = RECV_STREAM_WINDOW;
  /** Bytes consumed by the handler and not yet credited with a WINDOW_UPDATE. */
  unacked = 0;
  /** Request body bytes waiting for flow-control window (null when none). */
  pendingOut: Buffer[] | null = null;
  bodyEnded = false;
  endSent = false;
  /** Queued on the session's list of streams waiting for window. */
  blocked = false;
  /** Response DATA that arrived while paused. */
  inbox: Buffer[] | null = null;
  /** The response ended while data still waited in the inbox: its trailers. */
  pendingEnd: Headers | null = null;
  /** The response's content-length, or -1. */
  contentLength = -1;
  received = 0;
  /** Times the client sent this stream again after the peer refused it unprocessed. */
  requeues = 0;

  constructor(handler: Handler, headers: string[], body: Readable | null, isHead: boolean) {
    super();
    this.handler = handler;
    this.headers = headers;
    this.body = body;
    this.isHead = isHead;
  }

  protected get finished(): boolean {
    return this.state === S_DONE;
  }

  protected aborting(reason: Error): void {
    const session = this.session;
    if (session !== null) session.resetStream(this, ErrorCode.CANCEL);
    else this.state = S_DONE; // still queued by the client: it skips done streams
    this.handler.onResponseError?.(this, reason);
  }

  /** Nothing to do on the wire: DATA that arrives while paused waits in the inbox, and its window is not credited. */
  protected pausing(): void {}

  protected resuming(): void {
    if (this.state !== S_OPEN) return;
    const session = this.session!;
    const inbox = this.inbox;
    if (inbox !== null) {
      let i = 0;
      while (i < inbox.length && !this.paused && this.state === S_OPEN) {
        const chunk = inbox[i++];
        this.unacked += chunk.length;
        this.handler.onResponseData?.(this, chunk);
      }
      if (i === inbox.length) this.inbox = null;
      else inbox.splice(0, i);
      if (this.state !== S_OPEN || this.paused) return;
    }
    if (this.pendingEnd !== null) {
      session.completeStream(this, this.pendingEnd);
      return;
    }
    // Credit everything consumed meanwhile, so an upstream that ran out of window continues.
    if (this.unacked > 0) session.creditStream(this);
  }

  /** Internal: the stream is done (completed, failed or aborted). */
  markDone(): void {
    this.state = S_DONE;
  }

  /** Internal: back to new, to be sent again on another stream id (it was refused unprocessed; only bodiless requests). */
  renew(): void {
    this.requeues++;
    this.id = 0;
    this.session = null;
    this.state = S_NEW;
    this.headSeen = false;
    this.recvWindow = RECV_STREAM_WINDOW;
    this.unacked = 0;
    this.inbox = null;
    this.pendingEnd = null;
    this.contentLength = -1;
    this.received = 0;
  }

  /** Internal: response DATA for the handler, or for the inbox while paused; credited as consumed. */
  deliver(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.paused || this.inbox !== null) {
      (this.inbox ??= []).push(chunk);
      return;
    }
    this.unacked += chunk.length;
    this.handler.onResponseData?.(this, chunk);
    if (this.state === S_OPEN && !this.paused && this.unacked >= RECV_STREAM_WINDOW / 2) this.session!.creditStream(this);
  }

  // --- the request body, sent through the session's flow control ----------

  /** Internal: listen to the request body (the session just sent the head). */
  attachBody(): void {
    const body = this.body!;
    body[kStream] = this;
    // Our own server's body hands chunks straight to this stream: no events, listeners or ticks.
    if (body instanceof ServerBodyStream) return body.attachSink(this);
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
  }

  /** Internal: stop listening to the request body. */
  detachBody(): void {
    const body = this.body;
    if (body === null || body[kStream] !== this) return;
    body[kStream] = undefined;
    if (body instanceof ServerBodyStream) return body.detachSink(this);
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    body.off('error', onBodyError);
  }

  /** A request body chunk: send what the windows allow; the rest waits on the stream with the body paused. */
  sendBody(chunk: Buffer): void {
    if (this.state !== S_OPEN || chunk.length === 0) return;
    if (!this.session!.flow.send(this, chunk)) this.body!.pause();
  }

  /** Internal (BodySink): our server's request body failed (the client reset its stream). */
  bodyFailed(err: Error): void {
    if (this.state === S_OPEN) this.abort(err);
  }

  endBody(): void {
    this.bodyEnded = true;
    if (this.state !== S_OPEN || this.pendingOut !== null) return;
    this.sendEnd();
  }

  /** Internal: the whole body went out (every pending DATA frame is queued): END_STREAM, or the trailers. */
  sendEnd(): void {
    this.endSent = true;
    this.detachBody();
    const session = this.session!;
    const trailers = this.body?.trailers;
    if (trailers == null) {
      session.writer.endStream(this.id, this);
      return;
    }
    // Request trailers: a trailing HEADERS frame with END_STREAM (RFC 9113
    // section 8.1) instead of END_STREAM on the last DATA. Names are
    // lower-cased; pseudo-header and connection-specific fields, which HTTP/2
    // forbids (section 8.2.2), are left out.
    const fields: string[] = [];
    for (const name in trailers) {
      const lower = name.toLowerCase();
      if (lower.charCodeAt(0) === 58 /* ':' */ || CONNECTION_SPECIFIC.has(lower) || lower === 'te') continue;
      fields.push(lower, trailers[name]);
    }
    session.writer.headers(fields, this.id, true, session.peer.maxFrame);
  }

  get done(): boolean {
    return this.state === S_DONE;
  }
}

// Body listeners shared by every stream: they find their stream through a field, so no closure is made per request.
function onBodyData(this: BodyWithStream, chunk: Buffer): void {
  const stream = this[kStream];
  if (stream !== undefined) stream.sendBody(chunk);
}
function onBodyEnd(this: BodyWithStream): void {
  const stream = this[kStream];
  if (stream !== undefined) stream.endBody();
}
function onBodyError(this: BodyWithStream, err: Error): void {
  const stream = this[kStream];
  if (stream !== undefined && stream.state === S_OPEN) stream.abort(err);
}
