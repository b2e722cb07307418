// The data-plane port: one TCP listener that serves HTTP/1.1 and cleartext
// HTTP/2 with prior knowledge (what gRPC clients send) on the same port. The
// first bytes of each connection decide: the HTTP/2 connection preface
// (RFC 9113 section 3.4) goes to the node:http2 server, anything else to node:http.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { HostPort } from '../config/config.ts';
import { handleHttp1Request } from './http1-exchange.ts';
import { handleHttp2Stream } from './http2-exchange.ts';
import type { Route } from './route.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A connection that has not sent its first bytes within this time is closed. */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

export interface ListenerOptions {
  readonly listen: HostPort;
  readonly route: Route;
  /** Largest HTTP/1.1 request head accepted (bytes); larger gets 431. */
  readonly maxHeaderSize?: number;
  /** Time allowed for a client to send a complete HTTP/1.1 request head. */
  readonly headersTimeoutMs?: number;
}

export class Listener {
  readonly route: Route;
  readonly options: ListenerOptions;
  readonly tcp: net.Server;
  readonly http1: http.Server;
  readonly http2: http2.Http2Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #port = 0;

  constructor(options: ListenerOptions) {
    this.options = options;
    const route = (this.route = options.route);
    this.http1 = http.createServer(
      {
        maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
        headersTimeout: options.headersTimeoutMs ?? 10_000,
        // Uploads and downloads may take long; the per-request timeout is ours.
        requestTimeout: 0,
        keepAliveTimeout: 60_000,
        requireHostHeader: true,
        joinDuplicateHeaders: false,
      },
      (req, res) => handleHttp1Request(route, req, res),
    );
    this.http1.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      // Malformed input never reaches an upstream: 400/431 and close.
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      route.observer.badRequest(route);
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      const body = `ringside: ${status.slice(4)}: ${err.code ?? 'malformed request'}\n`;
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    // Protocol switches are not proxied: refuse them cleanly instead of hanging.
    const refuse = (req: http.IncomingMessage, socket: net.Socket): void => {
      const status = req.method === 'CONNECT' ? '405 Method Not Allowed' : '501 Not Implemented';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    this.http1.on('connect', refuse);
    this.http1.on('upgrade', refuse);

    this.http2 = http2.createServer({ maxSessionMemory: 32, settings: { maxConcurrentStreams: 1000 } });
    this.http2.on('stream', (stream, headers) => handleHttp2Stream(route, stream, headers));
    this.http2.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', () => {});
    });
    this.http2.on('sessionError', () => {});

    this.tcp = net.createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
  }

  get port(): number {
    return this.#port;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(this.options.listen.port, this.options.listen.host, () => {
        this.tcp.off('error', reject);
        this.#port = (this.tcp.address() as net.AddressInfo).port;
        resolve(this.#port);
      });
    });
  }

  #onConnection(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    let head: Buffer | null = null;
    const onData = (chunk: Buffer): void => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const isPrefaceSoFar = head.compare(PREFACE, 0, n, 0, n) === 0;
      if (isPrefaceSoFar && head.length < PREFACE.length) return; // need more bytes to decide
      socket.off('data', onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(head);
      if (isPrefaceSoFar) this.http2.emit('connection', socket);
      else {
        this.http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  /** Stop accepting; ask clients to go away (GOAWAY / Connection: close); resolve when all connections closed. */
  async close(graceMs = 0): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const session of this.#sessions) session.close();
    this.http1.closeIdleConnections();
    if (graceMs > 0) {
      const deadline = Date.now() + graceMs;
      while (this.#sockets.size > 0 && Date.now() < deadline) {
        this.http1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}
