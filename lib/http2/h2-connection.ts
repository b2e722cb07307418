// The connection under an h2c client session (./h2-session.ts): the socket,
// the preface, and the life of the connection - connect timeout, SETTINGS
// acknowledgement, keepalive PINGs, idle close, GOAWAY and teardown (RFC 9113
// sections 3.4, 6.5.3, 6.7, 6.8). The session on top holds the streams and
// reads the frames; this part knows streams only to fail them when the
// connection dies.

import net from 'node:net';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';
import { FrameWriter } from './frame-writer.ts';
import { CLIENT_PREFACE, DEFAULT_WINDOW, ErrorCode, errorCodeName, FRAME_HEADER_SIZE, FrameType, Setting, writeFrameHeader } from './frames.ts';
import { H2Error, H2ErrorCodes } from './h2-error.ts';
import type { H2Session } from './h2-session.ts';
import type { H2SessionOptions, H2SessionOwner } from './h2-session-options.ts';
import { type H2Stream, RECV_STREAM_WINDOW, S_OPEN } from './h2-stream.ts';
import { OutboundFlow, type OutboundOwner } from './outbound-flow.ts';
import { PeerSettings, settingsFrameSize, writeSettingsFrame } from './settings.ts';
import { StreamTable } from './stream-table.ts';

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
/** Read buffer: one per session, reused for every read. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** The payload of our keepalive PINGs; an ack carrying anything else is not ours. */
export const PING_PAYLOAD = Buffer.from('ringside');
/** Our SETTINGS: no push, our stream window, the default table, our header list limit. */
const CLIENT_SETTINGS = [Setting.ENABLE_PUSH, 0, Setting.INITIAL_WINDOW_SIZE, RECV_STREAM_WINDOW, Setting.HEADER_TABLE_SIZE, 4096, Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_SIZE];

export abstract class H2Connection implements TimedItem, OutboundOwner<H2Stream> {
  readonly owner: H2SessionOwner;
  readonly options: H2SessionOptions;
  readonly socket: net.Socket;
  readonly streams = new StreamTable<H2Stream>();
  /** Streams we may open at once: the peer's MAX_CONCURRENT_STREAMS (capped), or an assumption until it arrives. */
  maxStreams = ASSUMED_MAX_STREAMS;
  /** False once the session takes no new streams (GOAWAY, ids exhausted, closing, closed). */
  usable = true;
  closed = false;
  /**
   * For the timer wheel: the connect timeout while connecting; once
   * connected, the earliest of the SETTINGS-ack and PING-ack timeouts, the
   * idle timeout (no stream open) and the next keepalive check (see arm).
   */
  deadline = 0;
  protected isConnected = false;
  /** When our SETTINGS must have been acknowledged (0: acknowledged). */
  protected settingsAckDue = 0;
  /** When the ack of our outstanding PING is due (0: none outstanding). */
  protected pingDue = 0;
  /** When the last bytes arrived from the peer (timer-wheel clock). */
  protected lastRead = 0;
  /** When the session became idle (no stream open), for the idle timeout. */
  protected idleSince = 0;
  /** Graceful close asked: close once the last stream ends. */
  protected closing = false;

  /** The peer's settings, the frame output and the send-side flow control (the streams send their request bodies through them). */
  readonly peer = new PeerSettings();
  readonly writer: FrameWriter;
  readonly flow: OutboundFlow<H2Stream>;
  protected readBuf = Buffer.allocUnsafe(READ_BUFFER_SIZE);

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
        buffer: () => self.readBuf,
        callback: (n: number, buf: Uint8Array) => {
          self.onBytes(buf as Buffer, n);
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
    this.writer = new FrameWriter(this.socket);
    this.flow = new OutboundFlow(this.writer, this.peer, this);
    timerWheel.add(this);
    this.deadline = timerWheel.now + options.connectTimeoutMs;
    // The preface, our SETTINGS and the connection window go out with the first requests' HEADERS, in one write.
    const start = Buffer.allocUnsafe(CLIENT_PREFACE.length + settingsFrameSize(CLIENT_SETTINGS.length / 2) + FRAME_HEADER_SIZE + 4);
    let o = CLIENT_PREFACE.copy(start, 0);
    o = writeSettingsFrame(start, o, CLIENT_SETTINGS);
    writeFrameHeader(start, o, 4, FrameType.WINDOW_UPDATE, 0, 0);
    start.writeUInt32BE(RECV_CONNECTION_WINDOW - DEFAULT_WINDOW, o + FRAME_HEADER_SIZE);
    this.writer.enqueue(start);
  }

  /** Bytes read from the peer: `buf[0, n)`. */
  protected abstract onBytes(buf: Buffer, n: number): void;
  /** OutboundOwner: whether the request body may still go out. */
  abstract canSend(stream: H2Stream): boolean;
  /** OutboundOwner: the body bytes that waited for window went out. */
  abstract pendingSent(stream: H2Stream): void;

  /** True when a new stream may be opened here now. */
  get hasCapacity(): boolean {
    return this.usable && this.streams.size < this.maxStreams;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  // --- closing ---------------------------------------------------------------

  /** Take no new streams; close once the open ones finished. */
  close(): void {
    this.closing = true;
    this.usable = false;
    if (this.streams.size === 0) this.shutdown();
  }

  /** Close now: every open stream fails with `err`. */
  destroy(err: Error): void {
    this.fail(err, 0, false);
  }

  onDeadline(): void {
    if (this.closed) return;
    if (!this.isConnected) {
      this.fail(Object.assign(new Error(`connect timeout after ${this.options.connectTimeoutMs} ms to ${this.options.host}:${this.options.port}`), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 0, false);
      return;
    }
    const now = timerWheel.now;
    const timeout = this.options.pingTimeoutMs;
    if (this.settingsAckDue !== 0 && now >= this.settingsAckDue) {
      return this.connectionError(ErrorCode.SETTINGS_TIMEOUT, `no SETTINGS acknowledgement within ${timeout} ms`);
    }
    if (this.pingDue !== 0 && now >= this.pingDue) {
      // The peer (or the path to it) is gone without closing the socket: fail the streams now instead of letting them hang.
      const where = `${this.options.host}:${this.options.port}`;
      this.fail(new H2Error(H2ErrorCodes.CONNECTION_CLOSED, `upstream ${where} did not answer a PING within ${timeout} ms: connection taken for dead`), ErrorCode.NO_ERROR, true);
      return;
    }
    if (this.streams.size === 0) {
      if (now >= this.idleSince + this.options.idleTimeoutMs) return this.close();
    } else {
      const interval = this.options.keepaliveIntervalMs;
      if (interval > 0 && this.pingDue === 0 && now >= this.lastRead + interval) {
        this.writer.ping(0, PING_PAYLOAD, 0);
        this.pingDue = now + timeout;
      }
    }
    this.arm();
  }

  /** Set the wheel deadline to the next thing to check once connected (0: nothing). */
  protected arm(): void {
    let d = 0;
    if (this.settingsAckDue !== 0) d = this.settingsAckDue;
    if (this.pingDue !== 0 && (d === 0 || this.pingDue < d)) d = this.pingDue;
    let next = 0;
    if (this.streams.size === 0) next = this.idleSince + this.options.idleTimeoutMs;
    else if (this.pingDue === 0) {
      const interval = this.options.keepaliveIntervalMs;
      if (interval > 0) next = this.lastRead + interval;
    }
    if (next !== 0 && (d === 0 || next < d)) d = next;
    // A time already past fires on the next tick (0 would disarm it).
    this.deadline = d;
  }

  /** GOAWAY(NO_ERROR), flush, end the socket. */
  protected shutdown(): void {
    if (this.closed) return;
    this.usable = false;
    // We never accept server-initiated streams: the last one we processed is 0.
    this.writer.goAway(0, ErrorCode.NO_ERROR);
    this.writer.flushNow();
    this.finishClose();
    this.socket.end();
  }

  protected finishClose(err: Error | null = null): void {
    if (this.closed) return;
    this.closed = true;
    this.usable = false;
    this.deadline = 0;
    timerWheel.remove(this);
    this.owner.sessionClosed(this as unknown as H2Session, this.isConnected ? null : err);
  }

  /** Tear the session down (with GOAWAY(`code`) first when asked): every open stream fails with `err`. */
  protected fail(err: Error, code: number, sendGoAway: boolean): void {
    if (sendGoAway && !this.socket.destroyed) {
      this.writer.goAway(0, code);
      this.writer.flushNow();
    }
    this.writer.discard();
    this.finishClose(err);
    if (!this.socket.destroyed) {
      if (sendGoAway) this.socket.end();
      this.socket.destroy();
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) {
      if (stream.state !== S_OPEN) continue;
      stream.markDone();
      stream.detachBody();
      if (stream.body !== null && !stream.bodyEnded && !stream.body.destroyed) stream.body.destroy();
      // A lost connection under a response whose head went out cut its body short (issue 18).
      const cut = stream.headSeen && (err as { code?: unknown }).code === H2ErrorCodes.CONNECTION_CLOSED;
      stream.handler.onResponseError?.(stream, cut ? new H2Error(H2ErrorCodes.TRUNCATED, err.message, -1, false, err) : err);
    }
  }

  /** FrameHandler: a connection error (section 5.4.1): GOAWAY with `code`, close, fail every stream. */
  connectionError(code: number, message: string): void {
    if (this.closed) return;
    const err = new H2Error(H2ErrorCodes.PROTOCOL, `HTTP/2 protocol error from upstream ${this.options.host}:${this.options.port}: ${message} (${errorCodeName(code)})`, code);
    this.fail(err, code, true);
  }

  // --- socket events ---------------------------------------------------------

  onConnect(): void {
    this.isConnected = true;
    const now = timerWheel.now;
    this.lastRead = now;
    this.idleSince = now;
    // Our SETTINGS left with the preface (or leave with the next flush).
    this.settingsAckDue = now + this.options.pingTimeoutMs;
    this.arm();
  }

  onDrain(): void {
    this.writer.socketFull = false;
    this.flow.unblock(null);
  }

  onSocketGone(err: Error | null): void {
    if (this.closed && this.streams.size === 0) return;
    const where = `${this.options.host}:${this.options.port}`;
    const failure =
      err !== null && !this.isConnected
        ? err // a connect error keeps its code (ECONNREFUSED, ...): the request never left
        : new H2Error(H2ErrorCodes.CONNECTION_CLOSED, `upstream ${where} closed the HTTP/2 connection${err !== null ? `: ${err.message}` : ''}`, -1, false, err ?? undefined);
    this.fail(failure, 0, false);
  }

}

// Listeners shared by every session and body: they find their object through a field, so no closure is made per connection or request.
const kSession = Symbol('h2Session');
type SessionSocket = net.Socket & { [kSession]: H2Connection };

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

