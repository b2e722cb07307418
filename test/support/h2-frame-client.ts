// A raw HTTP/2 client for frame-level conformance and protection tests of
// ringside's HTTP/2 server: it sends the preface and any frames, valid or
// not, reads the server's frames back, and answers with bounded waits
// (expectGoaway, expectRst, expectClosed, expectAlive). Frames are written by
// ./h2-frames.ts, also test-only, so these tests never depend on the code
// they test (lib/http2/).
//
// Its SETTINGS carry SETTINGS_HEADER_TABLE_SIZE = 0 (RFC 7541 section 4.2),
// so the server may not index response fields in the dynamic table and every
// response's :status can be read without HPACK state (statusOf).

import net from 'node:net';
import * as F from './h2-frames.ts';

export { F };

const FRAME_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
const CODE_NAMES = Object.fromEntries(Object.entries(F.ErrorCode).map(([k, v]) => [v, k])) as Record<number, string>;

export const codeName = (code: number): string => CODE_NAMES[code] ?? `0x${code.toString(16)}`;

/** One line per frame, for failure messages: `GOAWAY s0 [PROTOCOL_ERROR last=1]`. */
export function describeFrame(f: F.ReadFrame): string {
  const name = FRAME_NAMES[f.type] ?? `type${f.type}`;
  let extra = '';
  if (f.type === F.FrameType.GOAWAY && f.payload.length >= 8) extra = ` [${codeName(f.payload.readUInt32BE(4))} last=${f.payload.readUInt32BE(0) & 0x7fffffff}]`;
  if (f.type === F.FrameType.RST_STREAM && f.payload.length >= 4) extra = ` [${codeName(f.payload.readUInt32BE(0))}]`;
  if (f.type === F.FrameType.HEADERS) extra = ` [:status ${statusOf(f.payload)}]`;
  return `${name} s${f.streamId} f0x${f.flags.toString(16)} len${f.payload.length}${extra}`;
}

/**
 * :status of a response header block sent while SETTINGS_HEADER_TABLE_SIZE
 * is 0: the server may open the block with dynamic table size updates
 * (001xxxxx, RFC 7541 section 6.3), skipped here, and the rest never refers
 * to the dynamic table. NaN when it cannot be read.
 */
export function statusOf(block: Buffer): number {
  let i = 0;
  while (i < block.length && (block[i] & 0xe0) === 0x20) {
    // A size update's integer may continue in following bytes (5-bit prefix all ones).
    if ((block[i] & 0x1f) === 0x1f) {
      i++;
      while (i < block.length && block[i] & 0x80) i++;
    }
    i++;
  }
  return i < block.length ? F.responseStatus(block.subarray(i)) : NaN;
}

export interface ConnectOptions {
  /** Send the connection preface and our SETTINGS at once (default true); or these bytes instead. */
  preface?: boolean | Buffer;
  /** Extra SETTINGS parameters, after SETTINGS_HEADER_TABLE_SIZE = 0. */
  settings?: Array<[number, number]>;
  /** Acknowledge the server's SETTINGS (default true; RFC 9113 section 6.5.3). */
  ackSettings?: boolean;
  /** Keep at most this many received frames in `frames` (floods), and every GOAWAY; `received` counts them all. */
  keepFrames?: number;
}

export interface ReceivedResponse {
  status: number;
  body: Buffer;
  ended: boolean;
}

/** Default bound of every wait, in ms. */
export const WAIT_MS = 2_000;

export class H2FrameClient {
  readonly socket: net.Socket;
  /** Frames received (the first `keepFrames`). */
  readonly frames: F.ReadFrame[] = [];
  /** Frames received, all of them. */
  received = 0;
  /** Bytes received. */
  bytesReceived = 0;
  /** Resolves when the socket closed, either way. */
  readonly closed: Promise<void>;
  #isClosed = false;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #waiters = new Set<() => void>();
  readonly #keepFrames: number;
  readonly #ackSettings: boolean;
  #pingSeq = 0;

  private constructor(socket: net.Socket, options: ConnectOptions) {
    this.socket = socket;
    this.#keepFrames = options.keepFrames ?? 100_000;
    this.#ackSettings = options.ackSettings ?? true;
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** Connect to 127.0.0.1:port; send the preface and SETTINGS unless told otherwise. */
  static connect(port: number, options: ConnectOptions = {}): Promise<H2FrameClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${port}: timeout`));
      }, WAIT_MS);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        const client = new H2FrameClient(socket, options);
        const preface = options.preface ?? true;
        if (preface === true) client.send(F.PREFACE, F.settings([[0x1, 0], ...(options.settings ?? [])]));
        else if (Buffer.isBuffer(preface)) client.send(preface);
        resolve(client);
      });
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let woke = false;
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      const b = this.#buffer;
      const f: F.ReadFrame = { type: b[3], flags: b[4], streamId: b.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(b.subarray(9, 9 + length)) };
      this.#buffer = b.subarray(9 + length);
      this.received++;
      if (this.#ackSettings && f.type === F.FrameType.SETTINGS && !(f.flags & F.Flags.ACK)) this.send(F.settings([], true));
      // GOAWAY is kept whatever the count: it is what a flood test waits for, after thousands of ACKs.
      if (this.frames.length < this.#keepFrames || f.type === F.FrameType.GOAWAY) this.frames.push(f);
      woke = true;
    }
    if (woke) this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Write frames (or any bytes); false if the socket is gone or its buffer is full. */
  send(...chunks: Buffer[]): boolean {
    if (!this.socket.writable) return false;
    return this.socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  }

  /** Stop reading: the kernel buffers fill and the server's writes back up (a peer that does not read its ACKs). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** The first frame since index `from` matching `pred`, within `ms`; undefined on timeout or close. */
  waitFrame(pred: (f: F.ReadFrame) => boolean, ms = WAIT_MS, from = 0): Promise<F.ReadFrame | undefined> {
    const find = (): F.ReadFrame | undefined => {
      for (let i = from; i < this.frames.length; i++) if (pred(this.frames[i])) return this.frames[i];
      return undefined;
    };
    return new Promise((resolve) => {
      const found = find();
      if (found !== undefined || this.#isClosed) return resolve(found);
      const check = (): void => {
        const f = find();
        if (f === undefined && !this.#isClosed) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(f);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(find());
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** The server's frames so far, one per line, for assertion messages. */
  log(): string {
    const lines = this.frames.slice(0, 40).map(describeFrame);
    if (this.frames.length > 40) lines.push(`... ${this.received - 40} more`);
    return `${lines.join('\n')}${this.#isClosed ? '\n<closed>' : ''}`;
  }

  #fail(expected: string): never {
    throw new Error(`expected ${expected}; received:\n${this.log() || '(nothing)'}`);
  }

  goaway(): { code: number; lastStreamId: number } | undefined {
    const g = this.frames.find((f) => f.type === F.FrameType.GOAWAY);
    return g === undefined ? undefined : { code: g.payload.readUInt32BE(4), lastStreamId: g.payload.readUInt32BE(0) & 0x7fffffff };
  }

  rstCodes(streamId: number): number[] {
    return this.frames.filter((f) => f.type === F.FrameType.RST_STREAM && f.streamId === streamId).map((f) => f.payload.readUInt32BE(0));
  }

  /** A GOAWAY with `code` arrives within `ms` (a connection error, RFC 9113 section 5.4.1). */
  async expectGoaway(code: number, ms = WAIT_MS): Promise<{ lastStreamId: number }> {
    const g = await this.waitFrame((f) => f.type === F.FrameType.GOAWAY, ms);
    if (g === undefined || g.payload.readUInt32BE(4) !== code) this.#fail(`GOAWAY(${codeName(code)}) within ${ms} ms`);
    return { lastStreamId: g.payload.readUInt32BE(0) & 0x7fffffff };
  }

  /** RST_STREAM(code) on `streamId` within `ms`, and no GOAWAY (a stream error, RFC 9113 section 5.4.2). */
  async expectRst(streamId: number, code: number, ms = WAIT_MS): Promise<void> {
    const r = await this.waitFrame((f) => (f.type === F.FrameType.RST_STREAM && f.streamId === streamId) || f.type === F.FrameType.GOAWAY, ms);
    if (r === undefined || r.type !== F.FrameType.RST_STREAM || r.payload.readUInt32BE(0) !== code) this.#fail(`RST_STREAM(${codeName(code)}) on stream ${streamId} within ${ms} ms`);
  }

  /**
   * RST_STREAM(code) on `streamId`, or GOAWAY(code): RFC 9113 section 5.4.1
   * lets an endpoint treat a stream error as a connection error (what h2spec
   * accepts too).
   */
  async expectStreamError(streamId: number, code: number, ms = WAIT_MS): Promise<void> {
    const r = await this.waitFrame((f) => (f.type === F.FrameType.RST_STREAM && f.streamId === streamId) || f.type === F.FrameType.GOAWAY, ms);
    const got = r === undefined ? -1 : r.type === F.FrameType.GOAWAY ? r.payload.readUInt32BE(4) : r.payload.readUInt32BE(0);
    if (got !== code) this.#fail(`RST_STREAM(${codeName(code)}) on stream ${streamId} or GOAWAY(${codeName(code)}) within ${ms} ms`);
  }

  /** The server closes the connection within `ms` (after a GOAWAY or not). */
  async expectClosed(ms = WAIT_MS): Promise<void> {
    const closed = await Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    if (!closed) this.#fail(`the connection closed within ${ms} ms`);
  }

  /** A connection error: GOAWAY(code), then the close (RFC 9113 section 5.4.1), within `ms`. */
  async expectConnectionError(code: number, ms = WAIT_MS): Promise<void> {
    await this.expectGoaway(code, ms);
    await this.expectClosed(ms);
  }

  /** The connection still works: a PING is acknowledged with its own payload within `ms` (RFC 9113 section 6.7). */
  async expectAlive(ms = WAIT_MS): Promise<void> {
    const data = Buffer.from(`alive${String(this.#pingSeq++).padStart(3, '0')}`).subarray(0, 8);
    const from = this.frames.length;
    this.send(F.ping(data));
    const ack = await this.waitFrame((f) => f.type === F.FrameType.PING && (f.flags & F.Flags.ACK) !== 0 && f.payload.equals(data), ms, from);
    if (ack === undefined) this.#fail(`PING ACK ${JSON.stringify(data.toString())} within ${ms} ms`);
  }

  /** No frame matching `pred` arrives within `ms` (and the connection may stay open). */
  async expectNoFrame(pred: (f: F.ReadFrame) => boolean, what: string, ms = 300): Promise<void> {
    const from = this.frames.length;
    const f = await this.waitFrame(pred, ms, from);
    if (f !== undefined) this.#fail(`no ${what} within ${ms} ms`);
  }

  /** Wait for the server's SETTINGS and its ACK of ours (RFC 9113 section 3.4: the preface is done). */
  async handshake(ms = WAIT_MS): Promise<void> {
    const settings = await this.waitFrame((f) => f.type === F.FrameType.SETTINGS && !(f.flags & F.Flags.ACK), ms);
    const ack = await this.waitFrame((f) => f.type === F.FrameType.SETTINGS && (f.flags & F.Flags.ACK) !== 0, ms);
    if (settings === undefined || ack === undefined) this.#fail(`the server's SETTINGS and SETTINGS ACK within ${ms} ms`);
  }

  /** The server's SETTINGS parameters (its first SETTINGS frame). */
  serverSettings(): Map<number, number> {
    const s = this.frames.find((f) => f.type === F.FrameType.SETTINGS && !(f.flags & F.Flags.ACK));
    const out = new Map<number, number>();
    if (s !== undefined) for (let i = 0; i + 6 <= s.payload.length; i += 6) out.set(s.payload.readUInt16BE(i), s.payload.readUInt32BE(i + 2));
    return out;
  }

  /** The response on `streamId` so far: :status of its first HEADERS, DATA bytes, END_STREAM seen. */
  response(streamId: number): ReceivedResponse {
    const res: ReceivedResponse = { status: NaN, body: Buffer.alloc(0), ended: false };
    const parts: Buffer[] = [];
    for (const f of this.frames) {
      if (f.streamId !== streamId) continue;
      if (f.type === F.FrameType.HEADERS && Number.isNaN(res.status)) res.status = statusOf(f.payload);
      if (f.type === F.FrameType.DATA) parts.push(f.payload);
      if ((f.type === F.FrameType.HEADERS || f.type === F.FrameType.DATA) && f.flags & F.Flags.END_STREAM) res.ended = true;
    }
    res.body = Buffer.concat(parts);
    return res;
  }

  /** A complete response on `streamId` within `ms` (END_STREAM seen); its status and body. */
  async expectResponse(streamId: number, status = 200, ms = WAIT_MS): Promise<ReceivedResponse> {
    await this.waitFrame((f) => f.streamId === streamId && ((f.type === F.FrameType.HEADERS || f.type === F.FrameType.DATA) && (f.flags & F.Flags.END_STREAM) !== 0 || f.type === F.FrameType.RST_STREAM), ms);
    const res = this.response(streamId);
    if (!res.ended || res.status !== status) this.#fail(`a complete ${status} response on stream ${streamId} within ${ms} ms`);
    return res;
  }

  close(): void {
    this.socket.destroy();
  }
}
