// HTTP/2 streams (h2c, gRPC) from node:http2, forwarded through an Exchange.
// Each stream is balanced on its own: one client connection with 10
// concurrent RPCs spreads over every endpoint.
//
// Per-stream cost matters here (node:http2 alone is ~25 µs of CPU per
// request), so a stream gets no closures: its exchange hangs off the stream
// (kExchange) and the listeners are shared module functions, 'drain' and
// 'wantTrailers' only added when they are needed.
//
// Ending without a trailers round trip: node:http2 can send trailers only if
// respond() asked for them up front (waitForTrailers), and then every
// response ends with an extra 'wantTrailers' event and an extra empty DATA
// frame with END_STREAM when there are none. Most responses arrive whole in
// one upstream read (head, body and end in the same turn), so the head is held
// back until the end of the turn (a microtask shared by every stream):
//   head, data..., end in this turn  -> respond(); end(lastChunk)      (HEADERS, DATA+END_STREAM)
//   ... with trailers                 -> respond(waitForTrailers); sendTrailers
//   end not seen by the end of turn   -> respond(waitForTrailers) and stream on as before
// A held head never waits for more than the current turn, so streaming
// responses (gRPC server streams, long downloads) are not delayed.

import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { BadRequestError, type RingsideError } from '../errors/errors.ts';
import type { Hash64 } from '../hash/hash64.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from '../forwarding/exchange.ts';
import { type GrpcTrailers, writeHttp2Error } from './error-response.ts';
import { isGrpcContentType } from './http1-exchange.ts';
import { RequestBodyTap } from '../forwarding/request-body.ts';
import { requestHash } from '../forwarding/request-hash.ts';
import type { Route } from '../forwarding/route.ts';
import { toUpstreamError } from '../upstream/upstream-error.ts';

const HOP_BY_HOP_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

const kExchange = Symbol('ringside.exchange');
type ExchangeStream = ServerHttp2Stream & { [kExchange]?: Http2Exchange };
type Trailers = Record<string, string | string[] | undefined> | GrpcTrailers;
type ResponseHead = Record<string, string | string[] | number>;

const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;

export class Http2Exchange extends Exchange {
  readonly stream: ExchangeStream;
  /** Trailers to send once node:http2 asks for them ('wantTrailers'). */
  trailers: Trailers | null = null;
  /** HEAD, 204 and 304 responses carry no body (RFC 9110 section 6.4.1). */
  bodiless = false;
  readonly isHead: boolean;
  /** The response head held back until the end of this turn, or null (not yet received, or sent). */
  heldHead: ResponseHead | null = null;
  /** Body received while the head was held: one chunk, or several. */
  heldBody: Buffer | Buffer[] | null = null;
  /** A 'drain' listener is on the stream (added at the first backpressure). */
  drainListening = false;

  constructor(route: Route, stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    super(route, ClientProtocol.HTTP2, isGrpcContentType(headers['content-type']));
    this.stream = stream;
    this.isHead = headers[':method'] === 'HEAD';
    (stream as ExchangeStream)[kExchange] = this;
    stream.on('close', onStreamClose);
  }

  protected writeHead(status: number, headers: Record<string, string | string[]>): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    const head = headers as ResponseHead;
    head[':status'] = status;
    // gRPC "Trailers-Only": grpc-status in the head means the upstream ended the
    // stream with these headers, so they must go out with END_STREAM too.
    this.bodiless = this.isHead || status === 204 || status === 304 || (this.isGrpc && headers['grpc-status'] !== undefined);
    if (this.bodiless) {
      this.#respond(head, END_STREAM);
      return;
    }
    this.heldHead = head;
    held.push(this);
    if (held.length === 1) queueMicrotask(flushHeldHeads);
  }

  protected writeData(chunk: Buffer): boolean {
    if (this.bodiless || this.stream.destroyed) return true;
    if (this.heldHead !== null) {
      // At most one upstream read's worth: released at the end of this turn.
      const body = this.heldBody;
      if (body === null) this.heldBody = chunk;
      else if (Array.isArray(body)) body.push(chunk);
      else this.heldBody = [body, chunk];
      return true;
    }
    if (this.stream.write(chunk)) return true;
    if (!this.drainListening) {
      this.drainListening = true;
      this.stream.on('drain', onStreamDrain);
    }
    return false;
  }

  protected writeEnd(trailers: Record<string, string | string[] | undefined> | null): void {
    const stream = this.stream;
    if (this.bodiless || stream.destroyed) return;
    const head = this.heldHead;
    if (head === null) {
      // The head went out with waitForTrailers: 'wantTrailers' sends these (or none).
      this.trailers = trailers;
      stream.end();
      return;
    }
    this.heldHead = null;
    const body = this.heldBody;
    this.heldBody = null;
    if (trailers !== null) {
      this.trailers = trailers;
      if (this.#respondStreaming(head, body)) stream.end();
      return;
    }
    // The whole response is here: HEADERS, then DATA with END_STREAM (or HEADERS with END_STREAM).
    if (body === null) this.#respond(head, END_STREAM);
    else if (this.#respond(head, undefined)) {
      if (Array.isArray(body)) {
        const last = body.length - 1;
        for (let i = 0; i < last; i++) stream.write(body[i]);
        stream.end(body[last]);
      } else stream.end(body);
    }
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    // The upstream failed after its head, in the same turn: send the head now so
    // the client sees the same thing as when it had gone out already.
    if (this.heldHead !== null) {
      this.releaseHead();
      if (this.done) return; // the head itself could not be sent: answered already
    }
    const trailers = writeHttp2Error(this.stream, err, headSent, this.isGrpc);
    if (trailers !== null && !this.bodiless) {
      // The head went out: end the stream with an explicit gRPC status rather than a truncated success.
      this.trailers = trailers;
      this.stream.end();
    }
  }

  /** End of turn and the response is not complete: the head goes out, ready to stream and to end with trailers. */
  releaseHead(): void {
    const head = this.heldHead;
    if (head === null) return;
    this.heldHead = null;
    const body = this.heldBody;
    this.heldBody = null;
    if (this.stream.destroyed) return;
    if (!this.#respondStreaming(head, body) && this.controller !== null && !this.controller.aborted) {
      // Outside the upstream client's callbacks here: stop the rest of the response.
      this.controller.abort(new Error('response head not sent'));
    }
  }

  /** Send the head, ready for trailers, and what body came with it; false when the head could not be sent. */
  #respondStreaming(head: ResponseHead, body: Buffer | Buffer[] | null): boolean {
    const stream = this.stream;
    stream.on('wantTrailers', onWantTrailers);
    if (!this.#respond(head, WAIT_FOR_TRAILERS)) return false;
    if (body === null) return true;
    let ok: boolean;
    if (Array.isArray(body)) {
      ok = true;
      for (const chunk of body) ok = stream.write(chunk);
    } else ok = stream.write(body);
    if (!ok && !this.drainListening) {
      // Held bytes are past the stream's buffer: the upstream pauses at its next chunk, resumes on drain.
      this.drainListening = true;
      stream.on('drain', onStreamDrain);
    }
    return true;
  }

  /**
   * stream.respond(), which throws for a head that HTTP/2 cannot carry
   * (connection-specific fields, RFC 9113 section 8.2.2; invalid names or
   * values). Nothing went out then: the client gets a proxy-made 502 instead.
   */
  #respond(head: ResponseHead, options: typeof END_STREAM | typeof WAIT_FOR_TRAILERS | undefined): boolean {
    try {
      this.stream.respond(head, options);
      return true;
    } catch (err) {
      this.heldBody = null;
      this.bodiless = true;
      this.status = 0;
      this.fail(toUpstreamError(err, this.route.upstream.name, this.endpoint?.key ?? ''));
      return false;
    }
  }
}

/** Exchanges whose head is held until the end of the current turn. */
const held: Http2Exchange[] = [];

function flushHeldHeads(): void {
  // A head released here may make more exchanges hold theirs (not in practice:
  // nothing reads upstream from inside respond()); they go on the next microtask.
  const n = held.length;
  for (let i = 0; i < n; i++) held[i].releaseHead();
  held.splice(0, n);
  if (held.length > 0) queueMicrotask(flushHeldHeads);
}

function onStreamClose(this: ExchangeStream): void {
  const exchange = this[kExchange];
  if (exchange === undefined || exchange.done) return;
  exchange.heldBody = null;
  exchange.clientGone(this.session === undefined || this.session.destroyed || this.session.closed);
}

function onStreamDrain(this: ExchangeStream): void {
  this[kExchange]?.resume();
}

function onWantTrailers(this: ExchangeStream): void {
  const exchange = this[kExchange];
  try {
    this.sendTrailers((exchange?.trailers ?? {}) as Record<string, string>);
  } catch (err) {
    // Trailers node:http2 refuses (a repeated single-value field, ...) throw here, inside its event: the response
    // cannot end as sent, so the stream is reset (destroy with an error: RST_STREAM INTERNAL_ERROR at once; close()
    // would wait for the writable side, which may end the stream cleanly without them) rather than the process
    // taken down by an uncaught exception.
    this.destroy(err as Error);
  }
}

/** The client's address, read once per connection (session.socket is a Proxy over a getter). */
const kClientAddress = Symbol('ringside.clientAddress');
type AddressedSession = ServerHttp2Session & { [kClientAddress]?: string };

/**
 * Handle one stream: validate, hash, pick, forward. Called by node:http2's
 * 'stream' event with its header object and the same fields as a flat
 * [name, value, ...] list in arrival order (names already lower-case: RFC 9113
 * section 8.2.1).
 */
export function handleHttp2Stream(route: Route, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[]): void {
  stream.on('error', noop); // errors surface through 'close'; never crash on a client's reset
  const exchange = new Http2Exchange(route, stream, headers);
  const method = headers[':method'];
  const path = headers[':path'];
  if (method === undefined || path === undefined || method === 'CONNECT') {
    exchange.fail(new BadRequestError(method === 'CONNECT' ? 'CONNECT is not supported' : 'missing :method or :path'));
    return;
  }
  let hash: Hash64 | null = null;
  if (route.hashPolicy !== null) {
    const session = stream.session as AddressedSession | undefined;
    hash = requestHash(route, headers, path, session === undefined ? undefined : (session[kClientAddress] ??= session.socket?.remoteAddress ?? ''));
  }
  const body = stream.endAfterHeaders ? null : new RequestBodyTap(stream, route.upstream.config.retryBufferBytes);
  const deadline = exchange.isGrpc ? parseGrpcTimeout(headers['grpc-timeout']) : 0;
  exchange.start(method, path, forwardHeaders(rawHeaders, headers), body, hash, deadline);
}

/**
 * The request fields to send upstream, as a flat [name, value, ...] list.
 * Walks the raw list (an array walk; a for-in over node's null-prototype
 * header object costs ~3x more), with the header object's value for a
 * repeated field: node:http2 joined it (", ", or "; " for cookie as RFC 9113
 * section 8.2.3 asks before forwarding to HTTP/1.1) or kept the first
 * (single-value fields), and that value goes out once, where the field first
 * appeared.
 */
export function forwardHeaders(raw: readonly string[], headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    let value: string | string[] | undefined = raw[i + 1];
    const merged = headers[name];
    if (merged !== value) {
      if (firstNameIndex(raw, name) !== i) continue; // a repeat: forwarded with the first
      value = merged;
      if (value === undefined) continue;
    }
    if (HOP_BY_HOP_H2.has(name)) {
      if (name === 'host' && !sawHost) {
        sawHost = true;
        out.push('host', value as string);
      }
      continue;
    }
    if (name === 'te') {
      if (value === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  // :authority becomes Host (HTTP/1.1 upstream) or :authority again (the h2 clients).
  const authority = headers[':authority'];
  if (!sawHost && authority !== undefined) out.push('host', authority);
  return out;
}

function firstNameIndex(raw: readonly string[], name: string): number {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return i;
  return -1;
}

function noop(): void {}
