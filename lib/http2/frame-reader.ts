// The HTTP/2 frame reader shared by our client session (./h2-session.ts) and
// server session (./server-session.ts): bytes in, frames out (RFC 9113
// section 4). Frames are parsed in place in whatever buffer the read came in;
// only a frame split across reads is copied, and an unpadded DATA payload is
// streamed to its stream as it arrives (never assembled), so a large body
// costs no copy here. What is generic to both roles is checked here (frame
// sizes, stream 0 rules, CONTINUATION sequencing, payload lengths); what a
// frame means to a stream is the session's business (FrameHandler).

import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag, FRAME_HEADER_SIZE, FrameType } from './frames.ts';

/** Set in the flags handed to FrameHandler.headerBlock when the HEADERS priority names the stream itself (section 5.3.1). */
export const SELF_DEPENDENT = 0x100;

/** What a session does with the frames the reader finds. Every method is called synchronously from FrameReader.read. */
export interface FrameHandler {
  /** Reading stops (for the rest of this read and every later one) once this is true. */
  readonly closed: boolean;
  /**
   * A frame header that arrives before the peer's first SETTINGS (the
   * connection preface, section 3.4). False: stop (the handler dealt with it).
   */
  prefaceFrame(header: Buffer, offset: number, type: number): boolean;
  /** A DATA frame of `length` payload bytes (padding included) begins. False after a connection error. */
  beginData(streamId: number, length: number): boolean;
  /** Padding of the DATA frame under way: consumed at once for flow control (section 6.1). */
  dataPadding(n: number): void;
  /** Payload bytes buf[start, end) of the DATA frame under way (buf may be the read buffer: copy or lend it). */
  dataChunk(buf: Buffer, start: number, end: number): void;
  /** The DATA frame under way ended; `flags` are its flags (END_STREAM). */
  endData(flags: number): void;
  /** A complete header block (HEADERS + CONTINUATION, padding and priority removed); `flags` are the HEADERS frame's. */
  headerBlock(buf: Buffer, start: number, end: number, flags: number, streamId: number): void;
  rstStream(streamId: number, code: number): void;
  /** A SETTINGS frame's payload (a multiple of 6 bytes, stream 0). */
  settings(buf: Buffer, start: number, end: number): void;
  settingsAck(): void;
  /** A PING (8 bytes at buf[start]). */
  ping(buf: Buffer, start: number, ack: boolean): void;
  goAway(lastStreamId: number, code: number): void;
  windowUpdate(streamId: number, increment: number): void;
  /** A PRIORITY frame (deprecated, section 5.3.2): only its validity matters. */
  priority(streamId: number): void;
  pushPromise(streamId: number): void;
  connectionError(code: number, message: string): void;
  /** A stream error (section 5.4.2) found by the reader: reset `streamId` with `code`. */
  streamError(streamId: number, code: number, message: string): void;
}

const R_HEADER = 0;
const R_PAYLOAD = 1; // collecting a whole frame payload split across reads
const R_DATA = 2; // streaming an unpadded DATA payload to its stream

export class FrameReader {
  readonly handler: FrameHandler;
  /** Largest header block (HEADERS + CONTINUATION) accepted, in bytes of HPACK; more is ENHANCE_YOUR_CALM. */
  readonly maxHeaderBlock: number;
  /** False until the peer's first SETTINGS frame arrived (every frame header goes to prefaceFrame until then). */
  settingsSeen = false;
  /** Header block fragments while CONTINUATION frames are expected (0 = none expected). */
  contStreamId = 0;
  #readState = R_HEADER;
  readonly #hdr = Buffer.alloc(FRAME_HEADER_SIZE);
  #hdrHave = 0;
  #frameLength = 0;
  #frameType = 0;
  #frameFlags = 0;
  #frameStream = 0;
  #payload: Buffer | null = null;
  #payloadHave = 0;
  #dataLeft = 0;
  #contFlags = 0;
  #contBlock: Buffer | null = null;
  #contLength = 0;

  constructor(handler: FrameHandler, maxHeaderBlock: number) {
    this.handler = handler;
    this.maxHeaderBlock = maxHeaderBlock;
  }

  /** Parse buf[pos, end). */
  read(buf: Buffer, pos: number, end: number): void {
    const handler = this.handler;
    while (pos < end && !handler.closed) {
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
        if (!this.settingsSeen) {
          if (!handler.prefaceFrame(h, o, type)) return;
          // Section 3.4: the preface's first frame is SETTINGS (without ACK).
          if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'the connection preface must start with SETTINGS');
        }
        // We never announce a larger SETTINGS_MAX_FRAME_SIZE (section 4.2).
        if (length > DEFAULT_MAX_FRAME_SIZE) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds our SETTINGS_MAX_FRAME_SIZE`);
        if (this.contStreamId !== 0 && (type !== FrameType.CONTINUATION || streamId !== this.contStreamId)) {
          return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'expected a CONTINUATION frame');
        }
        this.#frameLength = length;
        this.#frameType = type;
        this.#frameFlags = flags;
        this.#frameStream = streamId;
        if (type === FrameType.DATA && (flags & Flag.PADDED) === 0) {
          if (!handler.beginData(streamId, length)) continue;
          this.#dataLeft = length;
          if (length === 0) {
            handler.endData(flags);
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
      // R_DATA: this read's part of the DATA payload goes to its stream.
      const take = Math.min(this.#dataLeft, end - pos);
      handler.dataChunk(buf, pos, pos + take);
      pos += take;
      this.#dataLeft -= take;
      if (this.#dataLeft === 0) {
        this.#readState = R_HEADER;
        handler.endData(this.#frameFlags);
      }
    }
  }

  /** One whole frame (other than unpadded DATA) at buf[start, end). */
  #frame(buf: Buffer, start: number, end: number): void {
    const handler = this.handler;
    const flags = this.#frameFlags;
    const streamId = this.#frameStream;
    const length = end - start;
    switch (this.#frameType) {
      case FrameType.DATA: {
        // Padded (section 6.1): the pad length counts against flow control like the rest.
        if (!handler.beginData(streamId, length)) return;
        const padLength = length > 0 ? buf[start] : 0;
        if (length === 0 || padLength >= length) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA padding exceeds the payload');
        handler.dataPadding(1 + padLength);
        const n = length - 1 - padLength;
        if (n > 0) handler.dataChunk(buf, start + 1, start + 1 + n);
        handler.endData(flags);
        return;
      }
      case FrameType.HEADERS:
        return this.#onHeaders(buf, start, end, flags, streamId);
      case FrameType.CONTINUATION:
        return this.#onContinuation(buf, start, end, flags, streamId);
      case FrameType.RST_STREAM:
        if (streamId === 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (length !== 4) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
        return handler.rstStream(streamId, buf.readUInt32BE(start));
      case FrameType.SETTINGS:
        if (streamId !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if ((flags & Flag.ACK) !== 0) {
          if (length !== 0) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
          return handler.settingsAck();
        }
        if (length % 6 !== 0) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload is not a multiple of 6 bytes');
        this.settingsSeen = true;
        return handler.settings(buf, start, end);
      case FrameType.PING:
        if (streamId !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (length !== 8) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        return handler.ping(buf, start, (flags & Flag.ACK) !== 0);
      case FrameType.GOAWAY:
        if (streamId !== 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (length < 8) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        return handler.goAway(buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4));
      case FrameType.WINDOW_UPDATE:
        if (length !== 4) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
        return handler.windowUpdate(streamId, buf.readUInt32BE(start) & 0x7fffffff);
      case FrameType.PRIORITY:
        if (streamId === 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (length !== 5) return handler.streamError(streamId, ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY payload is not 5 bytes');
        // Section 5.3.1: a stream cannot depend on itself.
        if ((buf.readUInt32BE(start) & 0x7fffffff) === streamId) return handler.streamError(streamId, ErrorCode.PROTOCOL_ERROR, 'PRIORITY on a stream that depends on itself');
        return handler.priority(streamId);
      case FrameType.PUSH_PROMISE:
        return handler.pushPromise(streamId);
      default:
        return; // unknown frame types are ignored (section 4.1)
    }
  }

  #onHeaders(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    const handler = this.handler;
    if (streamId === 0) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let p = start;
    if ((flags & Flag.PADDED) !== 0) {
      if (end - p < 1) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its padding');
      const pad = buf[p++];
      if (pad > end - p) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding exceeds the payload');
      end -= pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) {
      if (end - p < 5) return handler.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      if ((buf.readUInt32BE(p) & 0x7fffffff) === streamId) flags |= SELF_DEPENDENT;
      p += 5;
    }
    if ((flags & Flag.END_HEADERS) !== 0) return handler.headerBlock(buf, p, end, flags, streamId);
    this.contStreamId = streamId;
    this.#contFlags = flags;
    this.#contBlock = Buffer.allocUnsafe(Math.max(end - p, 1024));
    buf.copy(this.#contBlock, 0, p, end);
    this.#contLength = end - p;
  }

  #onContinuation(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    const handler = this.handler;
    if (this.contStreamId === 0 || streamId !== this.contStreamId) return handler.connectionError(ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION');
    const n = end - start;
    let block = this.#contBlock!;
    // CONTINUATION flood (CVE-2024-27316 and kin): the block is bounded whatever the frames carry.
    if (this.#contLength + n > this.maxHeaderBlock) return handler.connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    if (this.#contLength + n > block.length) {
      const bigger = Buffer.allocUnsafe(Math.max(block.length * 2, this.#contLength + n));
      block.copy(bigger, 0, 0, this.#contLength);
      block = this.#contBlock = bigger;
    }
    buf.copy(block, this.#contLength, start, end);
    this.#contLength += n;
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.contStreamId = 0;
    this.#contBlock = null;
    handler.headerBlock(block, 0, this.#contLength, this.#contFlags, streamId);
  }
}
