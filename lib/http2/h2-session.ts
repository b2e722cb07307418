// One cleartext HTTP/2 connection (h2c, prior knowledge) to one upstream
// endpoint, framed by hand on a raw net.Socket (RFC 9113). It exists because
// node:http2's client and undici's H2CClient cost several times HAProxy's CPU
// per proxied stream; what makes this one cheap:
// - every frame produced during one event-loop turn (HEADERS of many streams,
//   WINDOW_UPDATEs, SETTINGS/PING acks) leaves in ONE socket write
//   (./frame-writer.ts);
// - reads go into one reusable buffer (`onread`), frames are parsed in place
//   (./frame-reader.ts), and only frames split across reads are copied;
// - a stream is one object that is also the undici dispatch controller, and
//   the dispatch handler is called directly (no EventEmitter, no closures).
//
// Flow control (section 5.2):
// - receiving: streams get RECV_STREAM_WINDOW; the connection gets
//   RECV_CONNECTION_WINDOW and is credited as DATA arrives. A stream is
//   credited only as its handler consumes the data: while the handler has
//   paused the stream (a slow client), DATA that still arrives waits in the
//   stream's inbox, and no WINDOW_UPDATE goes out, so the upstream stops after
//   at most one window per stream - that bounds the memory of a slow client.
// - sending: request body DATA goes through ./outbound-flow.ts (the peer's
//   stream and connection windows, its MAX_FRAME_SIZE); what does not fit
//   waits on the stream with the body Readable paused.
//
// The connection itself (socket, preface, timeouts, keepalive, teardown) is
// ./h2-connection.ts; failure classification (what the listener may retry) is
// in ./h2-error.ts; the response head and trailers are read by ./response-fields.ts.

import { timerWheel } from '../io/timer-wheel.ts';
import { ConnectionReceiveWindow, grow } from './flow-control.ts';
import { FrameReader, type FrameHandler } from './frame-reader.ts';
import { ErrorCode, errorCodeName, Flag, MAX_WINDOW } from './frames.ts';
import { H2Connection, MAX_HEADER_LIST_SIZE, PING_PAYLOAD, READ_BUFFER_SIZE, RECV_CONNECTION_WINDOW } from './h2-connection.ts';
import { H2Error, H2ErrorCodes } from './h2-error.ts';
import type { H2SessionOptions, H2SessionOwner } from './h2-session-options.ts';
import { HpackDecoder, HpackError } from './hpack.ts';
import { type H2Stream, RECV_STREAM_WINDOW, S_OPEN } from './h2-stream.ts';
import type { OutboundOwner } from './outbound-flow.ts';
import { parseContentLength, responseStatus, toResponseHeaders } from './response-fields.ts';

type Headers = Record<string, string | string[]>;

/** Never more concurrent streams on one connection than this, whatever the peer allows (undici's H2CClient used 1000). */
const MAX_STREAMS_CAP = 1000;
/** DATA payloads smaller than this are copied out of the read buffer; larger ones lend it (a new one is allocated). */
const COPY_LIMIT = 8 * 1024;
const LAST_STREAM_ID = 0x7fffffff;
/** How often a refused bodiless request is sent again by the client itself before its handler sees the refusal. */
const MAX_REQUEUES = 2;

const EMPTY_TRAILERS: Headers = Object.freeze({}) as Headers;

export { DEFAULT_PING_TIMEOUT_MS, type H2SessionOptions, type H2SessionOwner } from './h2-session-options.ts';
export { MAX_HEADER_LIST_SIZE, RECV_CONNECTION_WINDOW } from './h2-connection.ts';

export class H2Session extends H2Connection implements FrameHandler, OutboundOwner<H2Stream> {
  #settingsReceived = false;
  #nextStreamId = 1;
  readonly #recv = new ConnectionReceiveWindow(RECV_CONNECTION_WINDOW);
  readonly #reader = new FrameReader(this, MAX_HEADER_LIST_SIZE * 2);
  /** The stream of the DATA frame being read (null when it is gone). */
  #dataStream: H2Stream | null = null;
  readonly #decoder = new HpackDecoder(4096, MAX_HEADER_LIST_SIZE);
  readonly #fields: string[] = [];


  constructor(owner: H2SessionOwner, options: H2SessionOptions) {
    super(owner, options);
  }

  /**
   * Open `stream` on this session: assign its id and queue its HEADERS (and
   * END_STREAM when there is no body). A head larger than the peer's
   * SETTINGS_MAX_HEADER_LIST_SIZE is not sent: the stream fails at once with
   * HEADERS_TOO_LARGE (section 10.5.1: the peer would refuse it anyway).
   */
  open(stream: H2Stream): void {
    if (this.peer.maxHeaderList >= 0 && this.#headerListTooLarge(stream)) return;
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    if (this.#nextStreamId > LAST_STREAM_ID) this.usable = false; // ids exhausted: the client opens a new session
    stream.id = id;
    stream.session = this;
    stream.state = S_OPEN;
    stream.sendWindow = this.peer.initialWindow;
    this.streams.set(id, stream);
    if (this.streams.size === 1 && this.isConnected) this.arm();
    const body = stream.body;
    this.writer.headers(stream.headers, id, body === null, this.peer.maxFrame);
    if (body !== null) stream.attachBody();
    else {
      stream.bodyEnded = true;
      stream.endSent = true;
    }
  }

  /** Fails `stream` (never sent) when its head exceeds the peer's limit; the size counts 32 bytes per field (section 6.5.2). */
  #headerListTooLarge(stream: H2Stream): boolean {
    const headers = stream.headers;
    let size = 16 * headers.length;
    for (let i = 0; i < headers.length; i++) size += headers[i].length;
    const limit = this.peer.maxHeaderList;
    if (size <= limit) return false;
    stream.markDone();
    // Like a stream that ends early: the body we will not read is destroyed (the listener keeps what a retry needs).
    if (stream.body !== null && !stream.body.destroyed) stream.body.destroy();
    stream.handler.onResponseError?.(
      stream,
      new H2Error(H2ErrorCodes.HEADERS_TOO_LARGE, `request head of ${size} bytes exceeds the SETTINGS_MAX_HEADER_LIST_SIZE of ${limit} of upstream ${this.options.host}:${this.options.port}`),
    );
    return true;
  }

  // --- request body (sent by the stream itself, ./h2-stream.ts) --------------

  /** OutboundOwner: whether the request body may still go out. */
  canSend(stream: H2Stream): boolean {
    return stream.state === S_OPEN;
  }

  /** OutboundOwner: the body bytes that waited for window went out. */
  pendingSent(stream: H2Stream): void {
    if (stream.bodyEnded) stream.sendEnd();
    else stream.body!.resume();
  }

  // --- stream endings --------------------------------------------------------

  /** Credit what the stream's handler consumed (called when not paused). */
  creditStream(stream: H2Stream): void {
    const n = stream.unacked;
    stream.unacked = 0;
    stream.recvWindow += n;
    this.writer.windowUpdate(stream.id, n);
  }

  /** The response is complete: end the stream and tell the handler. */
  completeStream(stream: H2Stream, trailers: Headers): void {
    if (stream.paused || stream.inbox !== null) {
      stream.pendingEnd = trailers;
      return;
    }
    if (stream.contentLength >= 0 && stream.received !== stream.contentLength && !stream.isHead) {
      this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, new H2Error(H2ErrorCodes.CONTENT_LENGTH, `response body of ${stream.received} bytes does not match content-length ${stream.contentLength}`, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    // Our half may still be open (the upstream answered before reading the whole body): stop sending.
    if (!stream.endSent) this.writer.rstStream(stream.id, ErrorCode.NO_ERROR);
    this.#removeStream(stream);
    stream.handler.onResponseEnd?.(stream, trailers);
  }

  /** Reset a stream from our side (abort, malformed response) without telling its handler. */
  resetStream(stream: H2Stream, code: number): void {
    if (stream.state !== S_OPEN) return;
    this.writer.rstStream(stream.id, code);
    this.#removeStream(stream);
  }

  #streamError(stream: H2Stream, code: number, err: Error): void {
    if (stream.state !== S_OPEN) return;
    this.resetStream(stream, code);
    stream.handler.onResponseError?.(stream, err);
  }

  /** The stream leaves the session (its handler is told by the caller). */
  #removeStream(stream: H2Stream): void {
    stream.markDone();
    stream.detachBody();
    const body = stream.body;
    // Like undici: a body we no longer read is destroyed (the listener keeps what a retry needs).
    if (body !== null && !stream.bodyEnded && !body.destroyed) body.destroy();
    this.flow.drop(stream);
    stream.inbox = null;
    this.streams.delete(stream.id);
    if (this.streams.size === 0) {
      if (this.closing || (!this.usable && !this.closed)) {
        this.shutdown();
        return;
      }
      this.idleSince = timerWheel.now;
      this.arm();
    }
    if (this.usable) this.owner.sessionHasCapacity(this);
  }

  /** FrameHandler: a stream error found by the frame reader. */
  streamError(streamId: number, code: number, message: string): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.#streamError(stream, code, this.#protocolStreamError(message, code));
  }

  // --- input (FrameHandler) ----------------------------------------------------

  protected onBytes(buf: Buffer, n: number): void {
    if (this.closed && this.streams.size === 0) return;
    this.lastRead = timerWheel.now;
    try {
      this.#reader.read(buf, 0, n);
    } catch (err) {
      if (err instanceof HpackError) this.connectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      else this.fail(err as Error, ErrorCode.INTERNAL_ERROR, true);
    }
  }

  /** An HTTP/1.x server answers our preface with a status line where the server's SETTINGS should be. */
  prefaceFrame(header: Buffer, offset: number): boolean {
    if (!isHttp1StatusStart(header, offset)) return true;
    this.#http1Answer();
    return false;
  }

  /**
   * The peer answered our connection preface with `HTTP/1.x ...`: it speaks
   * only HTTP/1.1 (node:http answers "400 Bad Request" to the preface's
   * `PRI * HTTP/2.0` request line). It never saw our requests as requests, so
   * every stream fails unprocessed and marked HTTP1_ONLY, for the caller to
   * send them again over HTTP/1.1 (`--upstream-protocol auto`).
   */
  #http1Answer(): void {
    const where = `${this.options.host}:${this.options.port}`;
    this.fail(new H2Error(H2ErrorCodes.HTTP1_ONLY, `upstream ${where} answered the HTTP/2 connection preface with an HTTP/1.x status line: it speaks only HTTP/1.1`, -1, true), 0, false);
  }

  /** Flow control for a DATA frame of `length` bytes; sets #dataStream (null when its stream is gone). False after a connection error. */
  beginData(streamId: number, length: number): boolean {
    this.#dataStream = null;
    if (streamId === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
      return false;
    }
    const credit = this.#recv.consume(length);
    if (credit < 0) {
      this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
      return false;
    }
    if (credit > 0) this.writer.windowUpdate(0, credit);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) {
        this.connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
        return false;
      }
      return true; // a stream we already closed or reset: discard
    }
    if (!stream.headSeen) {
      this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, this.#protocolStreamError('DATA before the response HEADERS'));
      return true;
    }
    if (length > stream.recvWindow) {
      this.#streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, this.#protocolStreamError('DATA beyond the stream window', ErrorCode.FLOW_CONTROL_ERROR));
      return true;
    }
    stream.recvWindow -= length;
    this.#dataStream = stream;
    return true;
  }

  dataPadding(n: number): void {
    const stream = this.#dataStream;
    if (stream !== null && stream.state === S_OPEN) stream.unacked += n; // padding is consumed at once
  }

  dataChunk(buf: Buffer, start: number, end: number): void {
    const stream = this.#dataStream;
    if (stream === null || stream.state !== S_OPEN) return;
    const take = end - start;
    let chunk: Buffer;
    if (take < COPY_LIMIT) {
      chunk = Buffer.allocUnsafe(take);
      buf.copy(chunk, 0, start, end);
    } else {
      // Lend the read buffer to the handler and read into a new one from now on.
      chunk = buf.subarray(start, end);
      if (buf === this.readBuf) this.readBuf = Buffer.allocUnsafe(READ_BUFFER_SIZE);
    }
    stream.deliver(chunk);
  }

  endData(flags: number): void {
    const stream = this.#dataStream;
    this.#dataStream = null;
    if (stream === null || stream.state !== S_OPEN) return;
    if ((flags & Flag.END_STREAM) !== 0) this.completeStream(stream, EMPTY_TRAILERS);
  }

  /** A complete header block: decode it (always, to keep the HPACK table in step) and give it to its stream. */
  headerBlock(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    const fields = this.#fields; // decode() replaces its contents
    try {
      this.#decoder.decode(buf, start, end, fields);
    } catch (err) {
      // A malformed block is a connection error (section 4.3), thrown on to onBytes.
      // A list over our SETTINGS_MAX_HEADER_LIST_SIZE was decoded to the end
      // (the table is still in step with the peer's): only its stream fails
      // (section 10.5.1), the others on the connection go on.
      if (!(err instanceof HpackError) || !err.streamOnly) throw err;
      const tooLarge = this.streams.get(streamId);
      if (tooLarge !== undefined) this.#malformed(tooLarge, err.message);
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) this.connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!stream.headSeen) {
      // The response head (section 8.3.2): :status first, nothing else pseudo.
      const status = responseStatus(fields);
      if (status < 0) return this.#malformed(stream, fields[0] === ':status' ? `invalid :status ${JSON.stringify(fields[1])}` : 'response HEADERS without :status first');
      const headers = toResponseHeaders(fields, 2);
      if (typeof headers === 'string') return this.#malformed(stream, headers);
      if (status < 200) {
        // Informational (1xx) heads are skipped, like undici does; 101 is not allowed in HTTP/2 (section 8.6).
        if (status === 101 || endStream) return this.#malformed(stream, `unexpected ${status} response`);
        return;
      }
      stream.headSeen = true;
      const cl = headers['content-length'];
      if (cl !== undefined) {
        const n = parseContentLength(cl);
        if (n < 0) return this.#malformed(stream, 'invalid content-length');
        if (status !== 304) stream.contentLength = n;
      }
      stream.handler.onResponseStart?.(stream, status, headers, '');
      if (endStream && stream.state === S_OPEN) this.completeStream(stream, EMPTY_TRAILERS);
      return;
    }
    // Trailers (section 8.1): they end the stream and carry no pseudo-header fields.
    if (!endStream) return this.#malformed(stream, 'a second HEADERS without END_STREAM');
    if (fields.length > 0 && fields[0].charCodeAt(0) === 58) return this.#malformed(stream, 'pseudo-header field in trailers');
    const trailers = toResponseHeaders(fields, 0);
    if (typeof trailers === 'string') return this.#malformed(stream, trailers);
    this.completeStream(stream, trailers);
  }

  #malformed(stream: H2Stream, message: string): void {
    this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, this.#protocolStreamError(`malformed response: ${message}`));
  }

  #protocolStreamError(message: string, code: number = ErrorCode.PROTOCOL_ERROR): H2Error {
    return new H2Error(H2ErrorCodes.PROTOCOL, `HTTP/2 protocol error from upstream ${this.options.host}:${this.options.port}: ${message}`, code);
  }

  rstStream(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) this.connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    if (stream.pendingEnd !== null) return; // the whole response already arrived; it waits for a paused handler
    const refused = code === ErrorCode.REFUSED_STREAM;
    const err = new H2Error(
      refused ? H2ErrorCodes.UNPROCESSED : H2ErrorCodes.STREAM_RESET,
      `upstream ${this.options.host}:${this.options.port} reset the HTTP/2 stream with ${errorCodeName(code)}`,
      code,
      refused,
    );
    this.#removeStream(stream);
    if (refused && this.#takenBack(stream)) return;
    stream.handler.onResponseError?.(stream, err);
  }

  /** A bodiless request refused unprocessed goes back to the client (a few times) instead of failing. */
  #takenBack(stream: H2Stream): boolean {
    return stream.body === null && !stream.aborted && stream.requeues < MAX_REQUEUES && this.owner.streamRefused(stream);
  }

  settingsAck(): void {
    if (this.settingsAckDue !== 0) {
      this.settingsAckDue = 0;
      if (this.isConnected) this.arm();
    }
  }

  settings(buf: Buffer, start: number, end: number): void {
    const peer = this.peer;
    const problem = peer.apply(buf, start, end);
    if (problem !== null) return this.connectionError(peer.errorCode, problem);
    if (peer.maxConcurrentStreams >= 0) this.maxStreams = Math.min(peer.maxConcurrentStreams, MAX_STREAMS_CAP);
    this.writer.settingsAck();
    const windowDelta = peer.windowDelta;
    if (windowDelta !== 0) {
      // Section 6.9.2: the change applies to every open stream's window.
      for (const stream of this.streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > MAX_WINDOW) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1 after SETTINGS');
      }
      if (windowDelta > 0) this.flow.unblock(null);
    }
    const first = !this.#settingsReceived;
    this.#settingsReceived = true;
    if (first && this.usable) this.owner.sessionHasCapacity(this);
  }

  ping(buf: Buffer, start: number, ack: boolean): void {
    if (!ack) this.writer.ping(Flag.ACK, buf, start);
    else if (this.pingDue !== 0 && buf.compare(PING_PAYLOAD, 0, 8, start, start + 8) === 0) {
      this.pingDue = 0;
      this.arm();
    }
  }

  priority(): void {} // deprecated (section 5.3.2): ignored

  pushPromise(): void {
    this.connectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE although we disabled push');
  }

  goAway(lastStreamId: number, code: number): void {
    this.usable = false;
    const where = `${this.options.host}:${this.options.port}`;
    const unprocessed: H2Stream[] = [];
    for (const stream of this.streams.values()) if (stream.id > lastStreamId) unprocessed.push(stream);
    for (const stream of unprocessed) {
      if (stream.state !== S_OPEN) continue;
      this.#removeStream(stream);
      if (this.#takenBack(stream)) continue;
      stream.handler.onResponseError?.(stream, new H2Error(H2ErrorCodes.UNPROCESSED, `upstream ${where} sent GOAWAY (${errorCodeName(code)}) before processing the stream`, code, true));
    }
    if (this.streams.size === 0 && !this.closed) this.shutdown();
  }

  windowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      if (increment === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      const window = grow(this.flow.window, increment);
      if (window < 0) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.flow.window = window;
      this.flow.unblock(null);
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // closed streams may still get updates
    if (increment === 0) return this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, this.#protocolStreamError('WINDOW_UPDATE of 0'));
    const window = grow(stream.sendWindow, increment);
    if (window < 0) return this.#streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, this.#protocolStreamError('stream window above 2^31-1', ErrorCode.FLOW_CONTROL_ERROR));
    stream.sendWindow = window;
    if (stream.blocked) this.flow.unblock(stream);
  }
}

/** `HTTP/1.` at buf[o]: the start of an HTTP/1.x status line (RFC 9112 section 4), read from the 9 bytes of a frame header. */
function isHttp1StatusStart(buf: Buffer, o: number): boolean {
  return buf[o] === 0x48 && buf[o + 1] === 0x54 && buf[o + 2] === 0x54 && buf[o + 3] === 0x50 && buf[o + 4] === 0x2f && buf[o + 5] === 0x31 && buf[o + 6] === 0x2e;
}
