// The lean HTTP/1.1 engine of a listener: takes over client connections the
// listener identified as HTTP/1 and serves them with ./server-connection.ts,
// on raw `net` sockets instead of node:http + undici (which cost about 3x
// more CPU per request, see issue 7). Selected with `--engine lean`.

import type net from 'node:net';
import type { Route } from '../forwarding/route.ts';
import { ServerConnection, type Http1ServerOptions, type Http1ServerState } from './server-connection.ts';

export type { Http1ServerOptions };

export type { Engine } from '../config/config.ts';

export const DEFAULT_HTTP1_SERVER_OPTIONS: Http1ServerOptions = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 60_000,
};

export interface Http1Server {
  /** Serve one client connection; `initialChunk` is what the listener already read from it. */
  handleConnection(socket: net.Socket, initialChunk: Buffer): void;
  /** Graceful shutdown: close idle connections now, busy ones after their current response. */
  closeIdleConnections(): void;
  /** Open client connections. */
  readonly connectionCount: number;
}

/** Our HTTP/1.1 server for the listener of `route`: every request goes through the forwarding core (./http1-server-exchange.ts). */
export function createHttp1Server(route: Route, options: Partial<Http1ServerOptions> = {}): Http1Server {
  const state: Http1ServerState = {
    route,
    options: {
      maxHeaderSize: options.maxHeaderSize ?? DEFAULT_HTTP1_SERVER_OPTIONS.maxHeaderSize,
      headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_HTTP1_SERVER_OPTIONS.headersTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEFAULT_HTTP1_SERVER_OPTIONS.keepAliveTimeoutMs,
    },
    hashNames: hashHeaderNames(route),
    connections: new Set(),
    closing: false,
  };
  return {
    handleConnection(socket, initialChunk) {
      new ServerConnection(state, socket).onData(initialChunk);
    },
    closeIdleConnections() {
      state.closing = true;
      for (const c of state.connections) c.closeIfIdle();
    },
    get connectionCount() {
      return state.connections.size;
    },
  };
}

/** The request fields the route's hash policy reads (header sources, and `cookie` for cookie sources), and its rate limit's key. */
function hashHeaderNames(route: Route): string[] {
  const names = new Set<string>(route.rateLimiter?.keyHeaderNames);
  // The session cookie (--session-cookie) is read from the cookie fields (WebSocket handshakes: ../forwarding/tunnel.ts).
  if (route.sessionCookie != null) names.add('cookie');
  for (const name of route.hashPolicy?.headerNames ?? []) names.add(name);
  return [...names];
}
