// The data-plane port: one TCP listener that serves HTTP/1.1 and cleartext
// HTTP/2 with prior knowledge (what gRPC clients send) on the same port. The
// first bytes of each connection decide: the HTTP/2 connection preface
// (RFC 9113 section 3.4) goes to our HTTP/2 server (./h2-server.ts) or, on
// --engine compat, to node:http2; anything else to the lean HTTP/1.1 engine
// or to node:http (see Listener.engine).

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Engine, HostPort } from '../config/config.ts';
import { createHttp1Server, type Http1Server } from '../http1/http1-server.ts';
import { handleHttp1Request } from './http1-exchange.ts';
import { handleHttp1Upgrade } from './http1-upgrade.ts';
import { handleHttp2Stream } from './http2-exchange.ts';
import { H2_IDLE_TIMEOUT_MS, type H2DefenceObserver, H2Server } from './h2-server.ts';
import type { Route } from '../forwarding/route.ts';

/** Requests in progress on an HTTP/1.1 socket (node:http's own idle tracking needs server.listen(), which we never call). */
const kBusy = Symbol('ringside.busy');
const kListener = Symbol('ringside.listener');
const kSocket = Symbol('ringside.socket');
type TrackedSocket = net.Socket & { [kBusy]?: number; [kListener]?: Listener };
type TrackedResponse = http.ServerResponse & { [kSocket]?: TrackedSocket };

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
  /**
   * --engine, for the listener's side: who serves HTTP/1.1 connections, the
   * lean engine (../http1/) or node:http. The upstream clients follow the same
   * setting, chosen once for every endpoint (../upstream/endpoint-clients.ts).
   */
  readonly engine?: Engine;
  /** Told about the GOAWAY and RST_STREAM frames our HTTP/2 server sends in its defence (the metrics). */
  readonly h2Defences?: H2DefenceObserver;
  /** --h2-idle-timeout: our HTTP/2 server closes a connection without streams after this long (0: never; default 5 minutes). */
  readonly h2IdleTimeoutMs?: number;
}

/**
 * The engine used when the configuration does not say: lean, since
 * test/lean-differential.test.ts (HTTP/1.1) and test/lean-h2-differential.test.ts
 * (h2c upstreams) show it forwards the same requests and responses as the
 * reference engine (node:http + undici's Pool and H2CClient).
 */
export const DEFAULT_ENGINE: Engine = 'lean';

export class Listener {
  readonly route: Route;
  readonly options: ListenerOptions;
  readonly tcp: net.Server;
  readonly http1: http.Server;
  readonly http2: http2.Http2Server;
  readonly #sockets = new Set<net.Socket>();
  /** Connections that have not sent enough bytes yet to tell HTTP/1.1 from HTTP/2: idle by definition. */
  readonly #sniffing = new Set<net.Socket>();
  readonly #http1Sockets = new Set<TrackedSocket>();
  /** node:http responses not finished yet: a drain tells them to close their connection. */
  readonly #http1Responses = new Set<http.ServerResponse>();
  #closing = false;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /**
   * The engine for new HTTP/1.1 connections: lean (our HTTP/1.1 server; with
   * an h2c upstream it hands every request to the Exchange core, which sends
   * it through our HTTP/2 client) or compat (node:http).
   */
  engine: Engine;
  #lean: Http1Server | null = null;
  /** Our HTTP/2 server (--engine lean); compat serves HTTP/2 with node:http2. */
  #h2: H2Server | null = null;
  #port = 0;

  constructor(options: ListenerOptions) {
    this.options = options;
    this.engine = options.engine ?? DEFAULT_ENGINE;
    const route = (this.route = options.route);
    this.http1 = http.createServer(
      {
        maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
        headersTimeout: options.headersTimeoutMs ?? 10_000,
        // How often node:http looks for connections past headersTimeout (its default, 30 s, would let a slow client hold a socket far longer).
        connectionsCheckingInterval: 1_000,
        // Uploads and downloads may take long; the per-request timeout is ours.
        requestTimeout: 0,
        keepAliveTimeout: 60_000,
        requireHostHeader: true,
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        const socket = req.socket as TrackedSocket;
        socket[kBusy] = (socket[kBusy] ?? 0) + 1;
        // While draining, every response closes its connection after it is sent.
        if (this.#closing) res.shouldKeepAlive = false;
        (res as TrackedResponse)[kSocket] = socket;
        this.#http1Responses.add(res);
        res.once('close', onHttp1ResponseClose);
        handleHttp1Request(route, req, res);
      },
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
    // A protocol switch (WebSocket) becomes a tunnel (../forwarding/tunnel.ts); h2c and HTTP/1.0 are refused as before.
    this.http1.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, early: Buffer) => {
      if (!handleHttp1Upgrade(route, req, socket, early)) return refuse(req, socket);
      // No longer an HTTP connection: a drain must not close it as idle (it runs until the drain timeout).
      this.#http1Sockets.delete(socket as TrackedSocket);
    });
    // node:http enforces headersTimeout from a connection tracker that it only
    // starts on 'listening', and we never call http1.listen(): start it here, or
    // a client trickling its head one byte at a time holds a socket forever.
    // Listener.close() stops it again (http1.close()).
    this.http1.emit('listening');

    this.http2 = http2.createServer({
      maxSessionMemory: 32,
      settings: { maxConcurrentStreams: 1000 },
      // Rapid reset (CVE-2023-44487): every stream a client opens becomes an
      // upstream stream, and every reset an upstream RST_STREAM on a connection
      // shared with other clients. nghttp2's default lets 1000 resets through
      // before GOAWAY, enough to trip the upstream's own reset limit and take
      // other clients' streams down with it; 100 keeps the burst well below.
      streamResetBurst: 100,
      streamResetRate: 33,
    } as http2.ServerOptions);
    this.http2.on('stream', (stream, headers, _flags, rawHeaders) => handleHttp2Stream(route, stream, headers, rawHeaders));
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
    if (this.#closing) {
      // Accepted just before the listening socket closed: nothing was asked yet.
      socket.destroy();
      return;
    }
    this.#sniffing.add(socket);
    let head: Buffer | null = null;
    const onData = (chunk: Buffer): void => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const isPrefaceSoFar = head.compare(PREFACE, 0, n, 0, n) === 0;
      if (isPrefaceSoFar && head.length < PREFACE.length) return; // need more bytes to decide
      socket.off('data', onData);
      socket.setTimeout(0);
      this.#sniffing.delete(socket);
      if (!isPrefaceSoFar && this.engine === 'lean') {
        this.#leanEngine().handleConnection(socket, head);
        return;
      }
      if (isPrefaceSoFar && this.engine === 'lean') {
        (this.#h2 ??= new H2Server(this.route, this.options.h2Defences ?? null, this.options.h2IdleTimeoutMs ?? H2_IDLE_TIMEOUT_MS)).handleConnection(socket, head);
        return;
      }
      socket.pause();
      socket.unshift(head);
      if (isPrefaceSoFar) this.http2.emit('connection', socket);
      else {
        const tracked = socket as TrackedSocket;
        tracked[kBusy] = 0;
        tracked[kListener] = this;
        this.#http1Sockets.add(tracked);
        socket.once('close', () => this.#http1Sockets.delete(tracked));
        this.http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => this.#sniffing.delete(socket));
  }

  #leanEngine(): Http1Server {
    const route = this.route;
    return (this.#lean ??= createHttp1Server(route, { maxHeaderSize: this.options.maxHeaderSize, headersTimeoutMs: this.options.headersTimeoutMs }));
  }

  /** Stop accepting; ask clients to go away (GOAWAY / Connection: close); resolve when all connections closed. */
  async close(graceMs = 0): Promise<void> {
    this.#closing = true;
    this.http1.close(); // stops the connection tracker started in the constructor
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    // HTTP/2: GOAWAY; open streams may finish. HTTP/1.1: idle connections close
    // now, busy ones after their current response (Connection: close), on
    // either engine. An app's keep-alive pool is mostly idle connections: left
    // open, they would hold the process for the whole drain timeout.
    for (const socket of this.#sniffing) socket.destroy();
    this.#sniffing.clear();
    for (const session of this.#sessions) session.close();
    this.#h2?.close();
    for (const socket of this.#http1Sockets) if (socket[kBusy] === 0) socket.destroy();
    for (const res of this.#http1Responses) if (!res.headersSent) res.shouldKeepAlive = false;
    this.#lean?.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** An HTTP/1.1 response ended: during shutdown, an idle connection is closed. */
  static responseDone(socket: TrackedSocket, res: http.ServerResponse): void {
    const busy = (socket[kBusy] = (socket[kBusy] ?? 1) - 1);
    const listener = socket[kListener];
    if (listener !== undefined) listener.#http1Responses.delete(res);
    if (busy === 0 && listener !== undefined && listener.#closing) socket.destroySoon();
  }
}

function onHttp1ResponseClose(this: TrackedResponse): void {
  const socket = this[kSocket];
  if (socket !== undefined) Listener.responseDone(socket, this);
}
