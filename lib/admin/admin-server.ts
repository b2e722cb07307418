// Serves the admin app over HTTP/1.1 with @hono/node-server, and closes it
// cleanly: stop accepting, end idle keep-alive sockets, wait for the rest.

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

export interface AdminServer {
  /** The bound port (the real one when asked for port 0). */
  readonly port: number;
  /** Resolves once every socket is closed. */
  close(): Promise<void>;
}

export interface AdminListen {
  readonly host: string;
  readonly port: number;
}

/** Requests still running this long after close() get their sockets cut. */
const CLOSE_GRACE_MS = 5_000;

export function startAdminServer(app: Hono, listen: AdminListen): Promise<AdminServer> {
  const server = createAdaptorServer({
    fetch: app.fetch,
    // By default @hono/node-server replaces the global Request/Response with
    // its own; the admin shares the process with the proxy, so leave them be.
    overrideGlobalObjects: false,
  }) as Server;
  // A scrape or a status page is small: bound how long a slow client may hold a socket.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      let closing: Promise<void> | null = null;
      resolve({
        port,
        close() {
          closing ??= new Promise<void>((done, fail) => {
            const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
            force.unref();
            server.close((error) => {
              clearTimeout(force);
              if (error) fail(error);
              else done();
            });
            server.closeIdleConnections();
          });
          return closing;
        },
      });
    });
  });
}
