// The forwarding core (../forwarding/exchange.ts) for the requests of one
// client connection of our HTTP/1.1 server (./server-connection.ts): every
// request goes through it, whatever the upstream speaks. The core picks,
// retries, times out, accounts and answers errors; this codec side says how:
//   - an HTTP/1.1 attempt goes through ./pool-attempt.ts, which passes the
//     client's bytes and the upstream's on as they are (sendHttp1);
//   - an h2c attempt goes through our HTTP/2 client like any other codec's,
//     with the body decoded (./request-body-relay.ts) and the response written
//     here as HTTP/1.1 (writeHead, writeData, writeEnd);
//   - the request deadline is the connection's timer-wheel slot, not a Node.js timer;
//   - error responses are ../errors/error-response.ts's, written on the socket.
// One per connection, reused for its requests (reset in begin) unless an
// upstream client may still call it (Exchange.viaClient): the hot path then
// allocates no exchange, controller or body per request.

import { STATUS_CODES } from 'node:http';
import type { RingsideError } from '../errors/errors.ts';
import { http1ErrorText } from '../errors/error-response.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from '../forwarding/exchange.ts';
import type { Route } from '../forwarding/route.ts';
import { findCookieIn } from '../forwarding/session-cookie.ts';
import { isHopByHopResponseField, isSafeFieldValue } from '../forwarding/hop-by-hop.ts';
import { PoolAttempt } from './pool-attempt.ts';
import { RequestBodyRelay } from './request-body-relay.ts';
import type { HashHeaders, RequestHead } from './request-head.ts';
import type { ServerConnection } from './server-connection.ts';

type Headers = Record<string, string | string[] | undefined>;
type Hash64 = Route['hash'];
/** The endpoint the core picked for an attempt (the core's type: this codec knows endpoints only as the core hands them over). */
type Endpoint = NonNullable<Exchange['endpoint']>;
type RateLimiter = NonNullable<Route['rateLimiter']>;

const NO_FIELDS: string[] = [];
const NO_HASH_HEADERS: HashHeaders = {};
const CRLF = Buffer.from('\r\n', 'latin1');

export class Http1ServerExchange extends Exchange {
  readonly conn: ServerConnection;
  readonly relay: RequestBodyRelay;
  readonly poolAttempt: PoolAttempt;
  /** The head to send upstream over HTTP/1.1 (request line, end-to-end fields, blank line). */
  #forward = '';
  #hasHost = true;
  /** The fields the rate limit reads, valid while start() runs (the parser's shared object). */
  #hashHeaders: HashHeaders = NO_HASH_HEADERS;
  /** The response may leave the connection open. */
  #keepAlive = true;
  /** The response broke after its head: the client connection is closed. */
  #broken = false;
  /** We answered with an error response (the request body, if any, is read and dropped; the connection stays). */
  #answered = false;
  // The response of an h2c attempt, written here as HTTP/1.1.
  /** Chunked (no content-length from upstream, HTTP/1.1 client). */
  #chunked = false;
  /** HEAD, 204, 304: a head without a body. */
  #bodiless = false;

  constructor(route: Route, conn: ServerConnection) {
    super(route, ClientProtocol.HTTP1, false);
    this.conn = conn;
    this.relay = new RequestBodyRelay(conn);
    this.poolAttempt = new PoolAttempt(conn, this);
  }

  /** Whether begin() may take another request (no upstream client holds this exchange). */
  get reusable(): boolean {
    return this.done && !this.viaClient;
  }

  /** Forward the request whose head was just parsed (`head` is the parser's shared object: read now). */
  begin(head: RequestHead, hash: Hash64 | null): void {
    this.reset();
    this.isGrpc = head.isGrpc;
    this.#forward = head.forward;
    this.#hasHost = head.hasHost;
    this.#keepAlive = true;
    this.#broken = false;
    this.#answered = false;
    this.#chunked = false;
    this.#bodiless = false;
    const route = this.route;
    let body: RequestBodyRelay | null = null;
    if (head.chunked || head.contentLength > 0) {
      const config = route.upstream.config;
      // Kept for another attempt only when --retries allows one (the same bytes serve a resend over h2c under `auto`).
      this.relay.reset(head.chunked, config.retries > 0 ? config.retryBufferBytes : 0);
      body = this.relay;
    }
    const deadline = head.isGrpc ? parseGrpcTimeout(fieldOf(head.forward, 'grpc-timeout')) : 0;
    this.#hashHeaders = head.hashHeaders;
    this.start(head.method, head.target, NO_FIELDS, body, hash, deadline);
    this.#hashHeaders = NO_HASH_HEADERS;
  }

  /** The head to send to `endpoint`: an HTTP/1.0 request without Host gets the endpoint's (as undici does). */
  headFor(endpoint: Endpoint): string {
    return this.#hasHost ? this.#forward : this.#forward.slice(0, -2) + 'host: ' + endpoint.key + '\r\n\r\n';
  }

  /** The upstream's head arrived on an HTTP/1.1 attempt (which writes it itself). */
  headArrived(status: number, grpcStatus: number): void {
    this.responseStarted(status, grpcStatus);
  }

  /** The client socket drained. */
  clientDrained(): void {
    if (this.upstreamH2) this.resume();
    else this.poolAttempt.clientDrained();
  }

  // --- the core's hooks ----------------------------------------------------------
  protected override sendHttp1(endpoint: Endpoint, replay: boolean): boolean {
    if (replay && this.body !== null && this.relay.stream !== null) {
      // The body went to a client as a stream until now: the bytes as framed from here on.
      this.relay.stream.destroy();
    }
    this.poolAttempt.start(endpoint, replay);
    return true;
  }

  protected override rateLimitWait(limiter: RateLimiter, now: number): number {
    return limiter.check(this.#hashHeaders, this.path, now);
  }

  /** The request for an upstream client: path and flat fields from the head (without the hop's framing field). */
  protected override prepareFields(): void {
    const forward = this.#forward;
    const lineEnd = forward.indexOf('\r\n');
    const headers: string[] = [];
    for (let pos = lineEnd + 2; pos < forward.length - 2; ) {
      const end = forward.indexOf('\r\n', pos);
      const colon = forward.indexOf(':', pos);
      const name = forward.slice(pos, colon);
      // The body goes decoded: its HTTP/1.1 framing field does not go to an HTTP/2 upstream (RFC 9113 section 8.2.2).
      if (name.length !== 17 || name.toLowerCase() !== 'transfer-encoding') headers.push(name, forward.slice(colon + 1, end).trim());
      pos = end + 2;
    }
    if (!this.#hasHost && this.endpoint !== null) headers.push('host', this.endpoint.key);
    this.headers = headers;
  }

  /** The session cookie's value (--session-cookie), from the head's cookie fields (only read when sessions are on). */
  protected override sessionCookieValue(name: string): string | null {
    const forward = this.#forward;
    let values: string[] | undefined;
    for (let pos = forward.indexOf('\r\n') + 2; pos < forward.length - 2; ) {
      const end = forward.indexOf('\r\n', pos);
      const colon = forward.indexOf(':', pos);
      if (colon - pos === 6 && forward.slice(pos, colon).toLowerCase() === 'cookie') (values ??= []).push(forward.slice(colon + 1, end).trim());
      pos = end + 2;
    }
    return findCookieIn(values, name);
  }

  protected override armTimer(ms: number): void {
    this.conn.armRequestDeadline(ms);
  }

  protected override clearTimer(): void {
    this.conn.clearRequestDeadline();
  }

  // --- an h2c attempt's response, as HTTP/1.1 --------------------------------------
  protected writeHead(status: number, headers: Record<string, string | string[]>, statusMessage: string | undefined): void {
    const minor = this.conn.minor;
    let head = `HTTP/1.${minor} ${status} ${statusMessage || STATUS_CODES[status] || 'Unknown'}\r\n`;
    let length = false;
    for (const name in headers) {
      if (isHopByHopResponseField(name)) continue;
      const value = headers[name];
      if (name === 'content-length') length = true;
      if (Array.isArray(value)) {
        for (const v of value) if (isSafeFieldValue(v)) head += `${name}: ${v}\r\n`;
      } else if (isSafeFieldValue(value)) head += `${name}: ${value}\r\n`;
    }
    this.#bodiless = this.method === 'HEAD' || status === 204 || status === 304;
    let closeAfter = false;
    if (!this.#bodiless && !length) {
      // RFC 9112 section 6.1/6.3: chunked for HTTP/1.1; an HTTP/1.0 client reads to the close.
      if (minor === 1) {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else closeAfter = true;
    }
    if (closeAfter || !this.conn.responseKeepAlive) {
      this.#keepAlive = false;
      head += 'connection: close\r\n';
    } else if (minor === 0) head += 'connection: keep-alive\r\n';
    this.conn.writeClient(Buffer.from(head + '\r\n', 'latin1'));
  }

  protected writeData(chunk: Buffer): boolean {
    if (this.#bodiless || chunk.length === 0) return true;
    if (!this.#chunked) return this.conn.writeClient(chunk);
    this.conn.writeClient(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
    this.conn.writeClient(chunk);
    return this.conn.writeClient(CRLF);
  }

  protected writeEnd(trailers: Headers | null): void {
    // An HTTP/1.1 attempt wrote its end itself (./pool-attempt.ts).
    if (!this.upstreamH2 || !this.#chunked) return;
    let end = '0\r\n';
    // Trailers can follow only a chunked body (RFC 9112 section 7.1.2).
    if (trailers !== null) {
      for (const name in trailers) {
        const value = trailers[name];
        if (value === undefined || isHopByHopResponseField(name)) continue;
        for (const v of Array.isArray(value) ? value : [value]) if (isSafeFieldValue(v)) end += `${name}: ${v}\r\n`;
      }
    }
    this.conn.writeClient(Buffer.from(end + '\r\n', 'latin1'));
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    if (headSent) {
      // Part of the response may have gone out: only a closed connection tells the client it is truncated.
      this.#broken = true;
      return;
    }
    this.#answered = true;
    if (!this.conn.responseKeepAlive) this.#keepAlive = false;
    this.conn.writeClient(Buffer.from(http1ErrorText(err, this.isGrpc, !this.#keepAlive), 'utf8'));
  }

  override finish(err: RingsideError | null): void {
    if (this.done) return;
    super.finish(err);
    // A cancelled exchange's client connection is gone already.
    if (!this.cancelled) this.conn.exchangeEnded(this.#broken, this.#keepAlive, this.#answered);
  }
}

/** A field's value in a head as ./request-head.ts forwards it (rare fields only: it scans the text). */
function fieldOf(forward: string, lower: string): string | undefined {
  const lineEnd = forward.indexOf('\r\n');
  for (let pos = lineEnd + 2; pos < forward.length - 2; ) {
    const end = forward.indexOf('\r\n', pos);
    const colon = forward.indexOf(':', pos);
    if (colon - pos === lower.length && forward.slice(pos, colon).toLowerCase() === lower) return forward.slice(colon + 1, end).trim();
    pos = end + 2;
  }
  return undefined;
}
