// SETTINGS (RFC 9113 section 6.5), shared by our client and server sessions:
// what the peer announced, checked and applied in one place, and the frame
// that announces ours.

import { DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, ErrorCode, FRAME_HEADER_SIZE, FrameType, MAX_ALLOWED_FRAME_SIZE, MAX_WINDOW, Setting, writeFrameHeader } from './frames.ts';

/** The peer's settings as they apply to what we send; the initial values are the protocol's defaults (section 6.5.2). */
export class PeerSettings {
  initialWindow = DEFAULT_WINDOW;
  maxFrame = DEFAULT_MAX_FRAME_SIZE;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, or -1 while unlimited. */
  maxHeaderList = -1;
  /** SETTINGS_MAX_CONCURRENT_STREAMS, or -1 while unlimited. */
  maxConcurrentStreams = -1;
  /** What the last apply() changed the initial window by (section 6.9.2: every open stream's send window moves by it). */
  windowDelta = 0;
  /** The error code of the last apply() that failed. */
  errorCode = 0;

  /** Apply a SETTINGS payload (a multiple of 6 bytes). Returns null, or what is wrong (a connection error of `errorCode`). */
  apply(buf: Buffer, start: number, end: number): string | null {
    this.windowDelta = 0;
    for (let p = start; p < end; p += 6) {
      const id = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) return this.#error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH above 1');
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.maxConcurrentStreams = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) return this.#error(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          this.windowDelta += value - this.initialWindow;
          this.initialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) return this.#error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.maxFrame = value;
          break;
        case Setting.MAX_HEADER_LIST_SIZE:
          this.maxHeaderList = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. Unknown identifiers are ignored.
          break;
      }
    }
    return null;
  }

  #error(code: number, message: string): string {
    this.errorCode = code;
    return message;
  }
}

/** A SETTINGS frame announcing `pairs` ([id, value, ...]), written at buf[offset]; returns the offset after it. */
export function writeSettingsFrame(buf: Buffer, offset: number, pairs: readonly number[]): number {
  const n = pairs.length / 2;
  writeFrameHeader(buf, offset, 6 * n, FrameType.SETTINGS, 0, 0);
  let o = offset + FRAME_HEADER_SIZE;
  for (let i = 0; i < pairs.length; i += 2) {
    buf.writeUInt16BE(pairs[i], o);
    buf.writeUInt32BE(pairs[i + 1], o + 2);
    o += 6;
  }
  return o;
}

/** Bytes of a SETTINGS frame carrying `count` settings. */
export function settingsFrameSize(count: number): number {
  return FRAME_HEADER_SIZE + 6 * count;
}
