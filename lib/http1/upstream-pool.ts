// Keep-alive HTTP/1.1 connections to one endpoint for the lean engine. Each
// connection reads with `onread` into its own reusable buffer (no Buffer per
// read), parses the response head, frames the body (Content-Length, chunked,
// or until close) and hands the bytes to its current user. A connection goes
// back to the pool only when its response was completely framed, the whole
// request was sent, and neither side asked to close; anything else destroys it.

import net from 'node:net';
import { ChunkedScanner, MALFORMED, NEED_MORE, type ChunkDataSink } from './chunked-scanner.ts';
import { Framing, parseResponseHead, ResponseHead } from './response-head.ts';
import { SocketWriter, type WriteDrainListener } from '../io/socket-writer.ts';
import { timerWheel, type TimedItem } from '../io/timer-wheel.ts';

/** What a connection reports to the exchange using it. Methods, not closures: nothing is allocated per request. */
export interface UpstreamUser {
  /** The response head arrived (`head` is reused: read it now). 1xx heads are skipped. */
  onUpstreamHead(head: ResponseHead): void;
  /** Body bytes, framed as the upstream sent them (or decoded, when asked). The buffer is reused after the call returns unless `lend` is used. */
  onUpstreamBody(buf: Buffer, start: number, end: number): void;
  /** The response is complete (the connection was already released or destroyed). */
  onUpstreamEnd(): void;
  /**
   * The connection failed: `failure` says whether it never connected (CONNECT)
   * or broke afterwards (RESET); `headSeen` whether the response head had been
   * delivered. The user turns this into a typed error (it knows the upstream's name).
   */
  onUpstreamError(failure: UpstreamFailure, cause: Error, headSeen: boolean): void;
  /** The socket drained after a write returned false. */
  onUpstreamDrain(): void;
}

/** The `code` of the error a connection fails with when its endpoint answered in HTTP/2 frames (see #http2Answer). */
export const H2C_ONLY = 'RS_H1_H2C_ONLY';

export const UpstreamFailure = { CONNECT: 0, RESET: 1 } as const;
export type UpstreamFailure = (typeof UpstreamFailure)[keyof typeof UpstreamFailure];

export interface UpstreamPoolOptions {
  readonly connectTimeoutMs: number;
  /** Idle keep-alive connections are closed after this (undici's keepAliveTimeout is 4 s too). */
  readonly idleTimeoutMs?: number;
  /** Connection gauge hooks (metrics). */
  readonly onOpen?: () => void;
  readonly onClose?: () => void;
}

// A connection starts reading into a small buffer and moves to a large one
// the first time a read fills it: most responses through a sidecar are a few
// hundred bytes, and a large buffer per pooled connection (50-100 of them
// under load) costs resident memory once the allocator hands out pages that
// were touched before (measured: about 2 MiB of peak RSS, bench/memory.ts),
// while bodies that need it still get 64 KiB reads after their first read.
const READ_BUFFER_MIN = 4 * 1024;
const READ_BUFFER_MAX = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;

const P_CONNECTING = 0;
const P_IDLE = 1;
const P_HEAD = 2; // waiting for / reading the response head
const P_BODY = 3;
const P_CLOSED = 4;

/**
 * The last response head parsed for a pool's endpoint, with its bytes: a head
 * identical to the previous one (the common case) is not parsed again.
 */
export class LastResponseHead {
  readonly head = new ResponseHead();
  /** The head's bytes through the blank line; null when `head` is not a reusable final response. */
  bytes: Buffer | null = null;
  /** Whether it answered a HEAD request (that decides the framing). */
  requestIsHead = false;
}

export class UpstreamConnection implements TimedItem, ChunkDataSink, WriteDrainListener {
  readonly pool: UpstreamPool;
  readonly socket: net.Socket;
  user: UpstreamUser | null = null;
  deadline = 0;
  #state = P_CONNECTING;
  #connected = false;
  #readBuf = Buffer.allocUnsafe(READ_BUFFER_MIN);
  #pendingHead: Buffer | null = null;
  #framing: Framing = Framing.NONE;
  #remaining = 0;
  #keepAlive = true;
  /** How long this connection may idle in the pool: the pool's limit, shortened by the upstream's Keep-Alive hint. */
  idleMs = 0;
  #requestIsHead = false;
  #decode = false;
  #requestSent = false;
  #headSeen = false;
  #paused = false;
  readonly #scanner = new ChunkedScanner();
  readonly #writer: SocketWriter;

  constructor(pool: UpstreamPool, host: string, port: number) {
    this.pool = pool;
    const self = this;
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => self.#readBuf,
        callback: (n: number, buf: Uint8Array) => {
          self.#onRead(n, buf as Buffer);
          // Called before node:net asks `buffer` for the next read's buffer.
          if (n === buf.length && buf.length < READ_BUFFER_MAX && self.#readBuf === buf) self.#readBuf = Buffer.allocUnsafe(READ_BUFFER_MAX);
          return true;
        },
      },
    });
    this.socket.on('connect', () => this.#onConnect());
    this.socket.on('error', (err) => this.#onClose(err));
    this.socket.on('close', () => this.#onClose(null));
    this.socket.on('end', () => this.#onClose(null));
    this.socket.on('drain', () => this.user?.onUpstreamDrain());
    this.#writer = new SocketWriter(this.socket, this);
    timerWheel.add(this);
    this.deadline = timerWheel.now + pool.options.connectTimeoutMs;
    pool.options.onOpen?.();
  }

  /** Begin a request/response on this connection. */
  begin(user: UpstreamUser, requestIsHead: boolean, decodeChunked: boolean): void {
    this.user = user;
    this.#requestIsHead = requestIsHead;
    this.#decode = decodeChunked;
    this.#requestSent = false;
    this.#headSeen = false;
    this.#pendingHead = null;
    if (this.#state === P_IDLE) {
      this.#state = P_HEAD;
      this.deadline = 0;
    }
  }

  write(data: Buffer | string): boolean {
    return this.#writer.write(data);
  }

  onWriterDrain(): void {
    this.user?.onUpstreamDrain();
  }

  /** The whole request (head and body) has been written. */
  requestSent(): void {
    this.#requestSent = true;
  }

  /**
   * The current read buffer is referenced by a write still queued elsewhere
   * (the client socket did not take all bytes at once): read into a new one.
   */
  lendReadBuffer(): void {
    this.#readBuf = Buffer.allocUnsafe(this.#readBuf.length);
  }

  /** Stop reading (the user's client is not keeping up). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** Drop the user and destroy the socket (client gone, timeout, protocol error). */
  abort(): void {
    this.user = null;
    this.#destroy();
  }

  onDeadline(): void {
    if (this.#state === P_CONNECTING) {
      const user = this.user;
      this.user = null;
      this.#destroy();
      const err = Object.assign(new Error(`connect timeout after ${this.pool.options.connectTimeoutMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      user?.onUpstreamError(UpstreamFailure.CONNECT, err, false);
    } else if (this.#state === P_IDLE) this.#destroy();
  }

  #onConnect(): void {
    this.#connected = true;
    if (this.#state !== P_CONNECTING) return;
    this.deadline = 0;
    this.#state = this.user === null ? P_IDLE : P_HEAD;
    if (this.user === null) this.pool.release(this);
  }

  #onRead(n: number, buf: Buffer): void {
    if (this.user === null || this.#state < P_HEAD || this.#state > P_BODY) {
      // Bytes nobody asked for (an idle connection must be silent): not reusable.
      this.#destroy();
      return;
    }
    this.#process(buf, 0, n);
  }

  #process(buf: Buffer, start: number, end: number): void {
    while (start < end && this.user !== null) {
      if (this.#state === P_HEAD) {
        let data = buf;
        let from = start;
        if (this.#pendingHead !== null) {
          data = Buffer.concat([this.#pendingHead, buf.subarray(start, end)]);
          from = 0;
          end = data.length;
          this.#pendingHead = null;
        }
        // A status line never starts with a NUL byte; an HTTP/2 frame header does (its 24-bit length is small).
        if (data[from] === 0 && this.#http2Answer(data, from, end)) return;
        const cache = this.pool.lastHead;
        const head = cache.head;
        const known = cache.bytes;
        let headLen: number;
        if (known !== null && cache.requestIsHead === this.#requestIsHead && end - from >= known.length && data.compare(known, 0, known.length, from, from + known.length) === 0) {
          // The same bytes as the previous response head from this endpoint (most are: only Date changes, once a second).
          headLen = known.length;
        } else {
          const scanEnd = Math.min(end, from + MAX_RESPONSE_HEAD);
          const text = data.toString('latin1', from, scanEnd);
          headLen = text.indexOf('\r\n\r\n') + 4;
          if (headLen < 4) {
            if (scanEnd - from >= MAX_RESPONSE_HEAD) return this.#protocolError('response head too large');
            this.#pendingHead = Buffer.from(data.subarray(from, end));
            return;
          }
          cache.bytes = null;
          if (!parseResponseHead(headLen === text.length ? text : text.slice(0, headLen), head, this.#requestIsHead)) return this.#protocolError(head.error);
          if (head.status >= 200) {
            cache.bytes = Buffer.from(data.subarray(from, from + headLen));
            cache.requestIsHead = this.#requestIsHead;
          }
        }
        start = from + headLen;
        buf = data;
        if (head.status < 200) {
          // 1xx interim responses are not forwarded (undici drops them too); 101 was never asked for.
          if (head.status === 101) return this.#protocolError('unexpected 101 Switching Protocols');
          continue;
        }
        this.#headSeen = true;
        this.#framing = head.framing;
        this.#remaining = head.contentLength;
        this.#keepAlive = head.keepAlive;
        // Like undici: leave a second of margin before the server's own idle close, so we never reuse a socket it is closing.
        this.idleMs = head.keepAliveHintMs > 0 ? Math.min(this.pool.idleTimeoutMs, Math.max(head.keepAliveHintMs - 1000, 500)) : this.pool.idleTimeoutMs;
        if (head.framing === Framing.CHUNKED) this.#scanner.reset();
        this.#state = P_BODY;
        this.user.onUpstreamHead(head);
        if (this.user === null) return;
        if (head.framing === Framing.NONE) {
          // Bytes after a complete response (a body on a HEAD or 204 answer, a stray CRLF): the response is whole as
          // framed (RFC 9112 section 6.3) and goes on; only the connection is not reused, since they are no next response.
          if (start < end) this.#keepAlive = false;
          return this.#complete();
        }
        continue;
      }
      // P_BODY
      const user = this.user;
      switch (this.#framing) {
        case Framing.LENGTH: {
          const n = Math.min(this.#remaining, end - start);
          this.#remaining -= n;
          user.onUpstreamBody(buf, start, start + n);
          start += n;
          if (this.#remaining === 0) {
            if (start < end) this.#keepAlive = false; // as above: complete, not reused
            return this.#complete();
          }
          break;
        }
        case Framing.CHUNKED: {
          const r = this.#scanner.scan(buf, start, end, this.#decode ? this : null);
          if (r === MALFORMED) return this.#protocolError('malformed chunked body');
          const stop = r === NEED_MORE ? end : r;
          if (!this.#decode) user.onUpstreamBody(buf, start, stop);
          start = stop;
          if (r !== NEED_MORE) {
            if (start < end) this.#keepAlive = false; // as above: complete, not reused
            return this.#complete();
          }
          break;
        }
        default: // CLOSE: everything until the upstream closes
          user.onUpstreamBody(buf, start, end);
          start = end;
      }
    }
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    this.user?.onUpstreamBody(buf, start, end);
  }

  #complete(): void {
    const user = this.user!;
    this.user = null;
    if (this.#keepAlive && this.#requestSent && !this.pool.closed) {
      this.#state = P_IDLE;
      // Paused by a slow client during the last bytes: an idle connection reads (its close, or stray bytes).
      this.resume();
      this.pool.release(this);
    } else this.#destroy();
    user.onUpstreamEnd();
  }

  /**
   * The bytes where a status line should start are an HTTP/2 frame header
   * (RFC 9113 section 4.1): the endpoint speaks only h2c (node:http2's server
   * without allowHTTP1 and grpc-go send their SETTINGS, then a GOAWAY, to
   * anything that is not the HTTP/2 preface). It never read our request as
   * one: fail it marked H2C_ONLY and unprocessed, for `--upstream-protocol
   * auto` to send it over h2c. False (and nothing done) when more bytes are
   * needed to tell, or they are not a SETTINGS or GOAWAY frame on stream 0.
   */
  #http2Answer(data: Buffer, from: number, end: number): boolean {
    if (end - from < 9) return false;
    const type = data[from + 3];
    if ((type !== 0x04 && type !== 0x07) || (data.readUInt32BE(from + 5) & 0x7fffffff) !== 0) return false;
    const user = this.user;
    this.user = null;
    this.#destroy();
    const err = Object.assign(new Error(`upstream ${this.pool.host}:${this.pool.port} answered an HTTP/1.1 request with HTTP/2 frames: it speaks only h2c`), {
      code: H2C_ONLY,
      unprocessed: true,
    });
    user?.onUpstreamError(UpstreamFailure.RESET, err, false);
    return true;
  }

  #protocolError(why: string): void {
    const user = this.user;
    const headSeen = this.#headSeen;
    this.user = null;
    this.#destroy();
    user?.onUpstreamError(UpstreamFailure.RESET, new Error(`invalid response: ${why}`), headSeen);
  }

  #onClose(err: Error | null): void {
    if (this.#state === P_CLOSED) return;
    const user = this.user;
    const wasConnecting = !this.#connected;
    const closeDelimited = this.#state === P_BODY && this.#framing === Framing.CLOSE && err === null;
    this.user = null;
    this.#destroy();
    if (user === null) return;
    if (closeDelimited) {
      user.onUpstreamEnd();
      return;
    }
    const cause = err ?? new Error('upstream closed the connection');
    user.onUpstreamError(wasConnecting ? UpstreamFailure.CONNECT : UpstreamFailure.RESET, cause, this.#headSeen);
  }

  #destroy(): void {
    if (this.#state === P_CLOSED) return;
    this.#state = P_CLOSED;
    this.deadline = 0;
    timerWheel.remove(this);
    this.pool.forget(this);
    this.socket.destroy();
    this.pool.options.onClose?.();
  }

  get idle(): boolean {
    return this.#state === P_IDLE;
  }
}

export class UpstreamPool {
  readonly host: string;
  readonly port: number;
  readonly options: UpstreamPoolOptions;
  readonly idleTimeoutMs: number;
  closed = false;
  readonly lastHead = new LastResponseHead();
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  #onEmpty: (() => void) | null = null;

  constructor(host: string, port: number, options: UpstreamPoolOptions) {
    this.host = host;
    this.port = port;
    this.options = options;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 4_000;
  }

  /** Open connections (idle or busy). */
  get size(): number {
    return this.#all.size;
  }

  /** A connection for one request: the most recently used idle one, or a new one (connecting). */
  acquire(user: UpstreamUser, requestIsHead: boolean, decodeChunked: boolean): UpstreamConnection {
    const idle = this.#idle;
    let conn: UpstreamConnection | undefined;
    while ((conn = idle.pop()) !== undefined) {
      if (conn.idle && !conn.socket.destroyed) break;
    }
    if (conn === undefined) {
      conn = new UpstreamConnection(this, this.host, this.port);
      this.#all.add(conn);
    }
    conn.begin(user, requestIsHead, decodeChunked);
    return conn;
  }

  release(conn: UpstreamConnection): void {
    if (this.closed) {
      conn.abort();
      return;
    }
    conn.deadline = timerWheel.now + (conn.idleMs > 0 ? conn.idleMs : this.idleTimeoutMs);
    this.#idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (this.#all.size === 0 && this.#onEmpty !== null) this.#onEmpty();
  }

  /** Close idle connections now; busy ones close when their response ends (or now, with `force`). */
  close(force = false): Promise<void> {
    this.closed = true;
    for (const conn of [...this.#idle]) conn.abort();
    if (force) for (const conn of [...this.#all]) conn.abort();
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#onEmpty = resolve));
  }
}
