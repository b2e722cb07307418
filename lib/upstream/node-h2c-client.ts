// The --engine compat client of one cleartext HTTP/2 (h2c) endpoint, built on
// node:http2's client session, behind undici's dispatch contract
// (`dispatch(options, handler)` with the v8 handler callbacks) so the
// listener's Exchange drives it like the lean client (../http2/h2-client.ts).
//
// Why not undici's H2CClient (issue 18):
// - it stops listening for 'data' once a response's trailers arrive, so DATA
//   still buffered because the handler paused the stream (a slow client) is
//   dropped and the response "ends" short with its trailers (a gRPC stream
//   reported OK after losing its last messages). Here trailers are held until
//   the readable side has delivered every byte ('end'), then passed with
//   onResponseEnd.
// - a client that broke HTTP/2's rules on a stream whose request body was
//   being forwarded (h2spec 4.2/2, 6.1/3, 6.9/2, 7/2, 8.1.2.1/3, 8.1.2.6/1)
//   sent the process, within a few tries, into a native loop
//   (Http2Session::SendPendingData, memory growing ~1 GB/s) through undici's
//   handling of the failed body and its reset of the upstream stream. With
//   this client the same replay stays flat (test/compat-h2c-hostile-client.test.ts):
//   a failed body resets the upstream stream with CANCEL and nothing else.
//
// One session per endpoint, opened on first use and again after it closed or
// received GOAWAY; it closes after `idleTimeoutMs` without open streams.
// nghttp2 queues streams beyond the peer's SETTINGS_MAX_CONCURRENT_STREAMS.

import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DispatchControllerBase } from '../forwarding/dispatch-controller.ts';
import { forwardableTrailer } from '../forwarding/trailer-fields.ts';
import { ErrorCodes } from '../errors/errors.ts';

export interface NodeH2cClientOptions {
  readonly connectTimeoutMs: number;
  /** A session with no open stream closes after this long. */
  readonly idleTimeoutMs: number;
  /** Connection gauge hooks: a session connected / a connected session closed. */
  readonly onOpen?: () => void;
  readonly onClose?: () => void;
}

type Handler = Dispatcher.DispatchHandler;

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Request fields HTTP/2 forbids (RFC 9113 section 8.2.2), and host, which becomes :authority. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

const EMPTY_TRAILERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const REQUEST_CONTEXT = Object.freeze({});
const kRequest = Symbol('ringside.nodeH2cRequest');
type RequestStream = ClientHttp2Stream & { [kRequest]?: NodeH2cRequest };
type RequestBody = Readable & { [kRequest]?: NodeH2cRequest; readonly trailers?: Record<string, string> | null };

/** Connection failures as toUpstreamError (./upstream-error.ts) classifies them: the request never reached the endpoint. */
const CONNECT_TIMEOUT_CODE = 'UND_ERR_CONNECT_TIMEOUT';

export class NodeH2cClient {
  readonly authority: string;
  readonly #origin: string;
  readonly #options: NodeH2cClientOptions;
  #session: ClientHttp2Session | null = null;
  /** Open streams of the current session (the idle timer runs at 0). */
  #active = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Sessions not yet closed (the current one, and older ones finishing after GOAWAY). */
  readonly #sessions = new Set<ClientHttp2Session>();
  #onEmpty: (() => void) | null = null;

  constructor(host: string, port: number, options: NodeH2cClientOptions) {
    this.authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.#origin = `http://${this.authority}`;
    this.#options = options;
  }

  /** 1 while a session is connected (for /status and metrics). */
  get connected(): number {
    const s = this.#session;
    return s !== null && !s.connecting && !s.closed && !s.destroyed ? 1 : 0;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const body = toReadable(options.body);
    const request = new NodeH2cRequest(this, handler, body);
    handler.onRequestStart?.(request, REQUEST_CONTEXT);
    if (request.done) return true; // aborted from onRequestStart
    if (this.#closed) {
      request.fail(unprocessed(new Error(`the HTTP/2 client of ${this.authority} is closed`)));
      return true;
    }
    const session = this.#current();
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(requestHeaders(options, this.authority), body === null ? END_STREAM : WAIT_FOR_TRAILERS);
    } catch (err) {
      // Nothing was sent. A session that was closing (GOAWAY) or broken: the
      // request may go elsewhere; a head node:http2 refuses (invalid fields) fails as it is.
      const code = (err as { code?: unknown }).code;
      const sessionGone = code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION';
      if (sessionGone && this.#session === session) this.#session = null;
      request.fail(sessionGone ? unprocessed(err as Error) : (err as Error));
      return true;
    }
    this.#streamOpened();
    request.attach(stream, session);
    return true;
  }

  /** The session to open streams on: the current one, or a new one. */
  #current(): ClientHttp2Session {
    const existing = this.#session;
    if (existing !== null && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(this.#origin, { settings: { enablePush: false } });
    this.#session = session;
    this.#active = 0;
    this.#sessions.add(session);
    const connectTimer = setTimeout(onConnectTimeout, this.#options.connectTimeoutMs, session);
    session.once('connect', () => {
      clearTimeout(connectTimer);
      this.#options.onOpen?.();
    });
    session.on('error', noop); // the streams report it; the session is then closed
    // GOAWAY: nghttp2 refuses the streams above its last-stream-id (REFUSED_STREAM); new streams go to a new session.
    session.once('goaway', () => {
      if (this.#session === session) this.#session = null;
    });
    session.once('close', () => {
      clearTimeout(connectTimer);
      if (!session.connecting && sessionConnected.has(session)) this.#options.onClose?.();
      if (this.#session === session) {
        this.#session = null;
        this.#clearIdle();
      }
      this.#sessions.delete(session);
      if (this.#sessions.size === 0 && this.#onEmpty !== null) {
        const resolve = this.#onEmpty;
        this.#onEmpty = null;
        resolve();
      }
    });
    session.once('connect', markConnected);
    return session;
  }

  #streamOpened(): void {
    this.#active++;
    this.#clearIdle();
  }

  /** Internal: a stream of `session` closed. */
  streamClosed(session: ClientHttp2Session): void {
    if (session !== this.#session) return;
    if (--this.#active === 0 && this.#options.idleTimeoutMs > 0) {
      this.#idleTimer = setTimeout(closeIdle, this.#options.idleTimeoutMs, this, session);
      this.#idleTimer.unref();
    }
  }

  /** Internal: the idle timer of `session` fired. */
  closeIfIdle(session: ClientHttp2Session): void {
    this.#idleTimer = null;
    if (session === this.#session && this.#active === 0) {
      this.#session = null;
      session.close();
    }
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
  }

  /** Take no new requests; resolve once the open streams finished and every session closed. */
  close(): Promise<void> {
    this.#closed = true;
    this.#clearIdle();
    this.#session = null;
    if (this.#sessions.size === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.#onEmpty = resolve));
    for (const s of this.#sessions) s.close();
    return done;
  }

  /** Close every session now; open streams fail. */
  destroy(): Promise<void> {
    this.#closed = true;
    this.#clearIdle();
    this.#session = null;
    if (this.#sessions.size === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.#onEmpty = resolve));
    for (const s of this.#sessions) s.destroy();
    return done;
  }
}

const END_STREAM = { endStream: true } as const;
// With a body, the end of the request always goes through 'wantTrailers':
// whether the client sent trailers is known only once its body has ended.
// Without any, node:http2 ends the stream with an empty DATA frame.
const WAIT_FOR_TRAILERS = { endStream: false, waitForTrailers: true } as const;

/** Sessions that reached 'connect' (the gauge counts only those). */
const sessionConnected = new WeakSet<ClientHttp2Session>();
function markConnected(this: ClientHttp2Session): void {
  sessionConnected.add(this);
}

/**
 * One request on one upstream stream, and the controller its handler pauses,
 * resumes and aborts. Events of the stream and of the request body reach it
 * through shared listeners (the stream and body carry it under kRequest).
 */
class NodeH2cRequest extends DispatchControllerBase {
  readonly client: NodeH2cClient;
  readonly handler: Handler;
  readonly body: RequestBody | null;
  stream: RequestStream | null = null;
  session: ClientHttp2Session | null = null;
  done = false;
  headSeen = false;
  /** The response's trailers, held until every DATA byte was delivered. */
  trailers: IncomingHttpHeaders | null = null;
  /** The response's content-length, or -1. */
  contentLength = -1;
  received = 0;
  /** Why the stream failed as node:http2 reported it ('error' event), kept as cause. */
  streamError: Error | null = null;

  constructor(client: NodeH2cClient, handler: Handler, body: Readable | null) {
    super();
    this.client = client;
    this.handler = handler;
    this.body = body;
  }

  attach(stream: ClientHttp2Stream, session: ClientHttp2Session): void {
    const s = stream as RequestStream;
    this.stream = s;
    this.session = session;
    s[kRequest] = this;
    s.on('response', onResponse);
    s.on('data', onData);
    s.on('trailers', onTrailers);
    s.on('end', onEnd);
    s.on('error', onStreamError);
    s.on('close', onClose);
    const body = this.body;
    if (body === null) return;
    s.on('wantTrailers', onWantTrailers);
    s.on('drain', onStreamDrain);
    body[kRequest] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
  }

  protected get finished(): boolean {
    return this.done;
  }

  protected aborting(reason: Error): void {
    this.#finish();
    // At once, so a stream the client reset right after opening it (rapid
    // reset) is usually cancelled before its HEADERS leave. Aborts from inside
    // the client session's teardown come here on a later turn already
    // (Exchange.clientGone).
    if (this.stream !== null) cancelStream(this.stream);
    this.handler.onResponseError?.(this, reason);
  }

  protected pausing(): void {
    this.stream?.pause();
  }

  protected resuming(): void {
    if (!this.done) this.stream?.resume();
  }

  /** Fail before a stream was opened (closed client, session refusing streams). */
  fail(err: Error): void {
    if (this.done) return;
    this.#finish();
    this.handler.onResponseError?.(this, err);
  }

  /** Done: stop forwarding the request body and hearing its events. */
  #finish(): void {
    this.done = true;
    const body = this.body;
    if (body !== null && body[kRequest] === this) {
      body[kRequest] = undefined;
      body.off('data', onBodyData);
      body.off('end', onBodyEnd);
      body.off('error', onBodyError);
    }
  }

  /** Internal: the response completed (every DATA byte delivered, then its trailers). */
  complete(): void {
    if (this.done) return;
    this.#finish();
    // The response is complete before the request body was (an early 413, 401, an error status): nothing sends the
    // rest now, so end the stream rather than leave it open on the session forever (RFC 9113 section 8.1).
    const stream = this.stream;
    if (stream !== null && !stream.writableEnded) stream.close(NGHTTP2_NO_ERROR);
    this.handler.onResponseEnd?.(this, (this.trailers ?? EMPTY) as Record<string, string | string[]>);
  }

  /** Internal: the stream closed before its response completed. */
  closedEarly(stream: RequestStream): void {
    if (this.done) return;
    this.#finish();
    this.handler.onResponseError?.(this, streamFailure(this, stream));
  }
}

const EMPTY = Object.freeze({});

// --- shared listeners (`this` is the stream or the body) ---------------------

function onResponse(this: RequestStream, headers: IncomingHttpHeaders): void {
  const request = this[kRequest]!;
  if (request.done) return;
  const status = Number(headers[':status']);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  const cl = out['content-length'];
  if (typeof cl === 'string') request.contentLength = Number(cl);
  request.headSeen = true;
  request.handler.onResponseStart?.(request, status, out, undefined);
}

function onData(this: RequestStream, chunk: Buffer): void {
  const request = this[kRequest]!;
  if (request.done) return;
  request.received += chunk.length;
  request.handler.onResponseData?.(request, chunk);
}

function onTrailers(this: RequestStream, trailers: IncomingHttpHeaders): void {
  // node:http2 emits this as the trailing HEADERS frame arrives, possibly
  // before earlier DATA left the paused readable: keep them for 'end'.
  this[kRequest]!.trailers = trailers;
}

function onEnd(this: RequestStream): void {
  // node:http2 ends the readable cleanly also when the connection is lost
  // mid-response (it closes the stream with CANCEL first): only END_STREAM
  // from the upstream (no reset code yet, or NO_ERROR) after a head completes it.
  const request = this[kRequest]!;
  const code = this.rstCode;
  if (request.headSeen && (code === undefined || code === NGHTTP2_NO_ERROR)) request.complete();
  else request.closedEarly(this);
}

function onStreamError(this: RequestStream, err: Error): void {
  this[kRequest]!.streamError = err;
}

function onClose(this: RequestStream): void {
  const request = this[kRequest]!;
  if (request.session !== null) request.client.streamClosed(request.session);
  // A stream that ended cleanly emits 'end' (after every buffered byte: node:http2
  // holds 'close' back until the readable drained) before 'close'; one that
  // closes without it failed.
  if (!request.done) request.closedEarly(this);
}

function onStreamDrain(this: RequestStream): void {
  const request = this[kRequest];
  if (request !== undefined && !request.done) request.body?.resume();
}

function onWantTrailers(this: RequestStream): void {
  const request = this[kRequest]!;
  const trailers = request.body?.trailers ?? null;
  if (request.done || this.destroyed) return;
  // An HTTP/1.1 client's chunked trailer section may name connection fields (te, connection, ...) that node:http2
  // refuses by throwing, here inside an event listener: an uncaught exception. Never forwarded (RFC 9110 section 6.5.1,
  // RFC 9113 section 8.2.2); whatever else it refuses resets the stream instead.
  let out: Record<string, string> = EMPTY_TRAILERS;
  if (trailers !== null) {
    out = {};
    for (const name in trailers) if (forwardableTrailer(name)) out[name] = trailers[name];
  }
  try {
    this.sendTrailers(out);
  } catch (err) {
    request.streamError = err as Error;
    cancelStream(this);
  }
}

function onBodyData(this: RequestBody, chunk: Buffer): void {
  const request = this[kRequest];
  const stream = request?.stream;
  if (stream == null || stream.destroyed) return;
  if (!stream.write(chunk)) this.pause();
}

function onBodyEnd(this: RequestBody): void {
  const stream = this[kRequest]?.stream;
  if (stream != null && !stream.destroyed) stream.end();
}

function onBodyError(this: RequestBody, err: Error): void {
  // The client's body failed (it went away): the Exchange hears that from the
  // client side and aborts; this makes sure the upstream stream is reset even
  // so, on a later turn (this runs inside the client session's stream teardown).
  const request = this[kRequest];
  if (request === undefined || request.done) return;
  request.streamError = err;
  if (request.stream !== null) setImmediate(cancelStream, request.stream);
}

function cancelStream(stream: ClientHttp2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
}

function onConnectTimeout(session: ClientHttp2Session): void {
  if (!session.connecting) return;
  const err = new Error('connect timeout') as Error & { code: string };
  err.code = CONNECT_TIMEOUT_CODE;
  session.destroy(err);
}

function closeIdle(client: NodeH2cClient, session: ClientHttp2Session): void {
  client.closeIfIdle(session);
}

/**
 * Why a stream closed before its response completed, as an error that
 * toUpstreamError classifies: a connect failure (the session never connected:
 * the socket's own error, ECONNREFUSED...), REFUSED_STREAM marked unprocessed
 * (retried elsewhere by the Exchange), a reset, or a response cut short after
 * its head (ErrorCodes.UPSTREAM_TRUNCATED).
 */
function streamFailure(request: NodeH2cRequest, stream: RequestStream): Error {
  const cause = request.streamError;
  const session = request.session;
  if (session !== null && !sessionConnected.has(session)) {
    const sessionError = (cause as { cause?: unknown } | null)?.cause ?? cause;
    return sessionError instanceof Error ? sessionError : new Error(`cannot connect to ${request.client.authority}`);
  }
  const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
  if (code === NGHTTP2_REFUSED_STREAM) {
    const err = unprocessed(new Error(`HTTP/2 stream refused by ${request.client.authority} (REFUSED_STREAM)`, { cause }));
    (err as { http2ErrorCode?: number }).http2ErrorCode = code;
    return err;
  }
  const connectionLost = session !== null && (session.destroyed || session.closed);
  if (request.headSeen && (connectionLost || code === NGHTTP2_NO_ERROR || (request.contentLength >= 0 && request.received < request.contentLength))) {
    const err = new Error(
      `${connectionLost ? 'the connection closed' : `the stream closed (code ${code})`} after ${request.received} body bytes${request.contentLength >= 0 ? ` of ${request.contentLength}` : ''}`,
      { cause },
    ) as Error & { code: string };
    err.code = ErrorCodes.UPSTREAM_TRUNCATED;
    return err;
  }
  const err = new Error(connectionLost ? `the HTTP/2 connection to ${request.client.authority} closed before the response` : `HTTP/2 stream reset by ${request.client.authority} (code ${code})`, {
    cause,
  }) as Error & { http2ErrorCode: number };
  err.http2ErrorCode = code;
  return err;
}

function unprocessed(err: Error): Error {
  (err as { unprocessed?: boolean }).unprocessed = true;
  return err;
}

/** node:http2 request headers from undici's dispatch options (a flat [name, value, ...] list from the listener). */
function requestHeaders(options: Dispatcher.DispatchOptions, authority: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': options.method, ':path': options.path, ':scheme': 'http' };
  const headers = options.headers;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) addHeader(out, headers[i] as string, String(headers[i + 1]));
  } else if (headers != null) {
    for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) addHeader(out, name, v);
      else addHeader(out, name, String(value));
    }
  }
  out[':authority'] ??= authority;
  return out;
}

function addHeader(out: OutgoingHttpHeaders, name: string, value: string): void {
  const lower = name.toLowerCase();
  if (NOT_FORWARDED.has(lower)) {
    // Host becomes :authority (RFC 9113 section 8.3.1); the first one wins.
    if (lower === 'host') out[':authority'] ??= value;
    return;
  }
  if (lower === 'te' && value !== 'trailers') return;
  const prev = out[lower];
  if (prev === undefined) out[lower] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[lower] = [String(prev), value];
}

function toReadable(body: Dispatcher.DispatchOptions['body']): RequestBody | null {
  if (body == null) return null;
  if (body instanceof Readable) return body;
  if (typeof body === 'string' || body instanceof Uint8Array) return body.length === 0 ? null : Readable.from([Buffer.from(body)]);
  return Readable.from(body as unknown as AsyncIterable<Buffer>);
}

function noop(): void {}
