// HTTP/1.1 requests to one endpoint behind undici's dispatch contract
// (`dispatch(options, handler)`, the v8 handler callbacks), over the lean
// engine's keep-alive pool (./upstream-pool.ts). The listener's Exchange uses
// it for HTTP/2 clients of HTTP/1.1 upstreams on --engine lean, in place of
// undici's Pool: it costs less per request, and it carries request trailers,
// which undici cannot send.
//
// The request body is framed here (RFC 9112 section 6):
//   the client declared a length (content-length)  -> sent with that Content-Length;
//                                                     trailers cannot follow: dropped
//                                                     and reported to the handler
//   no declared length                               -> Transfer-Encoding: chunked, and the
//                                                     client's trailers in the trailer
//                                                     section (section 7.1.2)
//   no body                                          -> none (content-length: 0 for methods
//                                                     that normally carry one, as undici does)
// It streams with backpressure: the body is paused while the upstream socket
// holds unsent bytes and resumed when it drains. Response bodies are handed
// over decoded, and the trailer section of a chunked response arrives in
// onResponseEnd, as undici does.

import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DispatchControllerBase } from '../forwarding/dispatch-controller.ts';
import { forwardableTrailer } from '../forwarding/trailer-fields.ts';
import { ChunkedScanner, parseTrailerSection, type ChunkDataSink } from './chunked-scanner.ts';
import { Framing, type ResponseHead } from './response-head.ts';
import type { UpstreamConnection, UpstreamFailure, UpstreamPool, UpstreamUser } from './upstream-pool.ts';

type Handler = Dispatcher.DispatchHandler;
type Fields = Record<string, string | string[]>;

/** The handler may also want to hear of request trailers that could not be sent (Exchange counts and logs them). */
export interface RequestTrailersDroppedListener {
  onRequestTrailersDropped?(names: readonly string[]): void;
}

/** The body stream the listener passes (../forwarding/request-body.ts): its trailers are readable once it has ended. */
type Body = Readable & { readonly trailers?: Record<string, string> | null; [kRequest]?: Http1Request };

/** Methods whose request normally carries content: without a body undici sends `content-length: 0` for them, and so do we. */
const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);
/** Response body slices at least this large are handed over in place (the connection reads into a new buffer); smaller ones are copied. */
const LEND_MIN = 8 * 1024;
/** Body chunks up to this size go out with their chunk-size line and CRLF in one write. */
const COALESCE_MAX = 16 * 1024;
const EMPTY_TRAILERS: Fields = Object.freeze({}) as Fields;
const REQUEST_CONTEXT = Object.freeze({});
const CRLF = Buffer.from('\r\n', 'latin1');
/**
 * What may not go into the request line: node:http2 does not check :method or
 * :path for characters that would break an HTTP/1.1 request line (a space, CR,
 * LF: request smuggling). undici refuses the same (RFC 9110 section 9.1 token;
 * RFC 9112 section 3.2 request-target).
 */
const INVALID_METHOD = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const INVALID_PATH = /[^\u0021-\u00ff]/;

export class Http1Dispatcher {
  readonly pool: UpstreamPool;
  /** `host:port`: the Host of requests that carry none (undici sends its origin's). */
  readonly authority: string;
  // The last response head seen, parsed: most heads from one endpoint are the
  // same bytes (the pool then reuses the same `forward` string), so they are
  // parsed once. The object is shared, read-only: Exchange copies what it forwards.
  #lastForward = '';
  #lastFields: Fields = EMPTY_TRAILERS;
  #lastMessage = '';

  constructor(pool: UpstreamPool, authority: string) {
    this.pool = pool;
    this.authority = authority;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const request = new Http1Request(this, handler, options.method, options.body as Body | null | undefined);
    handler.onRequestStart?.(request, REQUEST_CONTEXT);
    if (request.done) return true; // aborted from onRequestStart
    request.send(options.path, options.headers as string[] | null | undefined);
    return true;
  }

  /** Status message and fields of `head` (lower-case names; a repeated field as an array). */
  fieldsOf(head: ResponseHead): Fields {
    const forward = head.forward;
    if (forward === this.#lastForward) return this.#lastFields;
    const lineEnd = forward.indexOf('\r\n');
    const fields: Fields = {};
    for (let pos = lineEnd + 2; pos < forward.length; ) {
      const end = forward.indexOf('\r\n', pos);
      const colon = forward.indexOf(':', pos);
      addField(fields, forward.slice(pos, colon).toLowerCase(), forward.slice(colon + 1, end).trim());
      pos = end + 2;
    }
    this.#lastForward = forward;
    this.#lastFields = fields;
    this.#lastMessage = lineEnd > 13 ? forward.slice(13, lineEnd) : '';
    return fields;
  }

  /** The reason phrase of the head last given to fieldsOf. */
  get lastMessage(): string {
    return this.#lastMessage;
  }
}

function addField(fields: Fields, name: string, value: string): void {
  const prev = fields[name];
  if (prev === undefined) fields[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else fields[name] = [prev, value];
}

const kRequest = Symbol('http1Request');

/** One request/response; it is also the dispatch controller the handler pauses, resumes and aborts. */
class Http1Request extends DispatchControllerBase implements UpstreamUser, ChunkDataSink {
  readonly dispatcher: Http1Dispatcher;
  readonly handler: Handler;
  readonly method: string;
  readonly body: Body | null;
  conn: UpstreamConnection | null = null;
  done = false;
  /** The body is sent chunked (no declared length). */
  #chunked = false;
  /** The declared content-length, or -1. */
  #declared = -1;
  #sent = 0;
  #bodyEnded = false;
  #bodyPaused = false;
  /** Decodes a chunked response (null otherwise). */
  #scanner: ChunkedScanner | null = null;
  #trailerText = '';
  /** The read buffer last lent to the handler (lent once per read). */
  #lent: Buffer | null = null;

  constructor(dispatcher: Http1Dispatcher, handler: Handler, method: string, body: Body | null | undefined) {
    super();
    this.dispatcher = dispatcher;
    this.handler = handler;
    this.method = method;
    this.body = body ?? null;
  }

  /** Write the head on a pooled connection, then stream the body. */
  send(path: string, headers: readonly string[] | null | undefined): void {
    if (INVALID_METHOD.test(this.method) || INVALID_PATH.test(path)) {
      this.#fail(Object.assign(new Error('invalid request method or path for HTTP/1.1'), { code: 'UND_ERR_INVALID_ARG' }));
      return;
    }
    let head = `${this.method} ${path} HTTP/1.1\r\n`;
    let sawHost = false;
    if (headers != null) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i];
        const value = headers[i + 1];
        const n = name.length;
        // Names come lower-case from HTTP/2 clients; the length test keeps toLowerCase() off most fields.
        if (n === 4 || n === 14 || n === 17) {
          const lower = name.toLowerCase();
          if (lower === 'host') sawHost = true;
          else if (lower === 'content-length') this.#declared = Number(value);
          else if (lower === 'transfer-encoding') continue; // the framing is ours
        }
        head += `${name}: ${value}\r\n`;
      }
    }
    if (!sawHost) head += `host: ${this.dispatcher.authority}\r\n`;
    const body = this.body;
    if (body === null) {
      if (this.#declared < 0 && EXPECTS_PAYLOAD.has(this.method)) head += 'content-length: 0\r\n';
    } else if (this.#declared < 0) {
      this.#chunked = true;
      head += 'transfer-encoding: chunked\r\n';
    }
    const conn = this.dispatcher.pool.acquire(this, this.method === 'HEAD', false);
    this.conn = conn;
    const ok = conn.write(head + '\r\n');
    if (body === null) {
      this.#bodyEnded = true;
      conn.requestSent();
      return;
    }
    body[kRequest] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
    if (!ok) this.#pauseBody();
  }

  // --- request body ----------------------------------------------------------
  bodyData(chunk: Buffer): void {
    const conn = this.conn;
    if (conn === null || chunk.length === 0) return;
    let ok: boolean;
    if (!this.#chunked) {
      this.#sent += chunk.length;
      ok = conn.write(chunk);
    } else if (chunk.length <= COALESCE_MAX) {
      const size = chunk.length.toString(16);
      const out = Buffer.allocUnsafe(size.length + 2 + chunk.length + 2);
      let o = out.write(size, 0, 'latin1');
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      o += chunk.copy(out, o);
      out[o++] = 0x0d;
      out[o] = 0x0a;
      ok = conn.write(out);
    } else {
      conn.write(`${chunk.length.toString(16)}\r\n`);
      conn.write(chunk);
      ok = conn.write(CRLF);
    }
    if (!ok) this.#pauseBody();
  }

  bodyEnd(): void {
    const conn = this.conn;
    this.#bodyEnded = true;
    this.#detachBody();
    if (conn === null) return;
    const trailers = this.body!.trailers ?? null;
    if (this.#chunked) {
      // last-chunk, the trailer section, the blank line (RFC 9112 section 7.1).
      let end = '0\r\n';
      if (trailers !== null) {
        for (const name in trailers) {
          if (!forwardableTrailer(name)) continue;
          end += `${name}: ${trailers[name]}\r\n`;
        }
      }
      conn.write(end + '\r\n');
    } else {
      if (this.#sent !== this.#declared) {
        // The body did not match its declared length: the upstream would read it wrong (request smuggling). Never sent on.
        this.#fail(new Error(`request body of ${this.#sent} bytes does not match content-length ${this.#declared}`));
        return;
      }
      if (trailers !== null) (this.handler as RequestTrailersDroppedListener).onRequestTrailersDropped?.(Object.keys(trailers));
    }
    conn.requestSent();
  }

  bodyError(err: Error): void {
    this.#fail(err);
  }

  #pauseBody(): void {
    if (this.#bodyPaused || this.#bodyEnded) return;
    this.#bodyPaused = true;
    this.body!.pause();
  }

  #detachBody(): void {
    const body = this.body;
    if (body === null || body[kRequest] !== this) return;
    body[kRequest] = undefined;
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    body.off('error', onBodyError);
    // Like undici: a body we no longer read is destroyed (the listener keeps what a retry needs).
    if (!this.#bodyEnded && !body.destroyed) body.destroy();
  }

  // --- UpstreamUser ------------------------------------------------------------
  onUpstreamHead(head: ResponseHead): void {
    const dispatcher = this.dispatcher;
    const fields = dispatcher.fieldsOf(head);
    if (head.framing === Framing.CHUNKED) (this.#scanner ??= new ChunkedScanner()).reset();
    this.handler.onResponseStart?.(this, head.status, fields, dispatcher.lastMessage);
  }

  onUpstreamBody(buf: Buffer, start: number, end: number): void {
    // A chunked body arrives framed and validated by the pool; decode it here, trailers included.
    if (this.#scanner !== null) this.#scanner.scan(buf, start, end, this);
    else this.onChunkData(buf, start, end);
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    if (this.done || start === end) return;
    const n = end - start;
    let chunk: Buffer;
    if (n >= LEND_MIN) {
      // The handler may keep the slice (a client socket that did not take it all): the pool reads on into a new buffer.
      if (this.#lent !== buf) {
        this.#lent = buf;
        this.conn?.lendReadBuffer();
      }
      chunk = buf.subarray(start, end);
    } else {
      chunk = Buffer.allocUnsafe(n);
      buf.copy(chunk, 0, start, end);
    }
    this.handler.onResponseData?.(this, chunk);
  }

  onChunkTrailers(buf: Buffer, start: number, end: number): void {
    this.#trailerText += buf.toString('latin1', start, end);
  }

  onUpstreamEnd(): void {
    if (this.done) return;
    this.done = true;
    this.conn = null;
    this.#detachBody();
    this.handler.onResponseEnd?.(this, this.#trailerText.length > 2 ? parseTrailerSection(this.#trailerText) : EMPTY_TRAILERS);
  }

  onUpstreamError(_failure: UpstreamFailure, cause: Error, _headSeen: boolean): void {
    // The cause keeps its code (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, ...): the listener classifies it (../upstream/upstream-error.ts).
    if (this.done) return;
    this.done = true;
    this.conn = null;
    this.#detachBody();
    this.handler.onResponseError?.(this, cause);
  }

  onUpstreamDrain(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    if (!this.#bodyEnded && this.body !== null) this.body.resume();
  }

  // --- DispatchController ------------------------------------------------------
  protected get finished(): boolean {
    return this.done;
  }

  protected pausing(): void {
    this.conn?.pause();
  }

  protected resuming(): void {
    this.conn?.resume();
  }

  protected aborting(reason: Error): void {
    this.#fail(reason);
  }

  /** End the request with `err`: the connection is destroyed (never reused half-sent), the handler told. */
  #fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    const conn = this.conn;
    this.conn = null;
    conn?.abort();
    this.#detachBody();
    this.handler.onResponseError?.(this, err);
  }
}

// Listeners shared by every body: they find their request through a field, so no closure is made per request.
function onBodyData(this: Body, chunk: Buffer): void {
  this[kRequest]?.bodyData(chunk);
}
function onBodyEnd(this: Body): void {
  this[kRequest]?.bodyEnd();
}
function onBodyError(this: Body, err: Error): void {
  this[kRequest]?.bodyError(err);
}
