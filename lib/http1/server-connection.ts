// One client connection of our HTTP/1.1 server: a codec in front of the
// forwarding core. It turns bytes into requests (strict head parse, body
// framing) and hands each to the core through the connection's exchange
// (./http1-server-exchange.ts), which picks, retries, times out, accounts and
// answers errors; an HTTP/1.1 attempt passes the bytes on as they are
// (./pool-attempt.ts). Requests are handled one at a time in arrival order:
// the next pipelined head is parsed only when the previous response has been
// written, so responses can never be reordered (RFC 9112 section 9.3.2).
//
// Life of one request (methods and reused objects, no per-request closures or timers):
//   #parseHead     strict head parse -> hash -> exchange.begin (the core: pick, attempt)
//   #feedBody*     Content-Length or validated chunked bytes, to the body relay as received
//   exchangeEnded  the core finished: the next pipelined request (or close)
// Malformed input before any exchange is answered here (400/431/408, then close).

import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import { BadRequestError } from '../errors/errors.ts';
import { requestHash } from '../forwarding/request-hash.ts';
import type { Route } from '../forwarding/route.ts';
import { startTunnel } from '../forwarding/tunnel.ts';
import { ChunkedScanner, MALFORMED, NEED_MORE } from './chunked-scanner.ts';
import { Http1ServerExchange } from './http1-server-exchange.ts';
import { COALESCE_LIMIT } from './pool-attempt.ts';
import type { BodySource } from './request-body-relay.ts';
import { HeadResult, parseRequestHead, RequestHead } from './request-head.ts';
import { SocketReader, type ReadTarget } from '../io/socket-reader.ts';
import { SocketWriter, type WriteDrainListener } from '../io/socket-writer.ts';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';

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
}

const R_HEAD = 0; // waiting for a request head
const R_BODY = 1; // reading the request body
const R_DONE = 2; // request fully read

const B_NONE = 0;
const B_LENGTH = 1;
const B_CHUNKED = 2;

const D_NONE = 0;
const D_HEADERS = 1;
const D_IDLE = 2;
const D_REQUEST = 3;

/** Pipelined bytes buffered while a response is in flight before the client is paused. */
const MAX_PIPELINED = 64 * 1024;

const requestHead = new RequestHead();

export class ServerConnection implements TimedItem, WriteDrainListener, ReadTarget, BodySource {
  readonly engine: Http1ServerState;
  readonly socket: net.Socket;
  readonly writer: SocketWriter;
  readonly #reader: SocketReader;
  deadline = 0;
  #deadlineKind = D_NONE;
  #closed = false;
  #pending: Buffer | null = null;
  #pausedForUpstream = false;
  #pausedForPipeline = false;
  #remoteAddress: string | undefined = undefined;
  /** The exchange of this connection's requests, reused while nothing else holds it (Http1ServerExchange.reusable). */
  #exchange: Http1ServerExchange | null = null;

  // --- the request in flight ------------------------------------------------
  #active = false;
  /** Counts requests: code that ran the core synchronously tells whether it is still on the same one. */
  #seq = 0;
  #reqState = R_HEAD;
  #bodyFraming = B_NONE;
  #bodyRemaining = 0;
  readonly #scanner = new ChunkedScanner();
  #responseDone = false;
  /** The request's HTTP minor version (0 or 1). */
  minor = 1;
  /** The connection may stay open after this response (the client's wish, HTTP/1.0, the response's framing, a drain). */
  keepAlive = true;

  constructor(engine: Http1ServerState, socket: net.Socket) {
    this.engine = engine;
    this.socket = socket;
    this.writer = new SocketWriter(socket, this);
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

  get closed(): boolean {
    return this.#closed;
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
    const seq = ++this.#seq;
    this.#active = true;
    this.#responseDone = false;
    this.minor = head.minor;
    this.keepAlive = head.keepAlive && !engine.closing;
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

    const hash = route.hashPolicy === null ? null : requestHash(route, head.hashHeaders, head.target, (this.#remoteAddress ??= this.socket.remoteAddress));
    let exchange = this.#exchange;
    if (exchange === null || !exchange.reusable) exchange = this.#exchange = new Http1ServerExchange(route, this);
    exchange.begin(head, hash);
    // The core may have answered at once (rate limited, no endpoint) and this connection gone on to the next request.
    if (seq !== this.#seq || this.#closed || this.#reqState !== R_BODY) return;
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      const stop = this.#feedBody(pending, 0, pending.length);
      if (stop >= 0 && stop < pending.length) this.#pending = pending.subarray(stop);
    }
  }

  /**
   * The first write of an HTTP/1.1 attempt: `head` and the Content-Length body
   * bytes already at hand, when they are few (one write, one packet); the
   * bytes are taken from #pending and go through the body relay (kept for a retry).
   */
  withBodyAtHand(head: string): Buffer | string {
    const pending = this.#pending;
    if (this.#reqState !== R_BODY || this.#bodyFraming !== B_LENGTH || pending === null || pending.length > COALESCE_LIMIT) return head;
    const n = Math.min(this.#bodyRemaining, pending.length);
    this.#bodyRemaining -= n;
    const out = Buffer.allocUnsafe(head.length + n);
    out.write(head, 0, 'latin1');
    pending.copy(out, head.length, 0, n);
    this.#pending = n < pending.length ? pending.subarray(n) : null;
    const relay = this.#exchange!.relay;
    relay.sink = null; // these bytes go out with the head
    relay.data(pending.subarray(0, n));
    if (this.#bodyRemaining === 0) {
      this.#reqState = R_DONE;
      relay.ended = true;
    }
    return out;
  }

  /**
   * Forward request body bytes buf[start, end). Returns the index past the
   * body's end (the rest belongs to the next request), or -1 when all bytes
   * were body (or the connection failed).
   */
  #feedBody(buf: Buffer, start: number, end: number): number {
    let stop: number;
    const relay = this.#exchange!.relay;
    if (this.#bodyFraming === B_LENGTH) {
      const n = Math.min(this.#bodyRemaining, end - start);
      this.#bodyRemaining -= n;
      stop = start + n;
    } else {
      // A body going to an upstream client is decoded on the way (relay.onChunkData).
      const r = this.#scanner.scan(buf, start, end, relay.decoding ? relay : null);
      if (r === MALFORMED) {
        this.#badBody();
        return -1;
      }
      stop = r === NEED_MORE ? end : r;
    }
    // The bytes are this connection's own (onRead copies what arrives mid-exchange): the relay may keep them.
    if (stop > start && !relay.data(start === 0 && stop === buf.length ? buf : buf.subarray(start, stop))) this.pauseForUpstream();
    const finished = this.#bodyFraming === B_LENGTH ? this.#bodyRemaining === 0 : this.#scanner.done;
    if (!finished) return -1;
    this.#reqState = R_DONE;
    relay.end();
    if (this.#responseDone) this.#exchangeDone();
    return stop;
  }

  /** Stop reading the client until the upstream (or the stream that carries the body) wants more. */
  pauseForUpstream(): void {
    if (this.#pausedForUpstream) return;
    this.#pausedForUpstream = true;
    this.#reader.pause();
  }

  /** BodySource: the upstream drained, or the body's reader wants more. */
  bodyWanted(): void {
    if (this.#pausedForUpstream) {
      this.#pausedForUpstream = false;
      if (!this.#pausedForPipeline) this.#reader.resume();
    }
  }

  // --- what the exchange asks of the connection --------------------------------
  /** Response bytes of an h2c attempt or an error; false when the client is not draining. */
  writeClient(bytes: Buffer): boolean {
    if (this.#closed) return true;
    return this.writer.write(bytes);
  }

  /** Whether a response may leave the connection open (the client's wish, HTTP/1.0, a drain). */
  get responseKeepAlive(): boolean {
    return this.keepAlive && !this.engine.closing;
  }

  armRequestDeadline(ms: number): void {
    this.#arm(D_REQUEST, ms);
  }

  clearRequestDeadline(): void {
    if (this.#deadlineKind === D_REQUEST) this.#disarm();
  }

  /**
   * The core finished the exchange: its response is written (or it broke
   * after the head went out, `broken`); `keepAlive`: the response allows
   * reuse; `answered`: it was our error response, and the rest of the request
   * body is read and dropped before the next request (an upstream's response
   * that ends before the body does closes the connection instead: the rest
   * had nowhere to go).
   */
  exchangeEnded(broken: boolean, keepAlive: boolean, answered: boolean): void {
    this.bodyWanted();
    if (this.#closed) return;
    if (broken) {
      this.#destroy();
      return;
    }
    this.#responseDone = true;
    if (!keepAlive) this.keepAlive = false;
    if (this.#reqState === R_DONE) this.#exchangeDone();
    else if (!answered) {
      this.keepAlive = false;
      this.#exchangeDone();
    }
  }

  /** Request and response are both over: close, or go on with the next pipelined request. */
  #exchangeDone(): void {
    this.#active = false;
    if (!this.keepAlive || this.engine.closing) {
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

  // --- endings of our own ---------------------------------------------------------
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

  /** The request body broke its framing mid-way: the core answers 400 (or the connection closes), and the connection is not reused. */
  #badBody(): void {
    const route = this.engine.route;
    route.observer.badRequest(route);
    this.keepAlive = false;
    const exchange = this.#exchange!;
    if (!exchange.done) {
      exchange.requestBroken(new BadRequestError('malformed chunked request body'));
      if (!this.#closed) this.#destroy();
    } else if (this.#responseDone) this.#destroy();
  }

  // --- socket events and timeouts ------------------------------------------
  onWriterDrain(): void {
    this.#onClientDrain();
  }

  #onClientDrain(): void {
    if (this.#active) this.#exchange?.clientDrained();
    // Pipelined requests held back while the client was not reading its responses.
    if (this.#pausedForPipeline && !this.#active && !this.#clientBacklogged()) {
      this.#releasePipeline();
      this.#next();
    }
  }

  /** Bytes handed to the client socket that have not left yet (a write still holds its buffer). */
  writesPending(): boolean {
    return this.writer.queued > 0 || this.socket.writableLength > 0;
  }

  /** Response bytes wait for the client (a write returned false and no drain has come since). */
  #clientBacklogged(): boolean {
    return this.writer.queued > 0 || this.socket.writableNeedDrain;
  }

  #onClientClose(): void {
    this.#closed = true;
    this.#pending = null;
    timerWheel.remove(this);
    this.engine.connections.delete(this);
    // Client abort: the core cancels the attempt (its upstream connection is destroyed, never reused) and accounts it.
    if (this.#active) this.#exchange?.clientGone();
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
    } else if (kind === D_REQUEST && this.#active) this.#exchange?.timedOut();
  }
}
