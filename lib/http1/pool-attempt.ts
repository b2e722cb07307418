// One HTTP/1.1 attempt of a request read by ./server-connection.ts, through
// the endpoint's keep-alive pool (./upstream-pool.ts), with the bytes passed
// on as they are: the client's head as ./request-head.ts rewrote it, its body
// as framed, and the upstream's response head (with our framing and
// connection fields) and body straight back to the client. It is the
// forwarding core's controller for that attempt (pause, resume, abort) and
// reports to it (../forwarding/exchange.ts) only what the core decides on: the
// head's status, the end, a failure. One per client connection, reused.
//
//   start            pool.acquire -> head (+ body bytes at hand, or all that was kept for a replay) in one write
//   onUpstreamHead   the client head (framing fields added), held until the first body bytes
//   onUpstreamBody*  head + first bytes in one write; then pass-through slices
//   onUpstreamEnd    the held head or the last chunk, then the core's onResponseEnd

import { ConnectFailedError } from '../errors/errors.ts';
import { DispatchControllerBase } from '../forwarding/dispatch-controller.ts';
import type { RawBodySink } from './request-body-relay.ts';
import { Framing, type ResponseHead } from './response-head.ts';
import type { Http1ServerExchange } from './http1-server-exchange.ts';
import type { Exchange } from '../forwarding/exchange.ts';
import type { ServerConnection } from './server-connection.ts';
import { UpstreamFailure, type UpstreamConnection, type UpstreamUser } from './upstream-pool.ts';

/** The endpoint the core picked (its type: this codec knows endpoints only as the core hands them over). */
type Endpoint = NonNullable<Exchange['endpoint']>;

const H_NONE = 0; // no response head yet
const H_HELD = 1; // built, waiting to go out with the first body bytes
const H_SENT = 2;

/** Up to this many body bytes are copied to go out in the same write as the head. */
export const COALESCE_LIMIT = 16 * 1024;
/**
 * The largest coalesced response whose buffer a connection keeps for the next
 * one: an idle keep-alive connection (60 s by default) holds it, so it stays
 * small (a few hundred bytes is the common answer; the slice shares one of
 * Buffer's 8 KiB pool slabs with others).
 */
const REUSE_LIMIT = 2 * 1024;
const EMPTY = Buffer.alloc(0);
const NO_TRAILERS = Object.freeze({}) as Record<string, string>;
/** The last chunk of a re-chunked body (RFC 9112 section 7.1). */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

export class PoolAttempt extends DispatchControllerBase implements UpstreamUser, RawBodySink {
  readonly client: ServerConnection;
  readonly exchange: Http1ServerExchange;
  upstream: UpstreamConnection | null = null;
  #done = true;
  #upstreamPaused = false;
  #headState = H_NONE;
  /** The client's response head while H_HELD (shared, read-only: see ResponseHead.encoded). */
  #headOut: Buffer = EMPTY;
  #rechunk = false;
  /**
   * The last small response (head and body in one buffer), once its write has
   * completed: the next one of the same size is built in it instead of in a
   * new buffer (responses of one size are common: a sidecar's callers ask the
   * same kind of question over and over). Null while a write may still read it.
   */
  #coalesced: Buffer | null = null;

  constructor(client: ServerConnection, exchange: Http1ServerExchange) {
    super();
    this.client = client;
    this.exchange = exchange;
  }

  /** Send the request to `endpoint`; `replay`: with all the body bytes kept so far (a retry, or a resend after a protocol switch). */
  start(endpoint: Endpoint, replay: boolean): void {
    const client = this.client;
    const exchange = this.exchange;
    this.rearm();
    this.#done = false;
    this.#upstreamPaused = false;
    this.#headState = H_NONE;
    this.#rechunk = false;
    const conn = endpoint.clients.pool().acquire(this, exchange.method === 'HEAD', client.minor === 0);
    this.upstream = conn;
    exchange.onRequestStart(this);
    const head = exchange.headFor(endpoint);
    const relay = exchange.body === null ? null : exchange.relay;
    let out: Buffer | string = head;
    if (relay !== null) {
      const kept = replay ? relay.kept : null;
      if (kept !== null && kept.length > 0) {
        const buf = Buffer.allocUnsafe(head.length + relay.keptBytes);
        let o = buf.write(head, 0, 'latin1');
        for (const b of kept) o += b.copy(buf, o);
        out = buf;
      } else if (!replay) out = client.withBodyAtHand(head);
      relay.sendTo(this);
    }
    if (!conn.write(out)) client.pauseForUpstream();
    if (relay === null || relay.ended) conn.requestSent();
  }

  // --- RawBodySink ---------------------------------------------------------------
  writeBody(bytes: Buffer): boolean {
    return this.upstream === null || this.upstream.write(bytes);
  }

  bodyEnded(): void {
    this.upstream?.requestSent();
  }

  /** The client socket drained: read the upstream again. */
  clientDrained(): void {
    if (this.#upstreamPaused && this.upstream !== null) {
      this.#upstreamPaused = false;
      this.upstream.resume();
    }
  }

  // --- UpstreamUser ---------------------------------------------------------
  onUpstreamHead(head: ResponseHead): void {
    const client = this.client;
    this.exchange.headArrived(head.status, head.grpcStatus);
    let out = head.forward;
    const framing = head.framing;
    const minor = client.minor;
    this.#rechunk = false;
    if (minor === 1) {
      if (framing === Framing.CHUNKED) out += 'transfer-encoding: chunked\r\n';
      else if (framing === Framing.CLOSE) {
        // Close-delimited upstream body: re-framed as chunked so the client connection survives.
        out += 'transfer-encoding: chunked\r\n';
        this.#rechunk = true;
      }
    } else if (framing === Framing.CHUNKED || framing === Framing.CLOSE) {
      client.keepAlive = false; // HTTP/1.0 has no chunked coding: the close ends the body
    }
    if (client.engine.closing) client.keepAlive = false;
    const keepAlive = client.keepAlive;
    // Set-Cookie for a sticky session that starts or moved here (--session-cookie), beside the replica's own.
    const setCookie = this.exchange.route.sessionCookie == null ? null : this.exchange.sessionSetCookie();
    // The same upstream head bytes give the same client head for the same (minor, keep-alive): encode it once.
    const variant = minor | (keepAlive ? 2 : 0);
    if (setCookie === null && head.encoded !== null && head.encodedVariant === variant) {
      this.#headOut = head.encoded;
    } else {
      if (setCookie !== null) out += `set-cookie: ${setCookie}\r\n`;
      if (!keepAlive) out += 'connection: close\r\n';
      else if (minor === 0) out += 'connection: keep-alive\r\n';
      const bytes = Buffer.from(out + '\r\n', 'latin1');
      if (setCookie === null) {
        head.encoded = bytes;
        head.encodedVariant = variant;
      }
      this.#headOut = bytes;
    }
    this.#headState = H_HELD;
  }

  onUpstreamBody(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    const client = this.client;
    if (n === 0 || client.closed) return;
    const writer = client.writer;
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
      this.#coalesced = len <= REUSE_LIMIT && !client.writesPending() ? out : null;
    } else {
      if (this.#headState === H_HELD) writer.write(this.#takeHead());
      ok = writer.write(buf.subarray(start, end));
      // The socket kept a reference to our slice of the upstream's read buffer: let it have it.
      if (client.writesPending()) this.upstream?.lendReadBuffer();
    }
    if (!ok && this.upstream !== null && !this.#upstreamPaused) {
      this.#upstreamPaused = true;
      this.upstream.pause();
    }
  }

  onUpstreamEnd(): void {
    const client = this.client;
    this.#detach();
    if (!client.closed) {
      if (this.#rechunk) client.writer.write(Buffer.concat([this.#takeHead(), LAST_CHUNK]));
      else if (this.#headState === H_HELD) client.writer.write(this.#takeHead());
    }
    this.exchange.onResponseEnd(this, NO_TRAILERS);
  }

  onUpstreamError(failure: UpstreamFailure, cause: Error, _headSeen: boolean): void {
    this.#detach();
    // Whatever failed before the connection was up is a connect failure (retried as never processed).
    const exchange = this.exchange;
    const err = failure === UpstreamFailure.CONNECT ? new ConnectFailedError(exchange.route.upstream.name, exchange.endpoint?.key ?? '-', cause) : cause;
    exchange.onResponseError(this, err);
  }

  onUpstreamDrain(): void {
    this.client.bodyWanted();
  }

  // --- DispatchController -------------------------------------------------------
  protected get finished(): boolean {
    return this.#done;
  }

  protected pausing(): void {
    this.upstream?.pause();
  }

  protected resuming(): void {
    this.upstream?.resume();
  }

  /** Timeout, client gone, a broken request body: the upstream connection is destroyed, never reused half-done. */
  protected aborting(reason: Error): void {
    const conn = this.upstream;
    this.#detach();
    conn?.abort();
    this.exchange.onResponseError(this, reason);
  }

  #detach(): void {
    this.#done = true;
    this.upstream = null;
    this.#upstreamPaused = false;
    // Reads paused while the upstream socket was full: nothing else would resume them.
    this.client.bodyWanted();
  }

  #takeHead(): Buffer {
    if (this.#headState !== H_HELD) return EMPTY;
    this.#headState = H_SENT;
    const head = this.#headOut;
    this.#headOut = EMPTY;
    return head;
  }
}
