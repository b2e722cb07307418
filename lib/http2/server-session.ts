// Our HTTP/2 server session: one cleartext HTTP/2 connection (h2c, prior
// knowledge, RFC 9113 section 3.3) from a client, framed by hand on the
// accepted socket, sharing the frame reader/writer, SETTINGS, flow control and
// HPACK with our client (./h2-session.ts). It replaces node:http2's server on
// --engine lean: node:http2 spent more CPU per stream than everything else
// the proxy does (issue 22), and it let through frames RFC 9113 says to refuse.
//
// A request is decoded straight from its header block into what the
// forwarding core needs (./request-fields.ts) and handed to the owner; the
// stream (./server-stream.ts) is a plain object the core writes the response
// through. Flow control:
// - request DATA: the stream window is credited only as the request body is
//   read (the core reads as the upstream accepts), so a slow upstream slows
//   the client; the connection window is credited as DATA arrives (the stream
//   windows bound the memory: SERVER_MAX_STREAMS x 64 KiB);
// - response DATA: through ./outbound-flow.ts; a write that cannot go out
//   returns false and the core pauses the upstream until the stream's
//   consumer is resumed.
// Defences, each counted through owner.defended for the metrics: see
// ./server-guards.ts, the frame reader's and HPACK decoder's limits, and below.

import type net from 'node:net';
import { SocketReader, type ReadTarget } from '../io/socket-reader.ts';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';
import { ConnectionReceiveWindow, grow } from './flow-control.ts';
import { FrameReader, SELF_DEPENDENT, type FrameHandler } from './frame-reader.ts';
import { FrameWriter } from './frame-writer.ts';
import { CLIENT_PREFACE, DEFAULT_WINDOW, ErrorCode, Flag, FRAME_HEADER_SIZE, FrameType, MAX_WINDOW, Setting, writeFrameHeader } from './frames.ts';
import { HpackDecoder, HpackError } from './hpack.ts';
import { OutboundFlow, type OutboundOwner } from './outbound-flow.ts';
import { decodeRequest, decodeTrailers } from './request-fields.ts';
import { ServerRequestBody } from './server-request-body.ts';
import { type ServerStream as Stream, ServerStream, SS_CLOSED, SS_HALF_CLOSED_REMOTE, SS_OPEN } from './server-stream.ts';
import { PeerSettings, settingsFrameSize, writeSettingsFrame } from './settings.ts';
import { Defence, type DefenceReason, DefenceFrame } from './defences.ts';
import { C_CLIENT_RESET, C_ENDED, C_WE_RESET, ServerGuards } from './server-guards.ts';
import type { ServerSessionOptions, ServerSessionOwner } from './server-session-options.ts';
import { CONNECTION_WINDOW, DEFENSIVE_LINGER_MS, MAX_HEADER_PAIRS, MAX_PENDING_ACKS, MAX_SOCKET_BACKLOG, SERVER_MAX_HEADER_LIST, SERVER_MAX_STREAMS, SETTINGS_TIMEOUT_MS, STREAM_WINDOW } from './server-limits.ts';
import { StreamTable } from './stream-table.ts';

export { SERVER_MAX_HEADER_LIST, SERVER_MAX_STREAMS } from './server-limits.ts';

const SERVER_SETTINGS = [Setting.MAX_CONCURRENT_STREAMS, SERVER_MAX_STREAMS, Setting.MAX_HEADER_LIST_SIZE, SERVER_MAX_HEADER_LIST];

export type { ServerSessionOptions, ServerSessionOwner } from './server-session-options.ts';

export class ServerSession implements FrameHandler, OutboundOwner<ServerStream>, ReadTarget, TimedItem {
  readonly socket: net.Socket;
  readonly owner: ServerSessionOwner;
  readonly options: ServerSessionOptions;
  readonly streams = new StreamTable<ServerStream>();
  /** The client's address, read once (for source-IP hashing). */
  readonly remoteAddress: string;
  closed = false;
  deadline = 0;
  readonly peer = new PeerSettings();
  readonly writer: FrameWriter;
  readonly #flow: OutboundFlow<ServerStream>;
  readonly #recv = new ConnectionReceiveWindow(CONNECTION_WINDOW);
  readonly #reader = new FrameReader(this, SERVER_MAX_HEADER_LIST * 2);
  readonly #socketReader: SocketReader;
  readonly #decoder = new HpackDecoder(4096, SERVER_MAX_HEADER_LIST);
  readonly #fields: string[] = [];
  /** The highest stream id the client opened (every lower idle id is closed, section 5.1.1). */
  #lastStreamId = 0;
  /** GOAWAY sent: no new streams; close once the open ones end. */
  #goingAway = false;
  #dataStream: ServerStream | null = null;
  #settingsAckDue = 0;
  #idleSince = 0;
  #pendingAcks = 0;
  readonly #guards = new ServerGuards();
  /** The DATA frame being read was empty. */
  #dataEmpty = false;
  #readsPaused = false;

  /** `head`: the bytes the listener read to recognise the connection preface (the preface and maybe more). */
  constructor(socket: net.Socket, head: Buffer, owner: ServerSessionOwner, options: ServerSessionOptions) {
    this.socket = socket;
    this.owner = owner;
    this.options = options;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.writer = new FrameWriter(socket);
    this.#flow = new OutboundFlow(this.writer, this.peer, this);
    (socket as SessionSocket)[kSession] = this;
    this.#socketReader = new SocketReader(socket, this);
    if (!this.#socketReader.direct) socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    // The server preface (section 3.4): our SETTINGS, then the connection window.
    const start = Buffer.allocUnsafe(settingsFrameSize(SERVER_SETTINGS.length / 2) + FRAME_HEADER_SIZE + 4);
    const o = writeSettingsFrame(start, 0, SERVER_SETTINGS);
    writeFrameHeader(start, o, 4, FrameType.WINDOW_UPDATE, 0, 0);
    start.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, o + FRAME_HEADER_SIZE);
    this.writer.enqueue(start);
    const now = timerWheel.now;
    this.#settingsAckDue = now + SETTINGS_TIMEOUT_MS;
    this.#idleSince = now;
    timerWheel.add(this);
    this.#arm();
    if (head.length > CLIENT_PREFACE.length) this.onData(head.subarray(CLIENT_PREFACE.length));
  }

  // --- input -------------------------------------------------------------------

  onData(chunk: Buffer): void {
    this.onRead(chunk, chunk.length);
  }

  onRead(buf: Buffer, n: number): void {
    if (this.closed) return;
    try {
      this.#reader.read(buf, 0, n);
    } catch (err) {
      if (err instanceof HpackError) this.#defend(ErrorCode.COMPRESSION_ERROR, Defence.COMPRESSION, err.message);
      else this.#goAwayAndClose(ErrorCode.INTERNAL_ERROR);
    }
    // The client sends faster than it reads our answers (acks, responses): stop reading it until the socket drains.
    if (!this.closed && this.socket.writableLength > MAX_SOCKET_BACKLOG && !this.#readsPaused) {
      this.#readsPaused = true;
      this.#socketReader.pause();
    }
  }

  prefaceFrame(): boolean {
    return true; // the reader checks that it is SETTINGS
  }

  beginData(streamId: number, length: number): boolean {
    this.#dataStream = null;
    if (streamId === 0) {
      this.connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
      return false;
    }
    const credit = this.#recv.consume(length);
    if (credit < 0) {
      this.#defend(ErrorCode.FLOW_CONTROL_ERROR, Defence.FLOW_CONTROL, 'DATA beyond the connection window');
      return false;
    }
    if (credit > 0) this.writer.windowUpdate(0, credit);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return this.#frameOnUnknownStream(streamId, 'DATA');
    if (stream.state !== SS_OPEN) {
      // Half-closed (remote): the request already ended (section 5.1).
      this.#resetByUs(stream, ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED);
      return true;
    }
    if (length > stream.recvWindow) {
      this.#resetByUs(stream, ErrorCode.FLOW_CONTROL_ERROR, Defence.FLOW_CONTROL);
      return true;
    }
    this.#dataEmpty = length === 0;
    stream.recvWindow -= length;
    this.#dataStream = stream;
    return true;
  }

  dataPadding(n: number): void {
    const stream = this.#dataStream;
    if (stream !== null) this.#consumed(stream, n);
  }

  dataChunk(buf: Buffer, start: number, end: number): void {
    const stream = this.#dataStream;
    if (stream === null || stream.state !== SS_OPEN) return;
    const n = end - start;
    stream.received += n;
    if (stream.contentLength >= 0 && stream.received > stream.contentLength) {
      this.#resetByUs(stream, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
      this.#dataStream = null;
      return;
    }
    // The read buffer is shared by every connection (../io/socket-reader.ts): the body keeps a copy.
    const chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, start, end);
    const body = stream.body!;
    if (!body.push(chunk)) stream.bodyPaused = true;
    this.#consumed(stream, n);
  }

  /** `n` bytes of the stream's window were used: credit them now unless the body's reader is full. */
  #consumed(stream: ServerStream, n: number): void {
    stream.unacked += n;
    if (!stream.bodyPaused && stream.unacked >= STREAM_WINDOW / 2) this.#creditStream(stream);
  }

  #creditStream(stream: ServerStream): void {
    const n = stream.unacked;
    stream.unacked = 0;
    stream.recvWindow += n;
    this.writer.windowUpdate(stream.id, n);
  }

  /** The request body's reader wants more: credit what it consumed meanwhile. */
  bodyWanted(stream: ServerStream): void {
    stream.bodyPaused = false;
    if (stream.state === SS_OPEN && stream.unacked > 0) this.#creditStream(stream);
  }

  endData(flags: number): void {
    const stream = this.#dataStream;
    this.#dataStream = null;
    if (stream === null || stream.state !== SS_OPEN) return;
    if ((flags & Flag.END_STREAM) !== 0) this.#requestEnded(stream);
    // An empty DATA frame that does not even end the stream carries nothing: many are a flood (CVE-2019-9518).
    else if (this.#dataEmpty && this.#guards.count(false)) this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.EMPTY_FRAMES, 'empty DATA flood');
  }

  /** END_STREAM from the client: the request is complete (content-length must match, section 8.1.1). */
  #requestEnded(stream: ServerStream): void {
    if (stream.contentLength >= 0 && stream.received !== stream.contentLength) {
      this.#resetByUs(stream, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
      return;
    }
    stream.state = SS_HALF_CLOSED_REMOTE;
    stream.body?.end();
  }

  headerBlock(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    const fields = this.#fields; // decode() replaces its contents
    let tooLarge = false;
    try {
      this.#decoder.decode(buf, start, end, fields);
    } catch (err) {
      // A malformed block is a connection error (section 4.3), thrown on to onRead; a list
      // over our SETTINGS_MAX_HEADER_LIST_SIZE was decoded to the end: only its stream fails.
      if (!(err instanceof HpackError) || !err.streamOnly) throw err;
      tooLarge = true;
    }
    if (fields.length > 2 * MAX_HEADER_PAIRS) tooLarge = true;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const stream = this.streams.get(streamId);
    if (stream !== undefined) return this.#trailers(stream, fields, endStream, tooLarge);
    if ((streamId & 1) === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on server stream ${streamId}`);
    if (streamId <= this.#lastStreamId) {
      const how = this.#guards.howClosed(streamId);
      if (how === C_WE_RESET) return;
      if (how === C_CLIENT_RESET) return this.#rstUnknown(streamId, ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED);
      if (how === C_ENDED) return this.#defend(ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
      return this.connectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS opening stream ${streamId} below ${this.#lastStreamId}`);
    }
    this.#lastStreamId = streamId;
    if (this.#goingAway) return this.#rstUnknown(streamId, ErrorCode.REFUSED_STREAM, null);
    if (this.streams.size >= SERVER_MAX_STREAMS) return this.#rstUnknown(streamId, ErrorCode.REFUSED_STREAM, Defence.TOO_MANY_STREAMS);
    // Over our SETTINGS_MAX_HEADER_LIST_SIZE: RST_STREAM (section 10.5.1 allows a 431 too; a reset costs us no response).
    if (tooLarge) return this.#rstUnknown(streamId, ErrorCode.ENHANCE_YOUR_CALM, Defence.HEADERS_TOO_LARGE);
    // Section 5.3.1: a stream cannot depend on itself.
    if ((flags & SELF_DEPENDENT) !== 0) return this.#rstUnknown(streamId, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
    const created = new ServerStream(this, streamId, STREAM_WINDOW, this.peer.initialWindow);
    if (!decodeRequest(fields, created)) return this.#rstUnknown(streamId, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
    if (endStream) {
      if (created.contentLength > 0) return this.#rstUnknown(streamId, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
      created.state = SS_HALF_CLOSED_REMOTE;
    } else created.body = new ServerRequestBody(created, this.options.retryBufferBytes);
    if (this.streams.size === 0) this.#arm();
    this.streams.set(streamId, created);
    this.owner.onRequest(created);
  }

  /** A second HEADERS on an open stream: the request's trailers (section 8.1). */
  #trailers(stream: ServerStream, fields: string[], endStream: boolean, tooLarge: boolean): void {
    if (stream.state !== SS_OPEN) return this.#resetByUs(stream, ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED);
    if (!endStream || tooLarge) return this.#resetByUs(stream, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
    const trailers = decodeTrailers(fields);
    if (trailers === false) return this.#resetByUs(stream, ErrorCode.PROTOCOL_ERROR, Defence.MALFORMED);
    if (stream.body !== null) stream.body.trailers = trailers;
    this.#requestEnded(stream);
  }

  /** A frame other than HEADERS on a stream we do not hold. False when it was a connection error. */
  #frameOnUnknownStream(streamId: number, what: string): boolean {
    if (streamId > this.#lastStreamId) {
      // Idle (section 5.1): only HEADERS and PRIORITY may open or touch it.
      this.connectionError(ErrorCode.PROTOCOL_ERROR, `${what} on idle stream ${streamId}`);
      return false;
    }
    const how = this.#guards.howClosed(streamId);
    if (how === C_CLIENT_RESET) this.#rstUnknown(streamId, ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED);
    else if (how === C_ENDED) {
      this.#defend(ErrorCode.STREAM_CLOSED, Defence.STREAM_CLOSED, `${what} on closed stream ${streamId}`);
      return false;
    }
    return true; // we reset it (frames in flight), or closed long ago: ignored
  }

  rstStream(streamId: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.#lastStreamId) this.connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return;
    }
    // Rapid reset (CVE-2023-44487): every stream opened and reset costs us an upstream stream; a token bucket bounds the rate.
    if (!this.#guards.reset()) return this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.RAPID_RESET, 'too many stream resets');
    this.#close(stream, C_CLIENT_RESET);
    stream.body?.abort();
    stream.consumer?.clientGone();
  }

  settings(buf: Buffer, start: number, end: number): void {
    const peer = this.peer;
    const problem = peer.apply(buf, start, end);
    if (problem !== null) return this.connectionError(peer.errorCode, problem);
    this.#ack();
    if (this.closed) return;
    this.writer.settingsAck();
    const delta = peer.windowDelta;
    if (delta !== 0) {
      // Section 6.9.2: the change applies to every open stream's window.
      for (const stream of this.streams.values()) {
        stream.sendWindow += delta;
        if (stream.sendWindow > MAX_WINDOW) return this.#defend(ErrorCode.FLOW_CONTROL_ERROR, Defence.FLOW_CONTROL, 'a stream window above 2^31-1 after SETTINGS');
      }
      if (delta > 0) this.#flow.unblock(null);
    }
  }

  settingsAck(): void {
    if (this.#settingsAckDue !== 0) {
      this.#settingsAckDue = 0;
      this.#arm();
    }
  }

  ping(buf: Buffer, start: number, ack: boolean): void {
    if (ack) return; // we send no PING of our own: an ack is ignored (section 6.7)
    this.#ack();
    if (!this.closed) this.writer.ping(Flag.ACK, buf, start);
  }

  /** Another ack queued: a client that floods SETTINGS or PINGs is cut off (CVE-2019-9512, CVE-2019-9515). */
  #ack(): void {
    if (this.#guards.count(true)) return this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.CONTROL_FLOOD, 'SETTINGS or PING flood');
    if (!this.writer.socketFull && this.socket.writableLength === 0) {
      this.#pendingAcks = 0;
      return;
    }
    if (++this.#pendingAcks > MAX_PENDING_ACKS) this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.CONTROL_FLOOD, 'SETTINGS or PING flood');
  }

  goAway(): void {
    // The client will open no more streams; the open ones finish.
    this.#goingAway = true;
    if (this.streams.size === 0) this.#finish();
  }

  windowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      if (increment === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      const window = grow(this.#flow.window, increment);
      if (window < 0) return this.#defend(ErrorCode.FLOW_CONTROL_ERROR, Defence.FLOW_CONTROL, 'connection window above 2^31-1');
      this.#flow.window = window;
      this.#flow.unblock(null);
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.#lastStreamId) this.connectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      else if (this.#guards.count(false)) this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.EMPTY_FRAMES, 'WINDOW_UPDATE flood on closed streams');
      return; // closed streams may still get updates
    }
    if (increment === 0) return this.#resetByUs(stream, ErrorCode.PROTOCOL_ERROR, Defence.PROTOCOL);
    // Section 6.9.1: past 2^31-1 is a stream error on that stream, not the connection's.
    const window = grow(stream.sendWindow, increment);
    if (window < 0) return this.#resetByUs(stream, ErrorCode.FLOW_CONTROL_ERROR, Defence.FLOW_CONTROL);
    stream.sendWindow = window;
    if (stream.blocked) this.#flow.unblock(stream);
  }

  priority(): void {} // deprecated (section 5.3.2): checked by the reader, else ignored

  pushPromise(): void {
    this.connectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
  }

  connectionError(code: number, message: string): void {
    this.#defend(code, Defence.PROTOCOL, message);
  }

  streamError(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.#resetByUs(stream, code, Defence.PROTOCOL);
    else this.#rstUnknown(streamId, code, Defence.PROTOCOL);
  }

  // --- the response, from the stream ---------------------------------------------

  sendHead(stream: ServerStream, fields: readonly string[], endStream: boolean): void {
    this.writer.headers(fields, stream.id, endStream, this.peer.maxFrame, stream);
    if (endStream) this.#localEnded(stream);
  }

  sendData(stream: ServerStream, chunk: Buffer): boolean {
    return this.#flow.send(stream, chunk);
  }

  endResponse(stream: ServerStream, trailers: readonly string[] | null): void {
    if (trailers !== null && trailers.length > 0) this.writer.headers(trailers, stream.id, true, this.peer.maxFrame);
    else this.writer.endStream(stream.id, stream);
    this.#localEnded(stream);
  }

  resetStream(stream: ServerStream, code: number): void {
    this.writer.rstStream(stream.id, code);
    this.#close(stream, C_WE_RESET);
    stream.body?.abort();
  }

  canSend(stream: ServerStream): boolean {
    return stream.state !== SS_CLOSED;
  }

  pendingSent(stream: ServerStream): void {
    if (stream.endPending) {
      stream.endPending = false;
      this.endResponse(stream, stream.trailersPending);
      return;
    }
    if (stream.wantsResume) {
      stream.wantsResume = false;
      stream.consumer?.resume();
    }
  }

  /** Our END_STREAM went out. A request still arriving is stopped without error (RFC 9113 section 8.1). */
  #localEnded(stream: ServerStream): void {
    if (stream.state === SS_HALF_CLOSED_REMOTE) {
      this.#close(stream, C_ENDED);
      return;
    }
    this.writer.rstStream(stream.id, ErrorCode.NO_ERROR);
    this.#close(stream, C_WE_RESET);
    stream.body?.abort();
  }

  /** We reset an open stream because of what the client sent: its exchange is cancelled. */
  #resetByUs(stream: Stream, code: number, reason: DefenceReason): void {
    this.writer.rstStream(stream.id, code);
    this.owner.defended(DefenceFrame.RST_STREAM, reason);
    if (this.#guards.ourReset()) this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.RESET_FLOOD, 'reset flood');
    this.#close(stream, C_WE_RESET);
    stream.body?.abort();
    stream.consumer?.clientGone();
  }

  #rstUnknown(streamId: number, code: number, reason: DefenceReason | null): void {
    this.writer.rstStream(streamId, code);
    if (reason !== null) this.owner.defended(DefenceFrame.RST_STREAM, reason);
    if (this.#guards.ourReset()) this.#defend(ErrorCode.ENHANCE_YOUR_CALM, Defence.RESET_FLOOD, 'reset flood');
    this.#guards.closed(streamId, C_WE_RESET);
  }

  #close(stream: ServerStream, how: number): void {
    stream.state = SS_CLOSED;
    this.streams.delete(stream.id);
    this.#flow.drop(stream);
    if (this.#dataStream === stream) this.#dataStream = null;
    this.#guards.closed(stream.id, how);
    if (this.streams.size === 0) {
      if (this.#goingAway) return this.#finish();
      this.#idleSince = timerWheel.now;
      this.#arm();
    }
  }

  // --- closing -----------------------------------------------------------------

  /** Graceful close (drain): GOAWAY(NO_ERROR) naming the last stream we took; close once the open streams end. */
  close(): void {
    if (this.closed || this.#goingAway) return;
    this.#goingAway = true;
    this.writer.goAway(this.#lastStreamId, ErrorCode.NO_ERROR);
    if (this.streams.size === 0) this.#finish();
  }

  /** A defensive connection error: GOAWAY with `code`, counted by `reason`, then close. */
  #defend(code: number, reason: DefenceReason, _message: string): void {
    if (this.closed) return;
    this.owner.defended(DefenceFrame.GOAWAY, reason);
    this.#goAwayAndClose(code);
  }

  #goAwayAndClose(code: number): void {
    if (this.closed) return;
    const neverRead = this.#settingsAckDue !== 0;
    // What this turn queued (acks of a flood, say) is dropped: the GOAWAY goes out first.
    this.writer.discard();
    this.writer.goAway(this.#lastStreamId, code);
    this.#finish();
    // A client that reads has our GOAWAY and FIN within a round trip and closes. One that does not read (a
    // flood from a paused socket) never will, and notices a TCP reset only while it still writes: we stop
    // reading it (its writes back up, so it is waiting to write) and reset it a little later, after a reader
    // had the time to take the GOAWAY - sooner when it never even acknowledged our SETTINGS.
    this.#socketReader.pause();
    setTimeout(resetSocket, neverRead ? DEFENSIVE_LINGER_MS / 10 : DEFENSIVE_LINGER_MS, this.socket).unref();
  }

  /** Flush, end the socket, and cancel what is still open. */
  #finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.deadline = 0;
    timerWheel.remove(this);
    this.writer.flushNow();
    this.socket.end();
    // A client that never closes its side must not hold the socket.
    setTimeout(destroySocket, 2000, this.socket).unref();
    this.#cancelAll();
    this.owner.sessionClosed(this);
  }

  #cancelAll(): void {
    if (this.streams.size === 0) return;
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const stream of streams) {
      stream.state = SS_CLOSED;
      this.#flow.drop(stream);
      stream.body?.abort();
      stream.consumer?.clientGone();
    }
  }

  onSocketGone(): void {
    if (!this.closed) {
      this.closed = true;
      this.deadline = 0;
      timerWheel.remove(this);
      this.writer.discard();
      this.#cancelAll();
      this.owner.sessionClosed(this);
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }

  onDrain(): void {
    this.writer.socketFull = false;
    this.#pendingAcks = 0;
    if (this.#readsPaused) {
      this.#readsPaused = false;
      this.#socketReader.resume();
    }
    this.#flow.unblock(null);
  }

  onDeadline(): void {
    if (this.closed) return;
    const now = timerWheel.now;
    if (this.#settingsAckDue !== 0 && now >= this.#settingsAckDue) return this.#defend(ErrorCode.SETTINGS_TIMEOUT, Defence.SETTINGS_TIMEOUT, 'no SETTINGS acknowledgement');
    if (this.streams.size === 0 && this.options.idleTimeoutMs > 0 && now >= this.#idleSince + this.options.idleTimeoutMs) {
      this.close();
      return;
    }
    this.#arm();
  }

  #arm(): void {
    let d = this.#settingsAckDue;
    if (this.streams.size === 0 && this.options.idleTimeoutMs > 0) {
      const idle = this.#idleSince + this.options.idleTimeoutMs;
      if (d === 0 || idle < d) d = idle;
    }
    this.deadline = d;
  }
}

// Socket listeners shared by every session: they find it through a field, so no closure is made per connection.
const kSession = Symbol('h2ServerSession');
type SessionSocket = net.Socket & { [kSession]: ServerSession };

function onSocketData(this: SessionSocket, chunk: Buffer): void {
  this[kSession].onData(chunk);
}
function onSocketDrain(this: SessionSocket): void {
  this[kSession].onDrain();
}
function onSocketEnd(this: SessionSocket): void {
  this[kSession].onSocketGone();
}
function onSocketClose(this: SessionSocket): void {
  this[kSession].onSocketGone();
}
/** TCP RST (not FIN): a client that is not reading still notices at its next write, or at once if it waits to write. */
function resetSocket(socket: net.Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}
function destroySocket(socket: net.Socket): void {
  if (!socket.destroyed) socket.destroy();
}
