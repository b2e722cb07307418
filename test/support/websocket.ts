// A tiny WebSocket (RFC 6455) for the tunnel tests, both ends on raw sockets
// so a test controls every byte: replicas on node:http's 'upgrade' event that
// greet with their name and echo every message, and a client that can send
// bytes right behind its handshake, read slowly, half-close or reset.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP_TEXT = 1;
export const OP_BINARY = 2;
export const OP_CLOSE = 8;
export const OP_PING = 9;
export const OP_PONG = 10;

export interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** One frame; clients mask theirs (RFC 6455 section 5.3). */
export function encodeFrame(opcode: number, payload: Buffer | string, mask: boolean): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = data.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(n, 2);
  else if (lenBytes === 8) head.writeBigUInt64BE(BigInt(n), 2);
  if (!mask) return Buffer.concat([head, data]);
  const key = randomBytes(4);
  key.copy(head, 2 + lenBytes);
  const masked = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, masked]);
}

/** Frames out of a byte stream; chunks are joined once per frame, so large frames cost one copy. */
export class FrameParser {
  #chunks: Buffer[] = [];
  #total = 0;

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#total += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#total < 2) return frames;
      const first = this.#chunks[0].length >= 14 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      const len7 = first[1] & 0x7f;
      const masked = (first[1] & 0x80) !== 0;
      const lenBytes = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const headLen = 2 + lenBytes + (masked ? 4 : 0);
      if (this.#total < headLen) return frames;
      const n = len7 === 126 ? first.readUInt16BE(2) : len7 === 127 ? Number(first.readBigUInt64BE(2)) : len7;
      if (this.#total < headLen + n) return frames;
      const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      const payload = Buffer.from(all.subarray(headLen, headLen + n));
      if (masked) {
        const key = all.subarray(2 + lenBytes, headLen);
        for (let i = 0; i < n; i++) payload[i] ^= key[i & 3];
      }
      frames.push({ opcode: all[0] & 0x0f, payload });
      const rest = all.subarray(headLen + n);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#total = rest.length;
    }
  }
}

export interface WsReplica {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:PORT`, as ringside keys endpoints. */
  readonly key: string;
  /** Tunnels this replica accepted, and when each one's socket closed (performance.now()), null while open. */
  readonly accepted: { path: string; closedAt: number | null; socket: net.Socket; firstBytes: number; error: string | null }[];
  /** Open upgraded sockets. */
  readonly open: Set<net.Socket>;
  /** Crash: every upgraded socket is reset and the listener closed. */
  kill(): void;
  close(): Promise<void>;
}

/**
 * A replica: `GET /deny...` with Upgrade gets `403` and a small body; any
 * other handshake gets 101, then a text frame `replica:NAME`, then every data
 * message echoed. A close frame is answered and the socket ended; the
 * client's FIN is answered with ours (the replica ends its side).
 */
export async function startWsReplica(name: string, host = '127.0.0.1', port = 0): Promise<WsReplica> {
  const accepted: WsReplica['accepted'] = [];
  const open = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.end(`plain:${name}`));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (req.url?.startsWith('/deny')) {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nx-replica: ' + name + '\r\n\r\nforbidden');
      return;
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    const record = { path: req.url ?? '', closedAt: null as number | null, socket, firstBytes: head.length, error: null as string | null };
    socket.on('error', (err: NodeJS.ErrnoException) => (record.error = err.code ?? err.message));
    accepted.push(record);
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      record.closedAt = performance.now();
    });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    socket.write(encodeFrame(OP_TEXT, `replica:${name}`, false));
    const parser = new FrameParser();
    const onBytes = (chunk: Buffer): void => {
      for (const f of parser.push(chunk)) {
        if (f.opcode === OP_CLOSE) {
          socket.end(encodeFrame(OP_CLOSE, f.payload, false));
          return;
        }
        if (f.opcode === OP_PING) socket.write(encodeFrame(OP_PONG, f.payload, false));
        else if (f.opcode === OP_TEXT || f.opcode === OP_BINARY) {
          // Echo with backpressure: a slow reader upstream of us holds the replica, not its memory.
          if (!socket.write(encodeFrame(f.opcode, f.payload, false))) {
            socket.pause();
            socket.once('drain', () => socket.resume());
          }
        }
      }
    };
    if (head.length > 0) onBytes(head);
    socket.on('data', onBytes);
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    name,
    port: bound,
    key: `${host}:${bound}`,
    accepted,
    open,
    kill() {
      for (const s of open) s.resetAndDestroy();
      server.close();
      server.closeAllConnections();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface WsClient {
  readonly socket: net.Socket;
  readonly status: number;
  /** The response head (status line and fields), as received. */
  readonly head: string;
  /** The non-101 response body bytes received with the head (and after, until the close). */
  body(): Promise<string>;
  send(opcode: number, payload: Buffer | string): boolean;
  /** The next data frame (text/binary/close/pong). */
  next(timeoutMs?: number): Promise<Frame>;
  /** Resolves when the socket closed; `error` is its error code, if any. */
  closed: Promise<{ error: string | undefined }>;
}

export interface WsConnectOptions {
  /** Bytes written in the same write as the handshake (a client that does not wait for the 101). */
  readonly early?: Buffer;
  /** Do not read automatically after the head: the test reads through socket.pause()/resume(). */
  readonly manualRead?: boolean;
  readonly extraHeaders?: string;
}

/** Open a WebSocket to `port` with the handshake for `path`; resolves once the response head arrived. */
export function wsConnect(port: number, path: string, options: WsConnectOptions = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let error: string | undefined;
    const closed = new Promise<{ error: string | undefined }>((r) => socket.once('close', () => r({ error })));
    // Like most clients: the server's FIN is answered with ours (the socket is half-open only until then).
    socket.once('end', () => socket.end());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
      reject(err);
    });
    const key = randomBytes(16).toString('base64');
    const handshake =
      `GET ${path} HTTP/1.1\r\nhost: replicas.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n${options.extraHeaders ?? ''}\r\n`;
    socket.write(options.early ? Buffer.concat([Buffer.from(handshake, 'latin1'), options.early]) : Buffer.from(handshake, 'latin1'));
    let buf = Buffer.alloc(0);
    const onHead = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHead);
      const head = buf.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const rest = buf.subarray(end + 4);
      const parser = new FrameParser();
      const frames: Frame[] = [];
      const waiters: ((f: Frame) => void)[] = [];
      let bodyText = '';
      const deliver = (chunk: Buffer): void => {
        if (status !== 101) {
          bodyText += chunk.toString('latin1');
          return;
        }
        for (const f of parser.push(chunk)) {
          const w = waiters.shift();
          if (w) w(f);
          else frames.push(f);
        }
      };
      if (options.manualRead) socket.pause();
      socket.on('data', deliver);
      if (rest.length > 0) deliver(rest);
      resolve({
        socket,
        status,
        head,
        body: () => closed.then(() => bodyText.slice(status === 101 ? bodyText.length : 0)),
        send: (opcode, payload) => socket.write(encodeFrame(opcode, payload, true)),
        next: (timeoutMs = 5000) =>
          new Promise<Frame>((res, rej) => {
            const f = frames.shift();
            if (f) return res(f);
            const timer = setTimeout(() => rej(new Error('no frame in time')), timeoutMs);
            waiters.push((frame) => {
              clearTimeout(timer);
              res(frame);
            });
          }),
        closed,
      });
    };
    socket.on('data', onHead);
  });
}
