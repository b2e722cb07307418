// One request/response stream of our HTTP/2 server session
// (./server-session.ts): a plain object holding the decoded request (what the
// forwarding core needs, nothing more), the flow-control windows of both
// directions, and the response writer the core's exchange calls. No
// EventEmitter and no closures per stream; the consumer (the exchange) is
// told things by direct method calls.

import type { ServerRequestBody } from './server-request-body.ts';
import type { ServerSession } from './server-session.ts';

// Stream states (RFC 9113 section 5.1), from the server's side.
/** HEADERS received, the request is still arriving. */
export const SS_OPEN = 1;
/** The request ended (END_STREAM received); the response is still going out. */
export const SS_HALF_CLOSED_REMOTE = 2;
/** Both directions ended, or the stream was reset: the session forgot it. */
export const SS_CLOSED = 3;

/** Who consumes a stream: the forwarding core's exchange (../listener/h2-server-exchange.ts). */
export interface ServerStreamConsumer {
  /** The client reset the stream, or the connection went away, before the response ended. */
  clientGone(): void;
  /** The response may flow again (the windows or the socket opened up after a write returned false). */
  resume(): void;
}

export class ServerStream {
  readonly session: ServerSession;
  readonly id: number;
  state = SS_OPEN;
  // --- the request, decoded from its HEADERS ---------------------------------
  method = '';
  path = '';
  authority = '';
  /** The fields to forward, as a flat [name, value, ...] list (host carries :authority). */
  fields: string[] = [];
  /** content-type application/grpc... */
  isGrpc = false;
  /** grpc-timeout as sent, or '' */
  grpcTimeout = '';
  /** The request's content-length, or -1: DATA must add up to it (section 8.1.1). */
  contentLength = -1;
  /** Request DATA bytes received. */
  received = 0;
  /** The request body (null when the HEADERS ended the stream). */
  body: ServerRequestBody | null = null;
  /** The body's reader is full: received DATA is not credited until it reads again. */
  bodyPaused = false;
  /** What we still let the client send on this stream. */
  recvWindow: number;
  /** Bytes received and consumed, not yet credited with a WINDOW_UPDATE. */
  unacked = 0;
  consumer: ServerStreamConsumer | null = null;
  // --- the response --------------------------------------------------------
  /** What the client lets us send on this stream. */
  sendWindow: number;
  /** Response bytes waiting for window (null when none). */
  pendingOut: Buffer[] | null = null;
  /** On the session's list of streams waiting for window. */
  blocked = false;
  headSent = false;
  /** The response ended while bytes still waited for window: end once they went (with these trailers, or none). */
  endPending = false;
  trailersPending: readonly string[] | null = null;
  /** A write returned false: resume the consumer when the bytes went out. */
  wantsResume = false;

  constructor(session: ServerSession, id: number, recvWindow: number, sendWindow: number) {
    this.session = session;
    this.id = id;
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  get closed(): boolean {
    return this.state === SS_CLOSED;
  }

  // --- the response, as the consumer writes it ---------------------------------

  /**
   * Send the response head: a flat [name, value, ...] list that starts with
   * `:status` (lower-case names, connection-specific fields already left out).
   */
  respond(fields: readonly string[], endStream: boolean): void {
    if (this.state === SS_CLOSED || this.headSent) return;
    this.headSent = true;
    this.session.sendHead(this, fields, endStream);
  }

  /** A response body chunk; false when it could not all go out now (the consumer pauses until resume()). */
  write(chunk: Buffer): boolean {
    if (this.state === SS_CLOSED || chunk.length === 0) return true;
    if (this.session.sendData(this, chunk)) return true;
    this.wantsResume = true;
    return false;
  }

  /** End the response, with trailer fields (a flat list) or none. */
  end(trailers: readonly string[] | null): void {
    if (this.state === SS_CLOSED) return;
    if (this.pendingOut !== null) {
      this.endPending = true;
      this.trailersPending = trailers;
      return;
    }
    this.session.endResponse(this, trailers);
  }

  /** Reset the stream (RST_STREAM with `code`, RFC 9113 section 7). */
  reset(code: number): void {
    if (this.state === SS_CLOSED) return;
    this.session.resetStream(this, code);
  }
}
