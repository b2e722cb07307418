// The upstream side of an HTTP/1.1 protocol switch (RFC 9110 section 7.8,
// WebSocket's opening handshake in RFC 6455 section 4): one fresh connection
// per handshake (never the keep-alive pool: after a 101 the connection is no
// longer HTTP), the handshake written with its Upgrade and Connection fields,
// and the response head read. A 101 hands the raw socket to the caller; any
// other final status is an ordinary response, passed on with its body framed
// exactly as the upstream framed it and the connection closed after it.
//
//   connect (--connect-timeout) -> write head -> read head
//     1xx other than 101 (100 Continue): skipped, read on
//     101  -> onUpgraded(head bytes as received, bytes after them)
//     else -> onResponseHead(client head) -> onResponseData* -> onResponseEnd

import net from 'node:net';
import { ChunkedScanner, MALFORMED, NEED_MORE } from './chunked-scanner.ts';
import { Framing, parseResponseHead, ResponseHead } from './response-head.ts';
import type { UpgradeAttempt, UpgradeHandler } from '../forwarding/upgrade-handler.ts';

/** Largest upstream response head read (the same bound as a request head). */
const MAX_HEAD = 64 * 1024;

const P_CONNECTING = 0;
const P_HEAD = 1;
const P_BODY = 2;
const P_DONE = 3;

export class UpgradeRequest implements UpgradeAttempt {
  readonly socket: net.Socket;
  readonly #handler: UpgradeHandler;
  readonly #head: string;
  #phase = P_CONNECTING;
  #timer: NodeJS.Timeout | null;
  #buffered: Buffer | null = null;
  #framing: Framing = Framing.NONE;
  #remaining = 0;
  #scanner: ChunkedScanner | null = null;
  readonly #onData = (chunk: Buffer): void => this.#data(chunk);

  constructor(host: string, port: number, connectTimeoutMs: number, head: string, handler: UpgradeHandler) {
    this.#handler = handler;
    this.#head = head;
    // Half-open both ways: each side's FIN is passed on to the other on its own (RFC 9293 section 3.6).
    const socket = (this.socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true }));
    this.#timer = connectTimeoutMs > 0 ? setTimeout(onConnectTimeout, connectTimeoutMs, this) : null;
    socket.once('connect', () => this.#connected());
    socket.on('data', this.#onData);
    socket.on('error', (err) => this.#failed(err));
    socket.once('end', () => this.#ended());
    socket.once('close', () => this.#failed(Object.assign(new Error('upstream closed the connection before answering the handshake'), { code: 'ECONNRESET' })));
  }

  /** Stop reading the response body (the client is not draining). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Give up (the client went away, the handshake timed out): the connection is destroyed. */
  abort(): void {
    if (this.#phase === P_DONE) return;
    this.#phase = P_DONE;
    this.#clearTimer();
    this.socket.destroy();
  }

  timedOut(): void {
    if (this.#phase !== P_CONNECTING) return;
    this.#phase = P_DONE;
    this.socket.destroy();
    this.#handler.onUpgradeError(Object.assign(new Error('connect timed out'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), false);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  #connected(): void {
    if (this.#phase !== P_CONNECTING) return;
    this.#clearTimer();
    this.#phase = P_HEAD;
    this.socket.write(this.#head, 'latin1');
    this.#handler.onUpgradeConnected(this.socket);
  }

  #data(chunk: Buffer): void {
    if (this.#phase === P_BODY) {
      this.#body(chunk);
      return;
    }
    if (this.#phase !== P_HEAD) return;
    let buf = this.#buffered === null ? chunk : Buffer.concat([this.#buffered, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (buf.length > MAX_HEAD) this.#fail(new Error('upstream response head too large'));
        else this.#buffered = buf;
        return;
      }
      const headLen = end + 4;
      const status = statusOf(buf);
      if (status === 101) {
        this.#phase = P_DONE;
        this.#buffered = null;
        const socket = this.socket;
        // The socket is the tunnel's from here on: our listeners go.
        socket.off('data', this.#onData);
        socket.removeAllListeners('end');
        socket.removeAllListeners('close');
        socket.removeAllListeners('error');
        socket.pause();
        this.#handler.onUpgraded(socket, buf.subarray(0, headLen), headLen < buf.length ? buf.subarray(headLen) : null);
        return;
      }
      if (status >= 100 && status < 200) {
        // An interim response (100 Continue, 103 Early Hints): the final one follows.
        buf = buf.subarray(headLen);
        if (buf.length === 0) {
          this.#buffered = null;
          return;
        }
        continue;
      }
      const parsed = new ResponseHead();
      if (status < 0 || !parseResponseHead(buf.toString('latin1', 0, headLen), parsed, false)) {
        this.#fail(new Error(`malformed response to the upgrade handshake: ${parsed.error || 'invalid status line'}`));
        return;
      }
      this.#buffered = null;
      this.#phase = P_BODY;
      this.#framing = parsed.framing;
      let framing = '';
      if (parsed.framing === Framing.CHUNKED) {
        framing = 'transfer-encoding: chunked\r\n';
        this.#scanner = new ChunkedScanner();
        this.#scanner.reset();
      } else if (parsed.framing === Framing.LENGTH) {
        this.#remaining = parsed.contentLength;
        if (!parsed.forwardsLength) framing = `content-length: ${parsed.contentLength}\r\n`;
      }
      // The connection ends after this response on both sides: it was opened for a switch that did not happen.
      this.#handler.onResponseHead(parsed.status, `${parsed.forward}${framing}connection: close\r\n\r\n`);
      if (parsed.framing === Framing.NONE) {
        this.#done();
        return;
      }
      if (headLen < buf.length) this.#body(buf.subarray(headLen));
      return;
    }
  }

  #body(chunk: Buffer): void {
    let n = chunk.length;
    let last = false;
    if (this.#framing === Framing.LENGTH) {
      if (n >= this.#remaining) {
        n = this.#remaining;
        last = true;
      }
      this.#remaining -= n;
    } else if (this.#framing === Framing.CHUNKED) {
      const stop = this.#scanner!.scan(chunk, 0, chunk.length, null);
      if (stop === MALFORMED) {
        this.#fail(new Error('malformed chunked body in the response to the upgrade handshake'));
        return;
      }
      if (stop !== NEED_MORE) {
        n = stop;
        last = true;
      }
    }
    if (n > 0 && !this.#handler.onResponseData(n === chunk.length ? chunk : chunk.subarray(0, n))) this.pause();
    if (last) this.#done();
  }

  #done(): void {
    this.#phase = P_DONE;
    this.socket.destroy();
    this.#handler.onResponseEnd();
  }

  #ended(): void {
    // A body that runs to the close (no framing) ends here; anything else ended early.
    if (this.#phase === P_BODY && this.#framing === Framing.CLOSE) this.#done();
    else this.#failed(Object.assign(new Error('upstream closed the connection mid-response'), { code: 'ECONNRESET' }));
  }

  #fail(err: Error): void {
    this.socket.destroy();
    this.#failed(err);
  }

  #failed(err: Error): void {
    if (this.#phase === P_DONE) return;
    const connected = this.#phase !== P_CONNECTING;
    this.#phase = P_DONE;
    this.#clearTimer();
    this.socket.destroy();
    this.#handler.onUpgradeError(err, connected);
  }
}

function onConnectTimeout(request: UpgradeRequest): void {
  request.timedOut();
}

/** The status code of a head starting `HTTP/1.x NNN`, or -1. */
function statusOf(buf: Buffer): number {
  if (buf.length < 12 || buf.toString('latin1', 0, 7) !== 'HTTP/1.' || buf[8] !== 0x20) return -1;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  return status;
}
