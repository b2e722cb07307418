// The HTTP/2 frame writer shared by our client and server sessions: frames are
// queued on the connection during an event-loop turn and leave in ONE socket
// write per connection per turn (flushAll, from setImmediate). A loopback
// write costs ~10-20 us of kernel time, more than everything else a session
// does for a stream, so batching is what makes HTTP/2 multiplexing pay.

import type net from 'node:net';
import { Flag, FRAME_HEADER_SIZE, FrameType, writeFrameHeader } from './frames.ts';
import { HpackEncoder } from './hpack.ts';

/** Several small frames queued in one turn are copied into one buffer up to this size; above it they go out with writev. */
const CONCAT_LIMIT = 64 * 1024;
/** DATA payloads below this are copied behind their frame header (one buffer); larger ones go out as they are. */
const DATA_COPY_LIMIT = 1024;

/** The HPACK encoder: stateless (static table and literals, never the dynamic table), so one serves every connection. */
export const encoder = new HpackEncoder();

export class FrameWriter {
  readonly socket: net.Socket;
  /** The last flush could not be written at once: wait for the socket's 'drain' before sending more DATA. */
  socketFull = false;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  /**
   * The last frame queued and not yet flushed when it is a DATA frame or a
   * single HEADERS frame without END_STREAM, so END_STREAM can still be set
   * on it (the flag is bit 0x1 in both) instead of sending an empty DATA frame.
   */
  #lastData: Buffer | null = null;
  #lastDataOwner: object | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /** Bytes queued for the next flush. */
  get queuedBytes(): number {
    return this.#outBytes;
  }

  enqueue(buf: Buffer): void {
    this.#out.push(buf);
    this.#outBytes += buf.length;
    this.#lastData = null;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      scheduleFlush(this);
    }
  }

  /** Drop what is queued (the connection is being torn down). */
  discard(): void {
    this.#out = [];
    this.#outBytes = 0;
    this.#lastData = null;
    this.#lastDataOwner = null;
  }

  /** The scheduled flush (flushAll). */
  flush(): void {
    this.#flushScheduled = false;
    this.flushNow();
  }

  flushNow(): void {
    const out = this.#out;
    const n = out.length;
    this.#lastData = null;
    this.#lastDataOwner = null;
    const socket = this.socket;
    if (n === 0 || socket.destroyed) return;
    this.#out = [];
    const bytes = this.#outBytes;
    this.#outBytes = 0;
    let ok: boolean;
    if (n === 1) ok = socket.write(out[0]);
    else if (bytes <= CONCAT_LIMIT) ok = socket.write(Buffer.concat(out, bytes));
    else {
      socket.cork();
      for (let i = 0; i < n - 1; i++) socket.write(out[i]);
      ok = socket.write(out[n - 1]);
      socket.uncork();
    }
    if (!ok) this.socketFull = true;
  }

  /**
   * Queue a DATA frame carrying `payload` (which the caller fitted to the
   * windows and the peer's MAX_FRAME_SIZE). `owner` marks it as the stream's
   * latest, so endStream can set END_STREAM on it instead of sending an empty frame.
   */
  data(streamId: number, payload: Buffer, owner: object, flags = 0): void {
    const n = payload.length;
    let header: Buffer;
    if (n < DATA_COPY_LIMIT) {
      header = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
      writeFrameHeader(header, 0, n, FrameType.DATA, flags, streamId);
      payload.copy(header, FRAME_HEADER_SIZE);
      this.enqueue(header);
    } else {
      header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      writeFrameHeader(header, 0, n, FrameType.DATA, flags, streamId);
      this.enqueue(header);
      this.enqueue(payload);
    }
    if ((flags & Flag.END_STREAM) === 0) {
      this.#lastData = header;
      this.#lastDataOwner = owner;
    }
  }

  /** End `owner`'s stream: END_STREAM on its DATA or HEADERS frame still in this turn's output, else an empty DATA frame with END_STREAM. */
  endStream(streamId: number, owner: object): void {
    if (this.#lastDataOwner === owner && this.#lastData !== null) {
      this.#lastData[4] |= Flag.END_STREAM;
      this.#lastData = null;
      this.#lastDataOwner = null;
      return;
    }
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    writeFrameHeader(frame, 0, 0, FrameType.DATA, Flag.END_STREAM, streamId);
    this.enqueue(frame);
  }

  /** `owner`'s stream is gone: its last DATA frame must not be touched any more. */
  forget(owner: object): void {
    if (this.#lastDataOwner === owner) {
      this.#lastData = null;
      this.#lastDataOwner = null;
    }
  }

  /**
   * HPACK-encode `fields` (a flat [name, value, ...] list, pseudo-header
   * fields first) and queue them as HEADERS, with CONTINUATION frames when the
   * block exceeds the peer's `maxFrame` (section 6.10). Returns the block's size.
   */
  headers(fields: readonly string[], streamId: number, endStream: boolean, maxFrame: number, owner: object | null = null): number {
    const max = HpackEncoder.maxEncodedLength(fields);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + max);
    const length = encoder.encode(fields, frame, FRAME_HEADER_SIZE) - FRAME_HEADER_SIZE;
    const end = endStream ? Flag.END_STREAM : 0;
    if (length <= maxFrame) {
      writeFrameHeader(frame, 0, length, FrameType.HEADERS, Flag.END_HEADERS | end, streamId);
      this.enqueue(length === max ? frame : frame.subarray(0, FRAME_HEADER_SIZE + length));
      if (!endStream && owner !== null) {
        this.#lastData = frame;
        this.#lastDataOwner = owner;
      }
      return length;
    }
    const block = frame.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + length);
    let offset = 0;
    let type: number = FrameType.HEADERS;
    while (offset < block.length) {
      const n = Math.min(maxFrame, block.length - offset);
      const last = offset + n === block.length;
      const part = Buffer.allocUnsafe(FRAME_HEADER_SIZE + n);
      writeFrameHeader(part, 0, n, type, (last ? Flag.END_HEADERS : 0) | (type === FrameType.HEADERS ? end : 0), streamId);
      block.copy(part, FRAME_HEADER_SIZE, offset, offset + n);
      this.enqueue(part);
      offset += n;
      type = FrameType.CONTINUATION;
    }
    return length;
  }

  windowUpdate(streamId: number, increment: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
    writeFrameHeader(frame, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
    frame.writeUInt32BE(increment, FRAME_HEADER_SIZE);
    this.enqueue(frame);
  }

  rstStream(streamId: number, code: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 4);
    writeFrameHeader(frame, 0, 4, FrameType.RST_STREAM, 0, streamId);
    frame.writeUInt32BE(code, FRAME_HEADER_SIZE);
    this.enqueue(frame);
  }

  /** Queue a PING (or its ack) carrying the 8 bytes of `payload` at `offset`. */
  ping(flags: number, payload: Buffer, offset: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(frame, 0, 8, FrameType.PING, flags, 0);
    payload.copy(frame, FRAME_HEADER_SIZE, offset, offset + 8);
    this.enqueue(frame);
  }

  goAway(lastStreamId: number, code: number): void {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(frame, 0, 8, FrameType.GOAWAY, 0, 0);
    frame.writeUInt32BE(lastStreamId, FRAME_HEADER_SIZE);
    frame.writeUInt32BE(code, FRAME_HEADER_SIZE + 4);
    this.enqueue(frame);
  }

  settingsAck(): void {
    const ack = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
    writeFrameHeader(ack, 0, 0, FrameType.SETTINGS, Flag.ACK, 0);
    this.enqueue(ack);
  }
}

/**
 * Writers with frames queued since the last flush. They are flushed once
 * per event-loop iteration, from setImmediate (the check phase, right after
 * the poll phase): the frames produced by every read callback of that poll
 * phase (many connections' requests and responses) leave in one write per
 * connection. process.nextTick would flush after each read callback instead.
 */
let dirty: FrameWriter[] = [];
let spare: FrameWriter[] = [];
let flushPending = false;

function scheduleFlush(writer: FrameWriter): void {
  dirty.push(writer);
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
