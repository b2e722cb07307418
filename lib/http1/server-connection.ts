// One client connection of the lean HTTP/1.1 engine, and the exchange in
// flight on it. Requests are handled one at a time in arrival order: the
// next pipelined head is parsed only when the previous response has been
// written, so responses can never be reordered (RFC 9112 section 9.3.2).
//
// Life of one exchange (all methods, no per-request closures or timers):
//   #parseHead       strict head parse -> hash -> pick -> pool.acquire -> write head (+ body bytes at hand)
//   #feedBody*       Content-Length or validated chunked bytes, forwarded as received
//   onUpstreamHead   build the client head (framing fields added), held until the first body bytes
//   onUpstreamBody*  head + first bytes in one write; then pass-through slices
//   onUpstreamEnd    account, then the next pipelined request (or close)
// Failures before the response head become the same error responses as
// ../listener/error-response.ts; after it, the client connection is closed
// (never a truncated success).

import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import {
  BadRequestError,
  ClientCancelledError,
  ConnectFailedError,
  ErrorCodes,
  NoEndpointsError,
  RateLimitedError,
  type RingsideError,
  TimeoutError,
  UpstreamProtocolError,
  UpstreamResetError,
} from '../errors/errors.ts';
import { http1ErrorText } from '../errors/error-response.ts';
import { learnProtocol } from '../forwarding/learned-protocol.ts';
import { requestFinished } from '../forwarding/request-outcome.ts';
import { nextEndpoint, retryAllowed } from '../forwarding/retry-policy.ts';
import { startTunnel } from '../forwarding/tunnel.ts';
import { statusOf } from '../errors/status.ts';
import type { ClientProtocol } from '../forwarding/exchange.ts';
import type { Route } from '../forwarding/route.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import { ChunkedScanner, MALFORMED, NEED_MORE, parseTrailerSection, type ChunkDataSink } from './chunked-scanner.ts';
import { HeadResult, parseRequestHead, RequestHead } from './request-head.ts';
import { Framing, type ResponseHead } from './response-head.ts';
import { SocketReader, type ReadTarget } from '../io/socket-reader.ts';
import { SocketWriter, type WriteDrainListener } from '../io/socket-writer.ts';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';
import { H2C_ONLY, UpstreamFailure, type UpstreamConnection, type UpstreamUser } from './upstream-pool.ts';

export interface Http1ServerOptions {
  /** Largest request head accepted (bytes); larger gets 431 (node:http's default is 16 KiB too). */
  readonly maxHeaderSize: number;
  /** Time allowed for a complete request head once its first byte arrived; 408 after. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
}

/** What every connection of one listener shares. */
export interface Http1ServerState {
  readonly route: Route;
  readonly options: Http1ServerOptions;
  /** Lower-case names of the fields the hash policy reads. */
  readonly hashNames: readonly string[];
  readonly connections: Set<ServerConnection>;
  closing: boolean;
  /**
   * Forwards a request this engine cannot (an h2c-only endpoint under
   * `--upstream-protocol auto`) through the listener's Exchange core; null
   * when the listener gave none (requests then fail as the pool reports them).
   */
  readonly handOff: HandOff | null;
  /** `--upstream-protocol h2c`: every request is handed off (this engine frames HTTP/1.1 to the client, our HTTP/2 client the upstream). */
  readonly handOffAll: boolean;
}

/** A request handed to the Exchange core (../listener/http1-server-exchange.ts), as the lean engine read it. */
export interface HandOffRequest {
  readonly method: string;
  /** The head as it would go upstream over HTTP/1.1 (request line, end-to-end fields, blank line). */
  readonly forward: string;
  readonly hasHost: boolean;
  readonly isGrpc: boolean;
  readonly minor: number;
  readonly keepAlive: boolean;
  readonly hasBody: boolean;
  /** The hash of the request, when the route hashes and one was computed. */
  readonly hash: { hi: number; lo: number } | null;
  /** The lean engine already counted the request as started on `endpoint` (the endpoint just said it speaks only h2c). */
  readonly accounted: boolean;
  /** `endpoint` just showed it speaks only h2c (learn it). */
  readonly learnedNow: boolean;
}

/** The handed-off exchange, as the lean connection drives it. */
export interface HandedOffExchange {
  /** Request body bytes (decoded: no chunked framing), or null at its end; false: stop reading the client until ServerConnection.bodyWanted(). */
  pushBody(chunk: Buffer | null): boolean;
  /** The trailer fields of a chunked request body (names lower-case), given before its end. */
  setTrailers(fields: Record<string, string>): void;
  /** The client connection closed. */
  clientGone(): void;
  /** The client socket drained after a write returned false. */
  clientDrained(): void;
  /** Send the request upstream (called once the connection holds the exchange: it may end at once, calling handOffEnded). */
  begin(): void;
}

export type HandOff = (conn: ServerConnection, endpoint: Endpoint, request: HandOffRequest) => HandedOffExchange;

/** The HTTP/1.1 client protocol value of ../forwarding/exchange.ts (a type-only import keeps lean free of listener code). */
const HTTP1 = 0 as ClientProtocol;

const R_HEAD = 0; // waiting for a request head
const R_BODY = 1; // forwarding the request body
const R_DONE = 2; // request fully read

const B_NONE = 0;
const B_LENGTH = 1;
const B_CHUNKED = 2;

const H_NONE = 0; // no response head yet
const H_HELD = 1; // built, waiting to go out with the first body bytes
const H_SENT = 2;

const D_NONE = 0;
const D_HEADERS = 1;
const D_IDLE = 2;
const D_REQUEST = 3;

/** Pipelined bytes buffered while a response is in flight before the client is paused. */
const MAX_PIPELINED = 64 * 1024;
/** Up to this many body bytes are copied to go out in the same write as the head. */
const COALESCE_LIMIT = 16 * 1024;
/**
 * The largest coalesced response whose buffer a connection keeps for the next
 * one: an idle keep-alive connection (60 s by default) holds it, so it stays
 * small (a few hundred bytes is the common answer; the slice shares one of
 * Buffer's 8 KiB pool slabs with others).
 */
const REUSE_LIMIT = 2 * 1024;

const requestHead = new RequestHead();
const EMPTY = Buffer.alloc(0);
/** The last chunk of a re-chunked body (RFC 9112 section 7.1). */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');


export class ServerConnection implements UpstreamUser, TimedItem, WriteDrainListener, ReadTarget, ChunkDataSink {
  readonly engine: Http1ServerState;
  readonly socket: net.Socket;
  readonly #writer: SocketWriter;
  readonly #reader: SocketReader;
  deadline = 0;
  #deadlineKind = D_NONE;
  #closed = false;
  #pending: Buffer | null = null;
  #pausedForUpstream = false;
  #pausedForPipeline = false;
  #upstreamPaused = false;
  #remoteAddress: string | undefined = undefined;

  // --- the exchange in flight --------------------------------------------
  #active = false;
  #reqState = R_HEAD;
  #bodyFraming = B_NONE;
  #bodyRemaining = 0;
  readonly #scanner = new ChunkedScanner();
  #endpoint: Endpoint | null = null;
  #conn: UpstreamConnection | null = null;
  #startedAt = 0;
  #status = 0;
  #grpcStatus = -1;
  #isGrpc = false;
  #minor = 1;
  #keepAlive = true;
  #headState = H_NONE;
  /** The client's response head while H_HELD (shared, read-only: see ResponseHead.encoded). */
  #headOut: Buffer = EMPTY;
  #rechunk = false;
  #responseDone = false;
  /**
   * The last small response (head and body in one buffer), once its write has
   * completed: the next one of the same size is built in it instead of in a
   * new buffer (responses of one size are common: a sidecar's callers ask the
   * same kind of question over and over). Null while a write may still read it.
   */
  #coalesced: Buffer | null = null;
  // What a retry needs to send the request again (see #retry).
  #method = '';
  #forward = '';
  #hasHost = true;
  #hasHash = false;
  #hashHi = 0;
  #hashLo = 0;
  #attempt = 0;
  #tried: Endpoint[] | null = null;
  /** Body bytes forwarded so far, kept for a replay while they fit --retry-buffer; null when they did not. */
  #kept: Buffer[] | null = null;
  #keptBytes = 0;
  /** A handed-off chunked body's trailer section while it arrives in pieces (onChunkTrailers). */
  #trailerText: string | null = null;
  /** The exchange in flight was handed to the Exchange core (an h2c-only endpoint), which answers the client. */
  #handedOff: HandedOffExchange | null = null;

  constructor(engine: Http1ServerState, socket: net.Socket) {
    this.engine = engine;
    this.socket = socket;
    this.#writer = new SocketWriter(socket, this);
    this.#reader = new SocketReader(socket, this);
    engine.connections.add(this);
    timerWheel.add(this);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.#onClientDrain());
    socket.on('close', () => this.#onClientClose());
  }

  /** No exchange in flight and no partial request buffered. */
  get idle(): boolean {
    return !this.#active && this.#pending === null;
  }

  /** Close when idle (graceful shutdown); a busy connection closes after its response. */
  closeIfIdle(): void {
    if (this.idle) this.socket.destroy();
  }

  onData(chunk: Buffer): void {
    if (this.#closed) return;
    if (this.#active && this.#reqState === R_BODY) {
      const stop = this.#feedBody(chunk, 0, chunk.length);
      if (stop < 0 || stop === chunk.length) return;
      chunk = chunk.subarray(stop);
    }
    this.#pending = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#next();
  }

  onRead(shared: Buffer, n: number): void {
    if (this.#closed) return;
    // Mid-exchange, after a partial head, or while the client is not reading: the bytes join #pending or the body, which keep them.
    if (this.#active || this.#pending !== null || this.#clientBacklogged()) this.onData(Buffer.copyBytesFrom(shared, 0, n));
    // The common case, a new request: its head is parsed straight from the shared bytes.
    else if (this.#parseHead(shared, n, true)) this.#next();
  }

  /**
   * Parse and start the next request when the previous exchange is over and
   * the client has taken its response: a client that pipelines requests but
   * does not read the answers must not make us hold them all in memory.
   */
  #next(): void {
    while (!this.#closed && this.#pending !== null) {
      if (this.#active) {
        if (this.#pending.length > MAX_PIPELINED) this.#holdPipeline();
        return;
      }
      if (this.#clientBacklogged()) {
        this.#holdPipeline();
        return;
      }
      const pending = this.#pending;
      if (!this.#parseHead(pending, pending.length, false)) return;
    }
  }

  /** Stop reading the client until the pipelined requests it sent can go on (#releasePipeline). */
  #holdPipeline(): void {
    if (this.#pausedForPipeline) return;
    this.#pausedForPipeline = true;
    this.#reader.pause();
  }

  #releasePipeline(): void {
    if (!this.#pausedForPipeline) return;
    this.#pausedForPipeline = false;
    if (!this.#pausedForUpstream) this.#reader.resume();
  }

  /**
   * Try to parse a head from buf[0, end): #pending, or the reader's shared
   * bytes (`shared`: what is left of them is copied into #pending). False when
   * more bytes are needed or the connection ended.
   */
  #parseHead(buf: Buffer, end: number, shared: boolean): boolean {
    const options = this.engine.options;
    // A server should ignore at least one empty line before the request-line (RFC 9112 section 2.2).
    let start = 0;
    while (start + 1 < end && buf[start] === 0x0d && buf[start + 1] === 0x0a && start < 64) start += 2;
    const scanEnd = Math.min(end, start + options.maxHeaderSize + 4);
    const text = buf.toString('latin1', start, scanEnd);
    const found = text.indexOf('\r\n\r\n');
    if (found < 0) {
      if (scanEnd - start >= options.maxHeaderSize + 4) return this.#reject(431, 'request head too large');
      // A bare LF can never become a valid head: refuse now rather than at the timeout.
      const lf = text.indexOf('\n');
      if (lf === 0 || (lf > 0 && text.charCodeAt(lf - 1) !== 0x0d)) return this.#reject(400, 'bare LF');
      if (this.#deadlineKind !== D_HEADERS) this.#arm(D_HEADERS, options.headersTimeoutMs);
      if (shared) this.#pending = Buffer.copyBytesFrom(buf, 0, end);
      return false;
    }
    const headLen = found + 4;
    if (headLen > options.maxHeaderSize) return this.#reject(431, 'request head too large');
    const head = requestHead;
    const result = parseRequestHead(headLen === text.length ? text : text.slice(0, headLen), head, this.engine.hashNames);
    if (result !== HeadResult.OK) {
      if (result === HeadResult.BAD_REQUEST) return this.#reject(400, head.error);
      return this.#refuse(result);
    }
    const rest = start + headLen;
    this.#pending = rest >= end ? null : shared ? Buffer.copyBytesFrom(buf, rest, end - rest) : buf.subarray(rest, end);
    this.#disarm();
    if (head.upgrade) {
      this.#tunnel(head);
      return false;
    }
    this.#startExchange(head);
    return true;
  }

  /**
   * A protocol switch (WebSocket): the socket, the handshake and the bytes the
   * client sent after it go to the tunnel core (../forwarding/tunnel.ts), which
   * reads the socket from now on; this connection is over as HTTP.
   */
  #tunnel(head: RequestHead): void {
    const early = this.#pending;
    this.#pending = null;
    this.#closed = true;
    timerWheel.remove(this);
    this.engine.connections.delete(this);
    const tunnel = startTunnel(this.engine.route, this.socket, this.#reader, { method: head.method, target: head.target, head: head.forward, hashHeaders: head.hashHeaders }, early);
    this.#reader.retarget(tunnel);
  }

  #startExchange(head: RequestHead): void {
    const engine = this.engine;
    const route = engine.route;
    this.#active = true;
    this.#responseDone = false;
    this.#headState = H_NONE;
    this.#status = 0;
    this.#isGrpc = head.isGrpc;
    this.#grpcStatus = -1;
    this.#minor = head.minor;
    this.#keepAlive = head.keepAlive && !engine.closing;
    this.#rechunk = false;
    this.#endpoint = null;
    this.#conn = null;
    this.#startedAt = performance.now();
    this.#method = head.method;
    this.#forward = head.forward;
    this.#hasHost = head.hasHost;
    this.#attempt = 0;
    this.#tried = null;
    this.#kept = null;
    this.#keptBytes = 0;
    this.#trailerText = null;
    this.#hasHash = false;
    if (head.chunked) {
      this.#bodyFraming = B_CHUNKED;
      this.#scanner.reset();
      this.#reqState = R_BODY;
    } else if (head.contentLength > 0) {
      this.#bodyFraming = B_LENGTH;
      this.#bodyRemaining = head.contentLength;
      this.#reqState = R_BODY;
    } else {
      this.#bodyFraming = B_NONE;
      this.#reqState = R_DONE;
    }
    // We answer the expectation ourselves, as node:http does; Expect is not forwarded.
    if (head.expectContinue) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

    let hash = null;
    const policy = route.hashPolicy;
    if (policy !== null) {
      if (this.#remoteAddress === undefined) this.#remoteAddress = this.socket.remoteAddress;
      if (policy.compute(head.hashHeaders, head.target, this.#remoteAddress, route.hash)) {
        hash = route.hash;
        // route.hash is shared scratch: keep our own copy for a retry.
        this.#hasHash = true;
        this.#hashHi = hash.hi;
        this.#hashLo = hash.lo;
      } else route.observer.hashKeyMissing(route);
    }
    // The rate limit takes a token here, once per client request (never in #retry).
    const limiter = route.rateLimiter;
    if (limiter != null) {
      const waitMs = limiter.check(head.hashHeaders, head.target, this.#startedAt);
      if (waitMs > 0) {
        this.#fail(new RateLimitedError(route.upstream.name, waitMs));
        this.#drainBodyAfterResponse();
        return;
      }
    }
    route.upstream.retryBudget.recordRequest(this.#startedAt);
    if (this.#reqState === R_BODY && route.upstream.config.retries > 0) this.#kept = [];
    const endpoint = route.upstream.pick(hash, null);
    if (endpoint === null) {
      this.#fail(new NoEndpointsError(route.upstream.name, route.upstream.emptyReason ?? undefined));
      this.#drainBodyAfterResponse();
      return;
    }
    // An h2c upstream, or under `auto` an endpoint learned to speak only h2c: the Exchange core forwards it (plain field reads while nothing was learned).
    if (engine.handOffAll || (endpoint.protocol !== 0 && engine.handOff !== null && route.protocol === 'auto' && endpoint.learnedProtocol(this.#bodyFraming === B_NONE) === 2 /* LearnedProtocol.H2C */)) {
      this.#handOff(endpoint, false);
      return;
    }
    if (route.requestTimeoutMs > 0) this.#arm(D_REQUEST, route.requestTimeoutMs);
    const conn = this.#dispatch(endpoint);
    const forward = this.#headFor(endpoint);

    // One write for the head and the body bytes already at hand, when they are small.
    const pending = this.#pending;
    if (this.#reqState === R_BODY && pending !== null && pending.length <= COALESCE_LIMIT) {
      const stop = this.#bodyEnd(pending);
      if (stop === MALFORMED) {
        this.#badBody();
        return;
      }
      const n = stop === NEED_MORE ? pending.length : stop;
      const out = Buffer.allocUnsafe(forward.length + n);
      out.write(forward, 0, 'latin1');
      pending.copy(out, forward.length, 0, n);
      if (this.#kept !== null) this.#keep(pending.subarray(0, n));
      this.#pending = n < pending.length ? pending.subarray(n) : null;
      if (!conn.write(out)) this.#pauseForUpstream();
      if (stop !== NEED_MORE) this.#requestComplete();
      return;
    }
    if (!conn.write(forward)) this.#pauseForUpstream();
    if (this.#reqState === R_DONE) {
      conn.requestSent();
      return;
    }
    if (pending !== null) {
      this.#pending = null;
      const stop = this.#feedBody(pending, 0, pending.length);
      if (stop >= 0 && stop < pending.length) this.#pending = pending.subarray(stop);
    }
  }

  /** Start an attempt on `endpoint`: accounting, and a pooled connection (the head is written by the caller). */
  #dispatch(endpoint: Endpoint): UpstreamConnection {
    const route = this.engine.route;
    this.#endpoint = endpoint;
    this.#attempt++;
    endpoint.requestStarted();
    route.observer.requestStarted(route, endpoint);
    const conn = endpoint.leanPool().acquire(this, this.#method === 'HEAD', this.#minor === 0);
    this.#conn = conn;
    return conn;
  }

  /** The head to send to `endpoint`: an HTTP/1.0 request without Host gets the endpoint's (as undici does). */
  #headFor(endpoint: Endpoint): string {
    return this.#hasHost ? this.#forward : this.#forward.slice(0, -2) + 'host: ' + endpoint.key + '\r\n\r\n';
  }

  #keep(bytes: Buffer): void {
    this.#keptBytes += bytes.length;
    if (this.#keptBytes > this.engine.route.upstream.config.retryBufferBytes) this.#kept = null;
    else this.#kept!.push(bytes);
  }

  /**
   * Send the request again on another endpoint when that is safe, with the
   * rules of ../forwarding/exchange.ts: it never reached the upstream (connect
   * failure), or it is idempotent and its body is still replayable; bounded by
   * --retries and the upstream's retry budget.
   */
  #retry(err: RingsideError, failure: UpstreamFailure, failed: Endpoint): boolean {
    const route = this.engine.route;
    if (!retryAllowed(route, this.#attempt, err, failure === UpstreamFailure.CONNECT, this.#method)) return false;
    if (this.#bodyFraming !== B_NONE && this.#kept === null) return false;
    const hash = this.#hasHash ? { hi: this.#hashHi, lo: this.#hashLo } : null;
    const next = nextEndpoint(route, failed, err, (this.#tried ??= []), hash, HTTP1, this.#isGrpc, this.#startedAt);
    if (next === null) return false;
    const conn = this.#dispatch(next);
    const head = this.#headFor(next);
    const kept = this.#kept;
    let ok: boolean;
    if (kept === null || kept.length === 0) ok = conn.write(head);
    else {
      const out = Buffer.allocUnsafe(head.length + this.#keptBytes);
      let o = out.write(head, 0, 'latin1');
      for (const b of kept) o += b.copy(out, o);
      ok = conn.write(out);
    }
    if (!ok) this.#pauseForUpstream();
    if (this.#reqState === R_DONE) conn.requestSent();
    return true;
  }

  /** Account the body bytes of buf (from 0) without forwarding: index past the body's end, NEED_MORE or MALFORMED. */
  #bodyEnd(buf: Buffer): number {
    if (this.#bodyFraming === B_LENGTH) {
      const n = Math.min(this.#bodyRemaining, buf.length);
      this.#bodyRemaining -= n;
      return this.#bodyRemaining === 0 ? n : NEED_MORE;
    }
    return this.#scanner.scan(buf, 0, buf.length, null);
  }

  /**
   * Forward request body bytes buf[start, end). Returns the index past the
   * body's end (the rest belongs to the next request), or -1 when all bytes
   * were body (or the connection failed).
   */
  #feedBody(buf: Buffer, start: number, end: number): number {
    let stop: number;
    const handedOff = this.#handedOff;
    if (this.#bodyFraming === B_LENGTH) {
      const n = Math.min(this.#bodyRemaining, end - start);
      this.#bodyRemaining -= n;
      stop = start + n;
      // The bytes are this connection's own (onRead copies what arrives mid-exchange): the exchange may keep them.
      if (handedOff !== null && n > 0 && !handedOff.pushBody(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop))) this.#pauseForUpstream();
    } else {
      // Handed off: the chunk data goes to the exchange decoded (onChunkData), as an HTTP/2 upstream needs it.
      const r = this.#scanner.scan(buf, start, end, handedOff === null ? null : this);
      if (r === MALFORMED) {
        this.#badBody();
        return -1;
      }
      stop = r === NEED_MORE ? end : r;
    }
    const conn = this.#conn;
    if (stop > start && (conn !== null || this.#kept !== null)) {
      const bytes = start === 0 && stop === buf.length ? buf : buf.subarray(start, stop);
      if (this.#kept !== null) this.#keep(bytes);
      if (conn !== null && !conn.write(bytes)) this.#pauseForUpstream();
    }
    const finished = this.#bodyFraming === B_LENGTH ? this.#bodyRemaining === 0 : this.#scanner.done;
    if (!finished) return -1;
    this.#requestComplete();
    return stop;
  }

  #requestComplete(): void {
    this.#reqState = R_DONE;
    if (this.#handedOff !== null) this.#handedOff.pushBody(null);
    if (this.#conn !== null) this.#conn.requestSent();
    if (this.#responseDone) this.#exchangeDone();
  }

  /** After an early error response: read and drop the rest of the request body, then carry on. */
  #drainBodyAfterResponse(): void {
    if (this.#reqState === R_DONE) return;
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    const stop = this.#feedBody(pending, 0, pending.length);
    if (stop >= 0 && stop < pending.length) {
      this.#pending = pending.subarray(stop);
      this.#next();
    }
  }

  #pauseForUpstream(): void {
    if (this.#pausedForUpstream) return;
    this.#pausedForUpstream = true;
    this.#reader.pause();
  }

  // --- UpstreamUser ---------------------------------------------------------
  onUpstreamHead(head: ResponseHead): void {
    if (this.#deadlineKind === D_REQUEST) this.#disarm();
    this.#status = head.status;
    if (this.#isGrpc && head.grpcStatus >= 0) this.#grpcStatus = head.grpcStatus;
    let out = head.forward;
    const framing = head.framing;
    this.#rechunk = false;
    if (this.#minor === 1) {
      if (framing === Framing.CHUNKED) out += 'transfer-encoding: chunked\r\n';
      else if (framing === Framing.CLOSE) {
        // Close-delimited upstream body: re-framed as chunked so the client connection survives.
        out += 'transfer-encoding: chunked\r\n';
        this.#rechunk = true;
      }
    } else if (framing === Framing.CHUNKED || framing === Framing.CLOSE) {
      this.#keepAlive = false; // HTTP/1.0 has no chunked coding: the close ends the body
    }
    if (this.engine.closing) this.#keepAlive = false;
    // The same upstream head bytes give the same client head for the same (minor, keep-alive): encode it once.
    const variant = this.#minor | (this.#keepAlive ? 2 : 0);
    if (head.encoded !== null && head.encodedVariant === variant) {
      this.#headOut = head.encoded;
    } else {
      if (!this.#keepAlive) out += 'connection: close\r\n';
      else if (this.#minor === 0) out += 'connection: keep-alive\r\n';
      const bytes = Buffer.from(out + '\r\n', 'latin1');
      head.encoded = bytes;
      head.encodedVariant = variant;
      this.#headOut = bytes;
    }
    this.#headState = H_HELD;
  }

  onUpstreamBody(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n === 0 || this.#closed) return;
    const writer = this.#writer;
    let ok: boolean;
    if (this.#rechunk) {
      const size = n.toString(16);
      const head = this.#takeHead();
      const out = Buffer.allocUnsafe(head.length + size.length + 2 + n + 2);
      out.set(head, 0);
      let o = head.length;
      o += out.write(size, o, 'latin1');
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      o += buf.copy(out, o, start, end);
      out[o++] = 0x0d;
      out[o] = 0x0a;
      ok = writer.write(out);
    } else if (this.#headState === H_HELD && n <= COALESCE_LIMIT) {
      const head = this.#takeHead();
      const len = head.length + n;
      // The previous response's buffer, when it had this size and no write holds it any more.
      let out = this.#coalesced;
      if (out === null || out.length !== len) out = Buffer.allocUnsafe(len);
      out.set(head, 0);
      buf.copy(out, head.length, start, end);
      ok = writer.write(out);
      this.#coalesced = len <= REUSE_LIMIT && !this.#clientWritesPending() ? out : null;
    } else {
      if (this.#headState === H_HELD) writer.write(this.#takeHead());
      ok = writer.write(buf.subarray(start, end));
      // The socket kept a reference to our slice of the upstream's read buffer: let it have it.
      if (this.#clientWritesPending()) this.#conn?.lendReadBuffer();
    }
    if (!ok && this.#conn !== null && !this.#upstreamPaused) {
      this.#upstreamPaused = true;
      this.#conn.pause();
    }
  }

  onUpstreamEnd(): void {
    this.#conn = null;
    this.#upstreamPaused = false;
    this.onUpstreamDrain();
    if (this.#closed) return;
    if (this.#rechunk) {
      this.#writer.write(Buffer.concat([this.#takeHead(), LAST_CHUNK]));
    } else if (this.#headState === H_HELD) {
      this.#writer.write(this.#takeHead());
    }
    this.#responseDone = true;
    this.#finish(null);
    if (this.#reqState === R_DONE) this.#exchangeDone();
    else {
      // The response ended before the request body did: the upstream connection
      // is gone (not reusable) and the rest of the body has nowhere to go.
      this.#keepAlive = false;
      this.#exchangeDone();
    }
  }

  onUpstreamError(failure: UpstreamFailure, cause: Error, headSeen: boolean): void {
    const upstream = this.engine.route.upstream.name;
    const key = this.#endpoint?.key ?? '-';
    const err = failure === UpstreamFailure.CONNECT ? new ConnectFailedError(upstream, key, cause) : new UpstreamResetError(upstream, key, cause);
    this.#conn = null;
    this.#upstreamPaused = false;
    this.onUpstreamDrain();
    if (this.#closed) return;
    if ((cause as { code?: unknown }).code === H2C_ONLY && this.#endpoint !== null && this.#headState === H_NONE && this.#handOffAfterH2Answer(this.#endpoint)) return;
    if (!headSeen && this.#headState === H_NONE && this.#endpoint !== null && this.#retry(err, failure, this.#endpoint)) return;
    if (headSeen || this.#headState !== H_NONE) {
      // Part of the response may have gone out: only a closed connection tells the client it is truncated.
      this.#finish(err);
      this.#destroy();
      return;
    }
    this.#fail(err);
    this.#drainBodyAfterResponse();
  }

  onUpstreamDrain(): void {
    if (this.#pausedForUpstream) {
      this.#pausedForUpstream = false;
      if (!this.#pausedForPipeline) this.#reader.resume();
    }
  }

  // --- hand-off to the Exchange core (h2c-only endpoints) -------------------
  /**
   * Forward the exchange in flight through the Exchange core
   * (../listener/http1-server-exchange.ts): this engine speaks only HTTP/1.1 upstream.
   * The body keeps arriving here (#feedBody), decoded and pushed to the
   * exchange; the exchange writes the response to this connection and calls
   * handOffEnded().
   */
  #handOff(endpoint: Endpoint, accounted: boolean): void {
    const engine = this.engine;
    this.#disarm();
    if (accounted) this.#endpoint = null; // the exchange accounts from here on
    const exchange = engine.handOff!(this, endpoint, {
      method: this.#method,
      forward: this.#forward,
      hasHost: this.#hasHost,
      isGrpc: this.#isGrpc,
      minor: this.#minor,
      keepAlive: this.#keepAlive,
      hasBody: this.#bodyFraming !== B_NONE,
      hash: this.#hasHash ? { hi: this.#hashHi, lo: this.#hashLo } : null,
      accounted,
      learnedNow: accounted,
    });
    this.#handedOff = exchange;
    exchange.begin();
    if (accounted || this.#handedOff === null) return; // #handOffAfterH2Answer replays the body read so far; or it ended at once
    if (this.#reqState === R_DONE) {
      if (this.#bodyFraming !== B_NONE) exchange.pushBody(null);
      return;
    }
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      const stop = this.#feedBody(pending, 0, pending.length);
      if (stop >= 0 && stop < pending.length) this.#pending = pending.subarray(stop);
    }
  }

  /**
   * The endpoint answered our HTTP/1.1 request with HTTP/2 frames: it never
   * processed it. Hand it off with the body bytes sent so far (kept for a
   * retry), decoded again from the start. False when they were not kept
   * (--retries 0, or more than --retry-buffer): the request fails as it is,
   * and the next one goes straight to h2c.
   */
  #handOffAfterH2Answer(endpoint: Endpoint): boolean {
    const route = this.engine.route;
    if (this.engine.handOff === null || route.protocol !== 'auto') return false;
    if (this.#bodyFraming !== B_NONE && this.#kept === null) {
      // Learned all the same: the next request goes to h2c at once.
      learnProtocol(route, endpoint, 2 /* LearnedProtocol.H2C */);
      this.#fail(new UpstreamProtocolError(route.upstream.name, endpoint.key, 'speaks only h2c, and the part of the request body already sent was not kept to send again (over --retry-buffer, or --retries 0)'));
      this.#drainBodyAfterResponse();
      return true;
    }
    const kept = this.#kept;
    this.#kept = null;
    this.#handOff(endpoint, true);
    const exchange = this.#handedOff;
    if (exchange === null) return true; // it ended at once
    // The body bytes read so far first (chunked ones decoded again from the start), then what follows (#feedBody).
    if (kept !== null && kept.length > 0) {
      if (this.#bodyFraming === B_CHUNKED) {
        const replay = new ChunkedScanner();
        replay.reset();
        for (const b of kept) replay.scan(b, 0, b.length, this);
      } else for (const b of kept) exchange.pushBody(b);
    }
    if (this.#reqState === R_DONE && this.#bodyFraming !== B_NONE) exchange.pushBody(null);
    return true;
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    if (this.#handedOff !== null && end > start && !this.#handedOff.pushBody(buf.subarray(start, end))) this.#pauseForUpstream();
  }

  /**
   * A handed-off chunked body's trailer section (validated by the scanner, so
   * `name: value` lines ending in CRLF), in pieces; the last piece ends with
   * the blank line, and the fields go to the exchange, as HTTP/2 trailers.
   */
  onChunkTrailers(buf: Buffer, start: number, end: number): void {
    if (this.#handedOff === null) return;
    const text = (this.#trailerText ?? '') + buf.toString('latin1', start, end);
    if (!text.endsWith('\r\n\r\n') && text !== '\r\n') {
      this.#trailerText = text;
      return;
    }
    this.#trailerText = null;
    const parsed = parseTrailerSection(text);
    let fields: Record<string, string> | null = null;
    for (const name in parsed) {
      const value = parsed[name];
      (fields ??= {})[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (fields !== null) this.#handedOff.setTrailers(fields);
  }

  /** The handed-off exchange wants more request body. */
  bodyWanted(): void {
    this.onUpstreamDrain();
  }

  /** Bytes of the handed-off exchange's response; false when the client is not draining. */
  writeClient(bytes: Buffer): boolean {
    if (this.#closed) return true;
    this.#headState = H_SENT;
    return this.#writer.write(bytes);
  }

  /** Whether the handed-off response may leave the connection open (the client's wish, HTTP/1.0, a drain). */
  get responseKeepAlive(): boolean {
    return this.#keepAlive && !this.engine.closing;
  }

  /** The handed-off exchange ended: its response is written (or it failed after the head, `broken`); `keepAlive`: the response allows reuse. */
  handOffEnded(broken: boolean, keepAlive: boolean): void {
    this.#handedOff = null;
    // Reads paused because the exchange's body stream was full: its last push
    // may have returned false with no _read() after it (the body ended), so
    // nothing else would resume them and the next request would never be read.
    this.onUpstreamDrain();
    if (this.#closed) return;
    if (broken) {
      this.#destroy();
      return;
    }
    this.#responseDone = true;
    if (!keepAlive || !this.responseKeepAlive) this.#keepAlive = false;
    if (this.#reqState !== R_DONE) this.#keepAlive = false; // the rest of the body has nowhere to go
    this.#exchangeDone();
  }

  // --- endings ---------------------------------------------------------------
  #takeHead(): Buffer {
    if (this.#headState !== H_HELD) return EMPTY;
    this.#headState = H_SENT;
    const head = this.#headOut;
    this.#headOut = EMPTY;
    return head;
  }

  /** Answer with a proxy-generated error (the response of writeHttp1Error) and account it. */
  #fail(err: RingsideError): void {
    const s = statusOf(err);
    this.#status = s.httpStatus;
    if (this.#isGrpc) this.#grpcStatus = s.grpcStatus;
    this.socket.write(http1ErrorText(err, this.#isGrpc, !this.#keepAlive || this.engine.closing));
    this.#headState = H_SENT;
    this.#responseDone = true;
    this.#finish(err);
    if (this.#reqState === R_DONE) this.#exchangeDone();
  }

  /** Request and response are both over: close, or go on with the next pipelined request. */
  #exchangeDone(): void {
    this.#active = false;
    this.#endpoint = null;
    this.#kept = null; // an idle connection holds no body bytes
    this.#tried = null;
    if (!this.#keepAlive || this.engine.closing) {
      this.#closed = true;
      this.#pending = null;
      this.socket.end();
      // Reads may still be paused for backpressure (an upload the upstream
      // took slowly): resume them, or the client's FIN is never read and the
      // socket stays half-open for good; a client that never closes goes at
      // the keep-alive timeout.
      this.#pausedForUpstream = false;
      this.#pausedForPipeline = false;
      this.#reader.resume();
      this.#arm(D_IDLE, this.engine.options.keepAliveTimeoutMs);
      return;
    }
    this.#releasePipeline();
    if (this.#pending === null) this.#arm(D_IDLE, this.engine.options.keepAliveTimeoutMs);
    else this.#next();
  }

  /** Accounting, exactly as ../forwarding/exchange.ts finish() does it. */
  #finish(err: RingsideError | null): void {
    const route = this.engine.route;
    const endpoint = this.#endpoint;
    if (this.#deadlineKind === D_REQUEST) this.#disarm();
    this.#endpoint = null;
    requestFinished(route, endpoint, err, HTTP1, this.#status, this.#grpcStatus, this.#startedAt, this.#attempt);
  }

  /** Malformed input before any exchange: 400/431, then close. */
  #reject(status: 400 | 431, why: string): false {
    const route = this.engine.route;
    route.observer.badRequest(route);
    const text = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    this.#endWith(status, text, `ringside: ${text}: ${why}\n`);
    return false;
  }

  /** CONNECT, Upgrade and unknown expectations are refused the way the compat engine refuses them. */
  #refuse(status: number): false {
    this.#endWith(status, STATUS_CODES[status] ?? 'Error', '');
    return false;
  }

  #endWith(status: number, text: string, body: string): void {
    const head = `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\n${body === '' ? '' : 'content-type: text/plain; charset=utf-8\r\n'}content-length: ${body.length}\r\n\r\n`;
    this.#closed = true;
    this.#pending = null;
    this.#disarm();
    this.socket.end(head + body, 'latin1');
  }

  /** The request body broke its framing mid-way. */
  #badBody(): void {
    const route = this.engine.route;
    route.observer.badRequest(route);
    const conn = this.#conn;
    this.#conn = null;
    conn?.abort();
    if (this.#headState === H_NONE && !this.#responseDone) {
      this.#status = 400;
      if (this.#endpoint !== null) this.#finish(new BadRequestError('malformed request body'));
      this.#endWith(400, 'Bad Request', 'ringside: Bad Request: malformed chunked body\n');
    } else {
      if (!this.#responseDone) this.#finish(new BadRequestError('malformed request body'));
      this.#destroy();
    }
  }

  // --- socket events and timeouts ------------------------------------------
  onWriterDrain(): void {
    this.#onClientDrain();
  }

  #onClientDrain(): void {
    if (this.#handedOff !== null) this.#handedOff.clientDrained();
    if (this.#upstreamPaused && this.#conn !== null) {
      this.#upstreamPaused = false;
      this.#conn.resume();
    }
    // Pipelined requests held back while the client was not reading its responses.
    if (this.#pausedForPipeline && !this.#active && !this.#clientBacklogged()) {
      this.#releasePipeline();
      this.#next();
    }
  }

  /** Bytes handed to the client socket that have not left yet (a write still holds its buffer). */
  #clientWritesPending(): boolean {
    return this.#writer.queued > 0 || this.socket.writableLength > 0;
  }

  /** Response bytes wait for the client (a write returned false and no drain has come since). */
  #clientBacklogged(): boolean {
    return this.#writer.queued > 0 || this.socket.writableNeedDrain;
  }

  #onClientClose(): void {
    this.#closed = true;
    this.#pending = null;
    timerWheel.remove(this);
    this.engine.connections.delete(this);
    const conn = this.#conn;
    this.#conn = null;
    // Client abort: the upstream connection is destroyed, never reused.
    conn?.abort();
    const handedOff = this.#handedOff;
    this.#handedOff = null;
    handedOff?.clientGone();
    if (this.#active && !this.#responseDone && this.#endpoint !== null) {
      if (this.#headState === H_NONE) this.#status = statusOf(new ClientCancelledError()).httpStatus;
      this.#finish(new ClientCancelledError(this.engine.route.upstream.name, this.#endpoint.key));
    }
  }

  #destroy(): void {
    this.#closed = true;
    this.#pending = null;
    this.socket.destroy();
  }

  #arm(kind: number, ms: number): void {
    this.#deadlineKind = kind;
    this.deadline = ms > 0 ? timerWheel.now + ms : 0;
  }

  #disarm(): void {
    this.#deadlineKind = D_NONE;
    this.deadline = 0;
  }

  onDeadline(): void {
    const kind = this.#deadlineKind;
    this.#deadlineKind = D_NONE;
    if (kind === D_IDLE) this.socket.destroy();
    else if (kind === D_HEADERS) {
      const route = this.engine.route;
      route.observer.badRequest(route);
      this.#endWith(408, 'Request Timeout', 'ringside: Request Timeout: request head not received in time\n');
    } else if (kind === D_REQUEST && this.#active && this.#headState === H_NONE && !this.#responseDone) {
      const conn = this.#conn;
      this.#conn = null;
      conn?.abort();
      const route = this.engine.route;
      this.#fail(new TimeoutError(route.upstream.name, this.#endpoint?.key, 'request'));
      this.#drainBodyAfterResponse();
    }
  }
}

