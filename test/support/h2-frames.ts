// A tiny HTTP/2 frame writer and reader for hostile-input tests: they need to
// send what no well-behaved client library would (floods, invalid headers,
// broken frames), so frames are built by hand from RFC 9113 section 4.1, and
// header blocks as HPACK literals without indexing (RFC 7541 section 6.2.2),
// which need no table state.

import net from 'node:net';

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** RFC 9113 section 7 error codes. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export function settings(pairs: Array<[number, number]> = [], ack = false): Buffer {
  const payload = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, ack ? Flags.ACK : 0, 0, payload);
}

export function ping(data = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flags.ACK : 0, 0, data);
}

export function rstStream(streamId: number, code: number = ErrorCode.CANCEL): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function data(streamId: number, body: Buffer | string, endStream = true): Buffer {
  return frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, Buffer.from(body));
}

/** HPACK integer with an N-bit prefix (RFC 7541 section 5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const bytes = [firstByteFlags | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A header block of literal fields without indexing, new names, no Huffman: any bytes go through, valid or not. */
export function headerBlock(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

export function headers(streamId: number, fields: Array<[string, string]>, endStream = true): Buffer {
  return frame(FrameType.HEADERS, Flags.END_HEADERS | (endStream ? Flags.END_STREAM : 0), streamId, headerBlock(fields));
}

/** The pseudo-headers of a plain GET. */
export function get(path = '/', authority = 'ringside.test'): Array<[string, string]> {
  return [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
  ];
}

export interface ReadFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Huffman codes of the ten digits (RFC 7541 appendix B), enough to read a :status. */
const DIGIT_CODES: Array<[number, number]> = [
  [0b00000, 5],
  [0b00001, 5],
  [0b00010, 5],
  [0b011001, 6],
  [0b011010, 6],
  [0b011011, 6],
  [0b011100, 6],
  [0b011101, 6],
  [0b011110, 6],
  [0b011111, 6],
];
/** :status values in the HPACK static table (RFC 7541 appendix A, indices 8..14). */
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/**
 * The :status of a response HEADERS frame, when it is the first field of the
 * block (servers put pseudo-headers first) and encoded without the dynamic
 * table, which holds for the first response on a connection. NaN otherwise.
 */
export function responseStatus(block: Buffer): number {
  const b = block[0];
  if (b & 0x80) return STATIC_STATUS[b & 0x7f] ?? NaN;
  // Literal with incremental indexing (01xxxxxx, 6-bit index) or without / never indexed (0000xxxx / 0001xxxx, 4-bit index), name = index 8 (:status).
  const nameIndex = (b & 0xc0) === 0x40 ? b & 0x3f : b & 0x0f;
  if (nameIndex < 8 || nameIndex > 14) return NaN;
  const huffman = (block[1] & 0x80) !== 0;
  const length = block[1] & 0x7f;
  const value = block.subarray(2, 2 + length);
  if (!huffman) return Number(value.toString('latin1'));
  let bits = 0;
  let nbits = 0;
  let out = '';
  for (const byte of value) {
    bits = (bits << 8) | byte;
    nbits += 8;
    for (;;) {
      let matched = false;
      for (let d = 0; d < 10; d++) {
        const [code, len] = DIGIT_CODES[d];
        if (nbits >= len && ((bits >> (nbits - len)) & ((1 << len) - 1)) === code) {
          out += d;
          nbits -= len;
          bits &= (1 << nbits) - 1;
          matched = true;
          break;
        }
      }
      if (!matched || out.length === 3) break;
    }
    if (out.length === 3) break;
  }
  return out.length === 3 ? Number(out) : NaN;
}

/** A raw HTTP/2 client connection: write bytes, collect the server's frames. */
export interface RawH2Connection {
  readonly socket: net.Socket;
  readonly frames: ReadFrame[];
  /** Bytes received that were not yet a whole frame when the connection closed. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  write(bytes: Buffer | Buffer[]): boolean;
  /** Resolve when a frame matching `pred` arrived (true) or after `ms` / on close (false). */
  waitFor(pred: (f: ReadFrame) => boolean, ms?: number): Promise<boolean>;
  /** GOAWAY's error code, if the server sent one. */
  goawayCode(): number | undefined;
  destroy(): void;
}

export function connectRawH2(port: number, options: { preface?: boolean } = {}): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const frames: ReadFrame[] = [];
    const waiters = new Set<() => void>();
    let buffer: Buffer = Buffer.alloc(0);
    let isClosed = false;
    socket.on('error', () => {});
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        isClosed = true;
        for (const w of waiters) w();
        r();
      }),
    );
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        const f = { type: buffer[3], flags: buffer[4], streamId: buffer.readUInt32BE(5) & 0x7fffffff, payload: buffer.subarray(9, 9 + length) };
        buffer = buffer.subarray(9 + length);
        // Answer the server's PINGs and SETTINGS like a real client would.
        if (f.type === FrameType.SETTINGS && !(f.flags & Flags.ACK) && socket.writable) socket.write(settings([], true));
        frames.push(f);
        for (const w of waiters) w();
      }
    });
    const conn: RawH2Connection = {
      socket,
      frames,
      closed,
      isClosed: () => isClosed,
      write: (bytes) => (socket.writable ? socket.write(Array.isArray(bytes) ? Buffer.concat(bytes) : bytes) : false),
      waitFor: (pred, ms = 3000) =>
        new Promise((done) => {
          if (frames.some(pred)) return done(true);
          if (isClosed) return done(false);
          const timer = setTimeout(() => {
            waiters.delete(check);
            done(false);
          }, ms);
          const check = (): void => {
            const found = frames.some(pred);
            if (!found && !isClosed) return;
            clearTimeout(timer);
            waiters.delete(check);
            done(found);
          };
          waiters.add(check);
        }),
      goawayCode: () => {
        const g = frames.find((f) => f.type === FrameType.GOAWAY);
        return g === undefined ? undefined : g.payload.readUInt32BE(4);
      },
      destroy: () => socket.destroy(),
    };
    socket.once('connect', () => {
      if (options.preface !== false) socket.write(Buffer.concat([PREFACE, settings()]));
      resolve(conn);
    });
    socket.once('error', reject);
  });
}
