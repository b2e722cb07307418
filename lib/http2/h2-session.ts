// One cleartext HTTP/2 connection (h2c, prior knowledge) to one upstream
// endpoint, framed by hand on a raw net.Socket (RFC 9113). It exists because
// node:http2's client and undici's H2CClient cost several times HAProxy's CPU
// per proxied stream; what makes this one cheap:
// - every frame produced during one event-loop turn (HEADERS of many streams,
//   WINDOW_UPDATEs, SETTINGS/PING acks) leaves in ONE socket write: frames are
//   queued on the session and flushed once from process.nextTick;
// - reads go into one reusable buffer (`onread`), frames are parsed in place,
//   and only frames split across reads are copied;
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
// - sending: request body DATA respects the peer's stream and connection
//   windows (and its MAX_FRAME_SIZE); what does not fit waits on the stream
//   with the body Readable paused, and goes out on WINDOW_UPDATE.
//
// Failure classification (what the listener may retry) is in ./h2-error.ts.

import net from 'node:net';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  errorCodeName,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW,
  Setting,
  writeFrameHeader,
} from './frames.ts';
import { H2Error, H2ErrorCodes } from './h2-error.ts';
import { CONNECTION_SPECIFIC, isLowerToken, SINGLE_VALUE } from './header-fields.ts';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { type BodyWithStream, H2Stream, kStream, RECV_STREAM_WINDOW, S_DONE, S_OPEN } from './h2-stream.ts';


type Headers = Record<string, string | string[]>;

/**
 * The connection's receive window. It is credited as DATA arrives (the per
 * stream windows bound the memory), so it only has to be large enough that
 * it never throttles several streams at once.
 */
export const RECV_CONNECTION_WINDOW = 16 << 20;
/** Our SETTINGS_MAX_HEADER_LIST_SIZE (and the decoder's limit); the lean HTTP/1.1 engine accepts 64 KiB response heads too. */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;
/** Streams we open before the peer's SETTINGS tell us its limit (many servers say 100; the peer may refuse extras). */
const ASSUMED_MAX_STREAMS = 100;
/** Never more concurrent streams on one connection than this, whatever the peer allows (undici's H2CClient used 1000). */
const MAX_STREAMS_CAP = 1000;
/** Read buffer: one per session, reused for every read. */
const READ_BUFFER_SIZE = 64 * 1024;
/** DATA payloads smaller than this are copied out of the read buffer; larger ones lend it (a new one is allocated). */
const COPY_LIMIT = 8 * 1024;
/** Several small frames queued in one turn are copied into one buffer up to this size; above it they go out with writev. */
const CONCAT_LIMIT = 64 * 1024;
const LAST_STREAM_ID = 0x7fffffff;
/** How often a refused bodiless request is sent again by the client itself before its handler sees the refusal. */
const MAX_REQUEUES = 2;

const encoder = new HpackEncoder();
const EMPTY_TRAILERS: Headers = Object.freeze({}) as Headers;

/** What a session tells the client that owns it. */
export interface H2SessionOwner {
  /** A stream slot opened up on `session` (a stream ended, or the peer's SETTINGS arrived: see session.maxStreams). */
  sessionHasCapacity(session: H2Session): void;
  /**
   * The peer refused a stream without processing it (REFUSED_STREAM, above a
   * GOAWAY's last-stream-id). True when the owner took it back to send again
   * (the session already forgot it); false to fail it to its handler.
   */
  streamRefused(stream: H2Stream): boolean;
  /**
   * The session closed; its open streams are failed right after this.
   * `connectError` is set when it never connected (streams queued for it cannot reach the endpoint either).
   */
  sessionClosed(session: H2Session, connectError: Error | null): void;
}

export interface H2SessionOptions {
  readonly host: string;
  readonly port: number;
  /** Streams to open before the peer's SETTINGS say its limit (what an earlier connection learned, else 100). */
  readonly initialMaxStreams?: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /**
   * Send a PING when nothing arrived from the upstream for this long while
   * streams are open (0: never). A peer that does not answer within
   * `pingTimeoutMs` is taken for dead: the connection closes and its streams fail.
   */
  readonly keepaliveIntervalMs: number;
  /** How long an answer may take: the ack of our PING, and of our SETTINGS after connecting (section 6.5.3). */
  readonly pingTimeoutMs: number;
}

/** Default for H2ClientOptions.pingTimeoutMs. */
export const DEFAULT_PING_TIMEOUT_MS = 20_000;
/** The payload of our keepalive PINGs; an ack carrying anything else is not ours. */
const PING_PAYLOAD = Buffer.from('ringside');

// Stream states, from our side.

const R_HEADER = 0;
const R_PAYLOAD = 1; // collecting a whole frame payload split across reads
const R_DATA = 2; // streaming an unpadded DATA payload to its stream

export class H2Session implements TimedItem {
  readonly owner: H2SessionOwner;
  readonly options: H2SessionOptions;
  readonly socket: net.Socket;
  readonly streams = new Map<number, H2Stream>();
  /** Streams we may open at once: the peer's MAX_CONCURRENT_STREAMS (capped), or an assumption until it arrives. */
  maxStreams = ASSUMED_MAX_STREAMS;
  /** False once the session takes no new streams (GOAWAY, ids exhausted, closing, closed). */
  usable = true;
  closed = false;
  /**
   * For the timer wheel: the connect timeout while connecting; once
   * connected, the earliest of the SETTINGS-ack and PING-ack timeouts, the
   * idle timeout (no stream open) and the next keepalive check (see #arm).
   */
  deadline = 0;
  #connected = false;
  #settingsReceived = false;
  /** When our SETTINGS must have been acknowledged (0: acknowledged). */
  #settingsAckDue = 0;
  /** When the ack of our outstanding PING is due (0: none outstanding). */
  #pingDue = 0;
  /** When the last bytes arrived from the peer (timer-wheel clock). */
  #lastRead = 0;
  /** When the session became idle (no stream open), for the idle timeout. */
  #idleSince = 0;
  /** The peer's SETTINGS_MAX_HEADER_LIST_SIZE (section 6.5.2), or -1 while unlimited. */
  #peerMaxHeaderList = -1;
  #nextStreamId = 1;
  /** Graceful close asked: close once the last stream ends. */
  #closing = false;

  // Peer settings and send-side flow control.
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #sendWindow = DEFAULT_WINDOW;
  /** Streams with request body bytes waiting for window (or for the socket to drain). */
  #blocked: H2Stream[] = [];
  #socketFull = false;

  // Receive-side flow control (connection level).
  #recvWindow = RECV_CONNECTION_WINDOW;
  #connUnacked = 0;

  // Output: frames queued during this turn, flushed once.
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  /** The header of the last DATA frame queued and not yet flushed, so END_STREAM can still be set on it. */
  #lastData: Buffer | null = null;
  #lastDataOffset = 0;
  #lastDataStream: H2Stream | null = null;

  // Input.
  #readBuf = Buffer.allocUnsafe(READ_BUFFER_SIZE);
  #readState = R_HEADER;
  readonly #hdr = Buffer.alloc(FRAME_HEADER_SIZE);
  #hdrHave = 0;
  #frameLength = 0;
  #frameType = 0;
  #frameFlags = 0;
  #frameStream = 0;
  #payload: Buffer | null = null;
  #payloadHave = 0;
  #dataStream: H2Stream | null = null;
  #dataLeft = 0;
  /** Header block fragments while CONTINUATION frames are expected (0 = none expected). */
  #contStreamId = 0;
  #contFlags = 0;
  #contBlock: Buffer | null = null;
  #contLength = 0;
  readonly #decoder = new HpackDecoder(4096, MAX_HEADER_LIST_SIZE);
  readonly #fields: string[] = [];

  constructor(owner: H2SessionOwner, options: H2SessionOptions) {
    this.owner = owner;
    this.options = options;
    this.maxStreams = options.initialMaxStreams ?? ASSUMED_MAX_STREAMS;
    const self = this;
    this.socket = net.connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: {
        buffer: () => self.#readBuf,
        callback: (n: number, buf: Uint8Array) => {
          self.#onRead(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket.on('connect', onSocketConnect);
    this.socket.on('error', onSocketError);
    this.socket.on('end', onSocketEnd);
    this.socket.on('close', onSocketClose);
    this.socket.on('drain', onSocketDrain);
    (this.socket as SessionSocket)[kSession] = this;
    timerWheel.add(this);
    this.deadline = timerWheel.now + options.connectTimeoutMs;
    // The preface, our SETTINGS and the connection window go out with the first requests' HEADERS, in one write.
    const start = Buffer.allocUnsafe(CLIENT_PREFACE.length + FRAME_HEADER_SIZE + 4 * 6 + FRAME_HEADER_SIZE + 4);
    let o = CLIENT_PREFACE.copy(start, 0);
    writeFrameHeader(start, o, 4 * 6, FrameType.SETTINGS, 0, 0);
    o += FRAME_HEADER_SIZE;
    o = writeSetting(start, o, Setting.ENABLE_PUSH, 0);
    o = writeSetting(start, o, Setting.INITIAL_WINDOW_SIZE, RECV_STREAM_WINDOW);
    o = writeSetting(start, o, Setting.HEADER_TABLE_SIZE, 4096);
    o = writeSetting(start, o, Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE);
    writeFrameHeader(start, o, 4, FrameType.WINDOW_UPDATE, 0, 0);
    start.writeUInt32BE(RECV_CONNECTION_WINDOW - DEFAULT_WINDOW, o + FRAME_HEADER_SIZE);
    this.#enqueue(start);
  }

  /** True when a new stream may be opened here now. */
  get hasCapacity(): boolean {
    return this.usable && this.streams.size < this.maxStreams;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Open `stream` on this session: assign its id and queue its HEADERS (and
   * END_STREAM when there is no body). A head larger than the peer's
   * SETTINGS_MAX_HEADER_LIST_SIZE is not sent: the stream fails at once with
   * HEADERS_TOO_LARGE (section 10.5.1: the peer would refuse it anyway).
   */
  open(stream: H2Stream): void {
    if (this.#peerMaxHeaderList >= 0 && this.#headerListTooLarge(stream)) return;
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    if (this.#nextStreamId > LAST_STREAM_ID) this.usable = false; // ids exhausted: the client opens a new session
    stream.id = id;
    stream.session = this;
    stream.state = S_OPEN;
    stream.sendWindow = this.#peerInitialWindow;
    this.streams.set(id, stream);
    if (this.streams.size === 1 && this.#connected) this.#arm();
    const headers = stream.headers;
    const body = stream.body;
    const max = HpackEncoder.maxEncodedLength(headers);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + max);
    const length = encoder.encode(headers, frame, FRAME_HEADER_SIZE) - FRAME_HEADER_SIZE;
    const endStream = body === null ? Flag.END_STREAM : 0;
    if (length <= this.#peerMaxFrame) {
      writeFrameHeader(frame, 0, length, FrameType.HEADERS, Flag.END_HEADERS | endStream, id);
      this.#enqueue(length === max ? frame : frame.subarray(0, FRAME_HEADER_SIZE + length));
    } else {
      this.#enqueueHeaderBlock(frame.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + length), id, endStream);
    }
    if (body !== null) {
      body[kStream] = stream;
      body.on('data', onBodyData);
      body.on('end', onBodyEnd);
      body.on('error', onBodyError);
    } else {
      stream.bodyEnded = true;
      stream.endSent = true;
    }
  }

  /** Fails `stream` (never sent) when its head exceeds the peer's limit; the size counts 32 bytes per field (section 6.5.2). */
  #headerListTooLarge(stream: H2Stream): boolean {
    const headers = stream.headers;
    let size = 16 * headers.length;
    for (let i = 0; i < headers.length; i++) size += headers[i].length;
    const limit = this.#peerMaxHeaderList;
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

  /** A header block larger than one frame: HEADERS + CONTINUATION (section 6.10). */
  #enqueueHeaderBlock(block: Buffer, id: number, endStream: number): void {
    const max = this.#peerMaxFrame;
    let offset = 0;
    let type: number = FrameType.HEADERS;
    while (offset < block.length) {
      const n = Math.min(max, block.length - offset);
      const last = offset + n === block.length;
      const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
      writeFrameHeader(frame, 0, n, type, (last ? Flag.END_HEADERS : 0) | (type === FrameType.HEADERS ? endStream : 0), id);
      block.copy(frame, FRAME_HEADER_SIZE, offset, offset + n);
      this.#enqueue(frame);
      offset += n;
      type = FrameType.CONTINUATION;
    }
  }

  // --- request body ----------------------------------------------------------

  /** A request body chunk: send what the windows allow, queue the rest and pause the body. */
  sendBody(stream: H2Stream, chunk: Buffer): void {
    if (stream.state !== S_OPEN || chunk.length === 0) return;
    if (stream.pendingOut !== null) {
      stream.pendingOut.push(chunk);
      stream.body!.pause();
      return;
    }
    const rest = this.#sendData(stream, chunk, false);
    if (rest !== null) {
      stream.pendingOut = [rest];
      stream.body!.pause();
      this.#block(stream);
    }
  }

  endBody(stream: H2Stream): void {
    stream.bodyEnded = true;
    if (stream.state !== S_OPEN || stream.pendingOut !== null) return;
    this.#sendEnd(stream);
  }

  #sendEnd(stream: H2Stream): void {
    stream.endSent = true;
    this.#detachBody(stream);
    const trailers = stream.body?.trailers;
    if (trailers != null) {
      // Request trailers: a trailing HEADERS frame with END_STREAM (RFC 9113
      // section 8.1) instead of END_STREAM on the last DATA. This runs only
      // once every pending DATA frame of the stream was queued, so they go after the whole body.
      this.#sendTrailers(stream, trailers);
      return;
    }
    if (this.#lastDataStream === stream && this.#lastData !== null) {
      // The last DATA frame is still in this turn's output: end the stream on it.
      this.#lastData[this.#lastDataOffset + 4] |= Flag.END_STREAM;
      return;
    }
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    writeFrameHeader(frame, 0, 0, FrameType.DATA, Flag.END_STREAM, stream.id);
    this.#enqueue(frame);
  }

  /**
   * HPACK-encode the trailer fields as the request head is (no dynamic table)
   * and queue them as HEADERS (+ CONTINUATION) with END_STREAM. Names are
   * lower-cased; pseudo-header and connection-specific fields, which HTTP/2
   * forbids (section 8.2.2), are left out.
   */
  #sendTrailers(stream: H2Stream, trailers: Record<string, string>): void {
    const fields: string[] = [];
    for (const name in trailers) {
      const lower = name.toLowerCase();
      if (lower.charCodeAt(0) === 58 /* ':' */ || CONNECTION_SPECIFIC.has(lower) || lower === 'te') continue;
      fields.push(lower, trailers[name]);
    }
    const max = HpackEncoder.maxEncodedLength(fields);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + max);
    const length = encoder.encode(fields, frame, FRAME_HEADER_SIZE) - FRAME_HEADER_SIZE;
    if (length <= this.#peerMaxFrame) {
      writeFrameHeader(frame, 0, length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id);
      this.#enqueue(frame.subarray(0, FRAME_HEADER_SIZE + length));
    } else {
      this.#enqueueHeaderBlock(frame.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + length), stream.id, Flag.END_STREAM);
    }
  }

  /**
   * Queue DATA frames for as much of `chunk` as the stream window, the
   * connection window and the socket allow; returns the unsent rest or null.
   */
  #sendData(stream: H2Stream, chunk: Buffer, _retry: boolean): Buffer | null {
    let offset = 0;
    const total = chunk.length;
    while (offset < total) {
      if (this.#socketFull) break;
      const allowed = Math.min(stream.sendWindow, this.#sendWindow, this.#peerMaxFrame, total - offset);
      if (allowed <= 0) break;
      stream.sendWindow -= allowed;
      this.#sendWindow -= allowed;
      const payload = offset === 0 && allowed === total ? chunk : chunk.subarray(offset, offset + allowed);
      offset += allowed;
      if (allowed < 1024) {
        const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + allowed);
        writeFrameHeader(frame, 0, allowed, FrameType.DATA, 0, stream.id);
        payload.copy(frame, FRAME_HEADER_SIZE);
        this.#enqueue(frame);
        this.#lastData = frame;
      } else {
        const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
        writeFrameHeader(header, 0, allowed, FrameType.DATA, 0, stream.id);
        this.#enqueue(header);
        this.#enqueue(payload);
        this.#lastData = header;
      }
      this.#lastDataOffset = 0;
      this.#lastDataStream = stream;
    }
    return offset === total ? null : chunk.subarray(offset);
  }

  #block(stream: H2Stream): void {
    if (stream.blocked) return;
    stream.blocked = true;
    this.#blocked.push(stream);
  }

  /** Window opened (or the socket drained): send what blocked streams hold, resume their bodies. */
  #unblock(only: H2Stream | null): void {
    if (only !== null) {
      if (only.blocked && this.#drainPending(only)) {
        only.blocked = false;
        const i = this.#blocked.indexOf(only);
        if (i >= 0) this.#blocked.splice(i, 1);
      }
      return;
    }
    const list = this.#blocked;
    if (list.length === 0) return;
    this.#blocked = [];
    for (const stream of list) {
      if (!stream.blocked) continue;
      if (this.#drainPending(stream)) stream.blocked = false;
      else this.#blocked.push(stream);
    }
  }

  /** Send a stream's pending body bytes; true when none are left (the body was resumed or ended). */
  #drainPending(stream: H2Stream): boolean {
    if (stream.state !== S_OPEN) return true;
    const pending = stream.pendingOut;
    if (pending === null) return true;
    while (pending.length > 0) {
      const rest = this.#sendData(stream, pending[0], true);
      if (rest !== null) {
        pending[0] = rest;
        return false;
      }
      pending.shift();
    }
    stream.pendingOut = null;
    if (stream.bodyEnded) this.#sendEnd(stream);
    else stream.body!.resume();
    return true;
  }

  #detachBody(stream: H2Stream): void {
    const body = stream.body;
    if (body === null || body[kStream] !== stream) return;
    body[kStream] = undefined;
    body.off('data', onBodyData);
    body.off('end', onBodyEnd);
    body.off('error', onBodyError);
  }

  // --- stream endings --------------------------------------------------------

  /** Credit what the stream's handler consumed (called when not paused). */
  creditStream(stream: H2Stream): void {
    const n = stream.unacked;
    stream.unacked = 0;
    stream.recvWindow += n;
    this.#windowUpdate(stream.id, n);
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
    if (!stream.endSent) this.#rstStream(stream.id, ErrorCode.NO_ERROR);
    this.#removeStream(stream);
    stream.handler.onResponseEnd?.(stream, trailers);
  }

  /** Reset a stream from our side (abort, malformed response) without telling its handler. */
  resetStream(stream: H2Stream, code: number): void {
    if (stream.state !== S_OPEN) return;
    this.#rstStream(stream.id, code);
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
    this.#detachBody(stream);
    const body = stream.body;
    // Like undici: a body we no longer read is destroyed (the listener keeps what a retry needs).
    if (body !== null && !stream.bodyEnded && !body.destroyed) body.destroy();
    stream.pendingOut = null;
    stream.inbox = null;
    if (this.#lastDataStream === stream) {
      this.#lastData = null;
      this.#lastDataStream = null;
    }
    this.streams.delete(stream.id);
    if (this.streams.size === 0) {
      if (this.#closing || (!this.usable && !this.closed)) {
        this.#shutdown();
        return;
      }
      this.#idleSince = timerWheel.now;
      this.#arm();
    }
    if (this.usable) this.owner.sessionHasCapacity(this);
  }

  // --- closing ---------------------------------------------------------------

  /** Take no new streams; close once the open ones finished. */
  close(): void {
    this.#closing = true;
    this.usable = false;
    if (this.streams.size === 0) this.#shutdown();
  }

  /** Close now: every open stream fails with `err`. */
  destroy(err: Error): void {
    this.#fail(err, 0, false);
  }

  onDeadline(): void {
    if (this.closed) return;
    if (!this.#connected) {
      this.#fail(Object.assign(new Error(`connect timeout after ${this.options.connectTimeoutMs} ms to ${this.options.host}:${this.options.port}`), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 0, false);
      return;
    }
    const now = timerWheel.now;
    const timeout = this.options.pingTimeoutMs;
    if (this.#settingsAckDue !== 0 && now >= this.#settingsAckDue) {
      return this.#connectionError(ErrorCode.SETTINGS_TIMEOUT, `no SETTINGS acknowledgement within ${timeout} ms`);
    }
    if (this.#pingDue !== 0 && now >= this.#pingDue) {
      // The peer (or the path to it) is gone without closing the socket: fail the streams now instead of letting them hang.
      const where = `${this.options.host}:${this.options.port}`;
      this.#fail(new H2Error(H2ErrorCodes.CONNECTION_CLOSED, `upstream ${where} did not answer a PING within ${timeout} ms: connection taken for dead`), ErrorCode.NO_ERROR, true);
      return;
    }
    if (this.streams.size === 0) {
      if (now >= this.#idleSince + this.options.idleTimeoutMs) return this.close();
    } else {
      const interval = this.options.keepaliveIntervalMs;
      if (interval > 0 && this.#pingDue === 0 && now >= this.#lastRead + interval) {
        this.#ping(0, PING_PAYLOAD, 0);
        this.#pingDue = now + timeout;
      }
    }
    this.#arm();
  }

  /** Set the wheel deadline to the next thing to check once connected (0: nothing). */
  #arm(): void {
    let d = 0;
    if (this.#settingsAckDue !== 0) d = this.#settingsAckDue;
    if (this.#pingDue !== 0 && (d === 0 || this.#pingDue < d)) d = this.#pingDue;
    let next = 0;
    if (this.streams.size === 0) next = this.#idleSince + this.options.idleTimeoutMs;
    else if (this.#pingDue === 0) {
      const interval = this.options.keepaliveIntervalMs;
      if (interval > 0) next = this.#lastRead + interval;
    }
    if (next !== 0 && (d === 0 || next < d)) d = next;
    // A time already past fires on the next tick (0 would disarm it).
    this.deadline = d;
  }

  /** GOAWAY(NO_ERROR), flush, end the socket. */
  #shutdown(): void {
    if (this.closed) return;
    this.usable = false;
    this.#goAway(ErrorCode.NO_ERROR);
    this.#flush();
    this.#finishClose();
    this.socket.end();
  }

  #finishClose(err: Error | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.usable = false;
    this.deadline = 0;
    timerWheel.remove(this);
    this.owner.sessionClosed(this, this.#connected ? null : err);
  }

  /** Tear the session down (with GOAWAY(`code`) first when asked): every open stream fails with `err`. */
  #fail(err: Error, code: number, sendGoAway: boolean): void {
    if (sendGoAway && !this.socket.destroyed) {
      this.#goAway(code);
      this.#flush();
    }
    this.#out = [];
    this.#outBytes = 0;
    this.#finishClose(err);
    if (!this.socket.destroyed) {
      if (sendGoAway) this.socket.end();
      this.socket.destroy();
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) {
      if (stream.state !== S_OPEN) continue;
      stream.markDone();
      this.#detachBody(stream);
      if (stream.body !== null && !stream.bodyEnded && !stream.body.destroyed) stream.body.destroy();
      // A lost connection under a response whose head went out cut its body short (issue 18).
      const cut = stream.headSeen && (err as { code?: unknown }).code === H2ErrorCodes.CONNECTION_CLOSED;
      stream.handler.onResponseError?.(stream, cut ? new H2Error(H2ErrorCodes.TRUNCATED, err.message, -1, false, err) : err);
    }
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
    this.#fail(new H2Error(H2ErrorCodes.HTTP1_ONLY, `upstream ${where} answered the HTTP/2 connection preface with an HTTP/1.x status line: it speaks only HTTP/1.1`, -1, true), 0, false);
  }

  /** A connection error (section 5.4.1): GOAWAY with `code`, close, fail every stream. */
  #connectionError(code: number, message: string): void {
    if (this.closed) return;
    const err = new H2Error(H2ErrorCodes.PROTOCOL, `HTTP/2 protocol error from upstream ${this.options.host}:${this.options.port}: ${message} (${errorCodeName(code)})`, code);
    this.#fail(err, code, true);
  }

  // --- output ----------------------------------------------------------------

  #enqueue(buf: Buffer): void {
    this.#out.push(buf);
    this.#outBytes += buf.length;
    this.#lastData = null;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      scheduleFlush(this);
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    this.#flush();
  }

  #flush(): void {
    const out = this.#out;
    const n = out.length;
    this.#lastData = null;
    this.#lastDataStream = null;
    if (n === 0 || this.socket.destroyed) return;
    this.#out = [];
    const bytes = this.#outBytes;
    this.#outBytes = 0;
    let ok: boolean;
    if (n === 1) ok = this.socket.write(out[0]);
    else if (bytes <= CONCAT_LIMIT) ok = this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (let i = 0; i < n - 1; i++) this.socket.write(out[i]);
      ok = this.socket.write(out[n - 1]);
      this.socket.uncork();
    }
    if (!ok) this.#socketFull = true;
  }

  #windowUpdate(streamId: number, increment: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
    writeFrameHeader(frame, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
    frame.writeUInt32BE(increment, FRAME_HEADER_SIZE);
    this.#enqueue(frame);
  }

  #rstStream(streamId: number, code: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
    writeFrameHeader(frame, 0, 4, FrameType.RST_STREAM, 0, streamId);
    frame.writeUInt32BE(code, FRAME_HEADER_SIZE);
    this.#enqueue(frame);
  }

  /** Queue a PING (or its ack) carrying the 8 bytes of `payload` at `offset`. */
  #ping(flags: number, payload: Buffer, offset: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(frame, 0, 8, FrameType.PING, flags, 0);
    payload.copy(frame, FRAME_HEADER_SIZE, offset, offset + 8);
    this.#enqueue(frame);
  }

  #goAway(code: number): void {
    // We never accept server-initiated streams: the last one we processed is 0.
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(frame, 0, 8, FrameType.GOAWAY, 0, 0);
    frame.writeUInt32BE(0, FRAME_HEADER_SIZE);
    frame.writeUInt32BE(code, FRAME_HEADER_SIZE + 4);
    this.#enqueue(frame);
  }

  // --- socket events ---------------------------------------------------------

  onConnect(): void {
    this.#connected = true;
    const now = timerWheel.now;
    this.#lastRead = now;
    this.#idleSince = now;
    // Our SETTINGS left with the preface (or leave with the next flush).
    this.#settingsAckDue = now + this.options.pingTimeoutMs;
    this.#arm();
  }

  onDrain(): void {
    this.#socketFull = false;
    this.#unblock(null);
  }

  onSocketGone(err: Error | null): void {
    if (this.closed && this.streams.size === 0) return;
    const where = `${this.options.host}:${this.options.port}`;
    const failure =
      err !== null && !this.#connected
        ? err // a connect error keeps its code (ECONNREFUSED, ...): the request never left
        : new H2Error(H2ErrorCodes.CONNECTION_CLOSED, `upstream ${where} closed the HTTP/2 connection${err !== null ? `: ${err.message}` : ''}`, -1, false, err ?? undefined);
    this.#fail(failure, 0, false);
  }

  // --- input -----------------------------------------------------------------

  #onRead(buf: Buffer, n: number): void {
    if (this.closed && this.streams.size === 0) return;
    this.#lastRead = timerWheel.now;
    try {
      this.#parse(buf, 0, n);
    } catch (err) {
      if (err instanceof HpackError) this.#connectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      else this.#fail(err as Error, ErrorCode.INTERNAL_ERROR, true);
    }
  }

  #parse(buf: Buffer, pos: number, end: number): void {
    while (pos < end && !this.closed) {
      const state = this.#readState;
      if (state === R_HEADER) {
        let h: Buffer;
        let o: number;
        if (this.#hdrHave === 0 && end - pos >= FRAME_HEADER_SIZE) {
          h = buf;
          o = pos;
          pos += FRAME_HEADER_SIZE;
        } else {
          const take = Math.min(FRAME_HEADER_SIZE - this.#hdrHave, end - pos);
          buf.copy(this.#hdr, this.#hdrHave, pos, pos + take);
          this.#hdrHave += take;
          pos += take;
          if (this.#hdrHave < FRAME_HEADER_SIZE) return;
          this.#hdrHave = 0;
          h = this.#hdr;
          o = 0;
        }
        const length = (h[o] << 16) | (h[o + 1] << 8) | h[o + 2];
        const type = h[o + 3];
        const flags = h[o + 4];
        const streamId = h.readUInt32BE(o + 5) & 0x7fffffff;
        // An HTTP/1.x server answers our preface with a status line where the server's SETTINGS should be.
        if (!this.#settingsReceived && isHttp1StatusStart(h, o)) return this.#http1Answer();
        if (length > DEFAULT_MAX_FRAME_SIZE) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds our SETTINGS_MAX_FRAME_SIZE`);
        if (!this.#settingsReceived && type !== FrameType.SETTINGS) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'the server preface must start with SETTINGS');
        if (this.#contStreamId !== 0 && (type !== FrameType.CONTINUATION || streamId !== this.#contStreamId)) {
          return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'expected a CONTINUATION frame');
        }
        this.#frameLength = length;
        this.#frameType = type;
        this.#frameFlags = flags;
        this.#frameStream = streamId;
        if (type === FrameType.DATA && (flags & Flag.PADDED) === 0) {
          if (!this.#beginData(streamId, length)) continue;
          this.#dataLeft = length;
          if (length === 0) {
            this.#endData();
            continue;
          }
          this.#readState = R_DATA;
          continue;
        }
        if (end - pos >= length) {
          this.#frame(buf, pos, pos + length);
          pos += length;
          continue;
        }
        this.#payload = Buffer.allocUnsafe(length);
        this.#payloadHave = 0;
        this.#readState = R_PAYLOAD;
        continue;
      }
      if (state === R_PAYLOAD) {
        const payload = this.#payload!;
        const take = Math.min(this.#frameLength - this.#payloadHave, end - pos);
        buf.copy(payload, this.#payloadHave, pos, pos + take);
        this.#payloadHave += take;
        pos += take;
        if (this.#payloadHave < this.#frameLength) return;
        this.#payload = null;
        this.#readState = R_HEADER;
        this.#frame(payload, 0, payload.length);
        continue;
      }
      // R_DATA: hand this read's part of the DATA payload to its stream.
      const take = Math.min(this.#dataLeft, end - pos);
      const stream = this.#dataStream;
      if (stream !== null && stream.state === S_OPEN) {
        let chunk: Buffer;
        if (take < COPY_LIMIT) {
          chunk = Buffer.allocUnsafe(take);
          buf.copy(chunk, 0, pos, pos + take);
        } else {
          // Lend the read buffer to the handler and read into a new one from now on.
          chunk = buf.subarray(pos, pos + take);
          if (buf === this.#readBuf) this.#readBuf = Buffer.allocUnsafe(READ_BUFFER_SIZE);
        }
        this.#deliver(stream, chunk);
      }
      pos += take;
      this.#dataLeft -= take;
      if (this.#dataLeft === 0) {
        this.#readState = R_HEADER;
        this.#endData();
      }
    }
  }

  /** One whole frame (other than unpadded DATA) at buf[start, end). */
  #frame(buf: Buffer, start: number, end: number): void {
    const flags = this.#frameFlags;
    const streamId = this.#frameStream;
    const length = end - start;
    switch (this.#frameType) {
      case FrameType.DATA: {
        // Padded (section 6.1): the pad length counts against flow control like the rest.
        if (!this.#beginData(streamId, length)) return;
        const padLength = length > 0 ? buf[start] : 0;
        if (length === 0 || padLength >= length) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA padding exceeds the payload');
        const stream = this.#dataStream;
        if (stream !== null && stream.state === S_OPEN) {
          stream.unacked += 1 + padLength; // padding is consumed at once
          const n = length - 1 - padLength;
          if (n > 0) this.#deliver(stream, Buffer.from(buf.subarray(start + 1, start + 1 + n)));
        }
        this.#endData();
        return;
      }
      case FrameType.HEADERS:
        return this.#onHeaders(buf, start, end, flags, streamId);
      case FrameType.CONTINUATION:
        return this.#onContinuation(buf, start, end, flags, streamId);
      case FrameType.RST_STREAM:
        if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (length !== 4) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
        return this.#onRstStream(streamId, buf.readUInt32BE(start));
      case FrameType.SETTINGS:
        return this.#onSettings(buf, start, end, flags, streamId);
      case FrameType.PING:
        if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (length !== 8) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if ((flags & Flag.ACK) === 0) this.#ping(Flag.ACK, buf, start);
        else if (this.#pingDue !== 0 && buf.compare(PING_PAYLOAD, 0, 8, start, end) === 0) {
          this.#pingDue = 0;
          this.#arm();
        }
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (length < 8) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        return this.#onGoAway(buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4));
      case FrameType.WINDOW_UPDATE:
        if (length !== 4) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
        return this.#onWindowUpdate(streamId, buf.readUInt32BE(start) & 0x7fffffff);
      case FrameType.PRIORITY:
        if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (length !== 5) {
          const stream = this.streams.get(streamId);
          if (stream !== undefined) this.#streamError(stream, ErrorCode.FRAME_SIZE_ERROR, this.#protocolStreamError('PRIORITY payload is not 5 bytes', ErrorCode.FRAME_SIZE_ERROR));
        }
        return; // deprecated (section 5.3.2): ignored
      case FrameType.PUSH_PROMISE:
        return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE although we disabled push');
      default:
        return; // unknown frame types are ignored (section 4.1)
    }
  }

  /**
   * Flow control for a DATA frame of `length` bytes; sets #dataStream (null
   * when its stream is gone). False after a connection error.
   */
  #beginData(streamId: number, length: number): boolean {
    if (streamId === 0) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
      return false;
    }
    if (length > this.#recvWindow) {
      this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
      return false;
    }
    // The connection window is credited as data arrives: the stream windows bound memory.
    this.#recvWindow -= length;
    this.#connUnacked += length;
    if (this.#connUnacked >= RECV_CONNECTION_WINDOW / 2) {
      this.#recvWindow += this.#connUnacked;
      this.#windowUpdate(0, this.#connUnacked);
      this.#connUnacked = 0;
    }
    const stream = this.streams.get(streamId);
    this.#dataStream = null;
    if (stream === undefined) {
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
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

  #deliver(stream: H2Stream, chunk: Buffer): void {
    stream.received += chunk.length;
    if (stream.paused || stream.inbox !== null) {
      (stream.inbox ??= []).push(chunk);
      return;
    }
    stream.unacked += chunk.length;
    stream.handler.onResponseData?.(stream, chunk);
    if (stream.state === S_OPEN && !stream.paused && stream.unacked >= RECV_STREAM_WINDOW / 2) this.creditStream(stream);
  }

  #endData(): void {
    const stream = this.#dataStream;
    this.#dataStream = null;
    if (stream === null || stream.state !== S_OPEN) return;
    if ((this.#frameFlags & Flag.END_STREAM) !== 0) this.completeStream(stream, EMPTY_TRAILERS);
  }

  #onHeaders(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = start;
    if ((flags & Flag.PADDED) !== 0) {
      if (end - p < 1) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its padding');
      const pad = buf[p++];
      if (pad > end - p) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding exceeds the payload');
      end -= pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) {
      if (end - p < 5) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      p += 5;
    }
    if ((flags & Flag.END_HEADERS) !== 0) return this.#headerBlock(buf, p, end, flags, streamId);
    this.#contStreamId = streamId;
    this.#contFlags = flags;
    this.#contBlock = Buffer.allocUnsafe(Math.max(end - p, 1024));
    buf.copy(this.#contBlock, 0, p, end);
    this.#contLength = end - p;
  }

  #onContinuation(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    if (this.#contStreamId === 0 || streamId !== this.#contStreamId) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION');
    const n = end - start;
    let block = this.#contBlock!;
    if (this.#contLength + n > MAX_HEADER_LIST_SIZE * 2) return this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    if (this.#contLength + n > block.length) {
      const bigger = Buffer.allocUnsafe(Math.max(block.length * 2, this.#contLength + n));
      block.copy(bigger, 0, 0, this.#contLength);
      block = this.#contBlock = bigger;
    }
    buf.copy(block, this.#contLength, start, end);
    this.#contLength += n;
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.#contStreamId = 0;
    this.#contBlock = null;
    this.#headerBlock(block, 0, this.#contLength, this.#contFlags, streamId);
  }

  /** A complete header block: decode it (always, to keep the HPACK table in step) and give it to its stream. */
  #headerBlock(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    const fields = this.#fields;
    fields.length = 0;
    try {
      this.#decoder.decode(buf, start, end, fields);
    } catch (err) {
      // A malformed block is a connection error (section 4.3), thrown on to #onRead.
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
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) this.#connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!stream.headSeen) {
      // The response head (section 8.3.2): :status first, nothing else pseudo.
      if (fields.length < 2 || fields[0] !== ':status') return this.#malformed(stream, 'response HEADERS without :status first');
      const statusText = fields[1];
      const status = statusText.length === 3 ? Number(statusText) : NaN;
      if (!(status >= 100 && status <= 999) || !Number.isInteger(status)) return this.#malformed(stream, `invalid :status ${JSON.stringify(statusText)}`);
      const headers = this.#toHeaders(stream, fields, 2);
      if (headers === null) return;
      if (status < 200) {
        // Informational (1xx) heads are skipped, like undici does; 101 is not allowed in HTTP/2 (section 8.6).
        if (status === 101 || endStream) return this.#malformed(stream, `unexpected ${status} response`);
        return;
      }
      stream.headSeen = true;
      const cl = headers['content-length'];
      if (cl !== undefined) {
        const n = typeof cl === 'string' && /^\d{1,15}$/.test(cl) ? Number(cl) : -1;
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
    const trailers = this.#toHeaders(stream, fields, 0);
    if (trailers === null) return;
    this.completeStream(stream, trailers);
  }

  /**
   * Decoded fields from `from` on as undici's header object (lower-case names;
   * repeats joined like node:http2 does). Null when malformed (the stream was reset).
   */
  #toHeaders(stream: H2Stream, fields: string[], from: number): Headers | null {
    const headers: Headers = {};
    for (let i = from; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      if (!isLowerToken(name)) {
        this.#malformed(stream, name.charCodeAt(0) === 58 ? `unexpected pseudo-header field ${name}` : `invalid field name ${JSON.stringify(name)}`);
        return null;
      }
      if (CONNECTION_SPECIFIC.has(name)) {
        this.#malformed(stream, `connection-specific field ${name}`);
        return null;
      }
      const existing = headers[name];
      if (existing === undefined) headers[name] = value;
      else if (name === 'set-cookie') {
        if (typeof existing === 'string') headers[name] = [existing, value];
        else existing.push(value);
      } else if (SINGLE_VALUE.has(name)) continue;
      else headers[name] = `${existing}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    return headers;
  }

  #malformed(stream: H2Stream, message: string): void {
    this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, this.#protocolStreamError(`malformed response: ${message}`));
  }

  #protocolStreamError(message: string, code: number = ErrorCode.PROTOCOL_ERROR): H2Error {
    return new H2Error(H2ErrorCodes.PROTOCOL, `HTTP/2 protocol error from upstream ${this.options.host}:${this.options.port}: ${message}`, code);
  }

  #onRstStream(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId >= this.#nextStreamId || (streamId & 1) === 0) this.#connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
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

  #onSettings(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (end !== start) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      if (this.#settingsAckDue !== 0) {
        this.#settingsAckDue = 0;
        if (this.#connected) this.#arm();
      }
      return;
    }
    if ((end - start) % 6 !== 0) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6 bytes');
    let windowDelta = 0;
    for (let p = start; p < end; p += 6) {
      const id = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH above 1');
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.maxStreams = Math.min(value, MAX_STREAMS_CAP);
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          windowDelta += value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.#peerMaxFrame = value;
          break;
        case Setting.MAX_HEADER_LIST_SIZE:
          this.#peerMaxHeaderList = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. Unknown: ignored.
          break;
      }
    }
    const ack = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    writeFrameHeader(ack, 0, 0, FrameType.SETTINGS, Flag.ACK, 0);
    this.#enqueue(ack);
    if (windowDelta !== 0) {
      // Section 6.9.2: the change applies to every open stream's window.
      for (const stream of this.streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1 after SETTINGS');
      }
      if (windowDelta > 0) this.#unblock(null);
    }
    const first = !this.#settingsReceived;
    this.#settingsReceived = true;
    if (first && this.usable) this.owner.sessionHasCapacity(this);
  }

  #onGoAway(lastStreamId: number, code: number): void {
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
    if (this.streams.size === 0 && !this.closed) this.#shutdown();
  }

  #onWindowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      if (increment === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.#unblock(null);
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // closed streams may still get updates
    if (increment === 0) return this.#streamError(stream, ErrorCode.PROTOCOL_ERROR, this.#protocolStreamError('WINDOW_UPDATE of 0'));
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.#streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, this.#protocolStreamError('stream window above 2^31-1', ErrorCode.FLOW_CONTROL_ERROR));
    if (stream.blocked) this.#unblock(stream);
  }
}

function writeSetting(buf: Buffer, offset: number, id: number, value: number): number {
  buf.writeUInt16BE(id, offset);
  buf.writeUInt32BE(value, offset + 2);
  return offset + 6;
}

// Listeners shared by every session and body: they find their object through a field, so no closure is made per connection or request.
const kSession = Symbol('h2Session');
type SessionSocket = net.Socket & { [kSession]: H2Session };

function onSocketConnect(this: SessionSocket): void {
  this[kSession].onConnect();
}
function onSocketError(this: SessionSocket, err: Error): void {
  this[kSession].onSocketGone(err);
}
function onSocketEnd(this: SessionSocket): void {
  this[kSession].onSocketGone(null);
  this.end();
}
function onSocketClose(this: SessionSocket): void {
  this[kSession].onSocketGone(null);
}
function onSocketDrain(this: SessionSocket): void {
  this[kSession].onDrain();
}

/**
 * Sessions with frames queued since the last flush. They are flushed once
 * per event-loop iteration, from setImmediate (the check phase, right after
 * the poll phase): the frames produced by every read callback of that poll
 * phase (many client connections' requests, many upstream responses) leave in
 * one write per upstream connection. A loopback write costs ~10-20 us of
 * kernel time, more than everything else this client does for a request;
 * process.nextTick would flush after each read callback instead.
 */
let dirty: H2Session[] = [];
let spare: H2Session[] = [];
let flushPending = false;

function scheduleFlush(session: H2Session): void {
  dirty.push(session);
  if (!flushPending) {
    flushPending = true;
    setImmediate(flushAll);
  }
}

function flushAll(): void {
  flushPending = false;
  const list = dirty;
  dirty = spare;
  for (let i = 0; i < list.length; i++) list[i].flush();
  list.length = 0;
  spare = list;
}
function onBodyData(this: BodyWithStream, chunk: Buffer): void {
  const stream = this[kStream];
  if (stream !== undefined) stream.session!.sendBody(stream, chunk);
}
function onBodyEnd(this: BodyWithStream): void {
  const stream = this[kStream];
  if (stream !== undefined) stream.session!.endBody(stream);
}
function onBodyError(this: BodyWithStream, err: Error): void {
  const stream = this[kStream];
  if (stream !== undefined && stream.state === S_OPEN) stream.abort(err);
}

/** `HTTP/1.` at buf[o]: the start of an HTTP/1.x status line (RFC 9112 section 4), read from the 9 bytes of a frame header. */
function isHttp1StatusStart(buf: Buffer, o: number): boolean {
  return buf[o] === 0x48 && buf[o + 1] === 0x54 && buf[o + 2] === 0x54 && buf[o + 3] === 0x50 && buf[o + 4] === 0x2f && buf[o + 5] === 0x31 && buf[o + 6] === 0x2e;
}
