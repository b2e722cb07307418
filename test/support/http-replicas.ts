// Real upstream replicas for tests: node:http (HTTP/1.1) and node:http2 (h2c)
// servers on loopback, each answering with its own name so tests can see
// where a request landed.

import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

export interface Replica {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, as ringside keys endpoints. */
  readonly key: string;
  /** Requests seen (one per HTTP/1.1 request or HTTP/2 stream). */
  requests: number;
  /** Last request's headers, for forwarding assertions. */
  lastHeaders: http.IncomingHttpHeaders | null;
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, replica: Replica) => void;

/** Default behaviour: `/echo` streams the request body back; anything else answers `NAME METHOD URL BODYBYTES`. */
export const defaultHandler: Handler = (req, res, replica) => {
  res.setHeader('x-replica', replica.name);
  if (req.url?.startsWith('/echo')) {
    (res as http.ServerResponse).writeHead(200, { 'content-type': 'application/octet-stream' });
    (req as NodeJS.ReadableStream).pipe(res as unknown as NodeJS.WritableStream);
    return;
  }
  let bytes = 0;
  req.on('data', (d: Buffer) => (bytes += d.length));
  req.on('end', () => res.end(`${replica.name} ${req.method} ${req.url} ${bytes}`));
};

export async function startHttpReplica(name: string, options: { host?: string; port?: number; handler?: Handler; h2c?: boolean } = {}): Promise<Replica> {
  const handler = options.handler ?? defaultHandler;
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const replica: Replica = {
    name,
    host,
    port: 0,
    key: '',
    requests: 0,
    lastHeaders: null,
    close: () => Promise.resolve(),
  };
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    replica.requests++;
    replica.lastHeaders = req.headers as http.IncomingHttpHeaders;
    handler(req, res, replica);
  };
  const server = options.h2c ? http2.createServer(onRequest) : http.createServer({ keepAliveTimeout: 30_000 }, onRequest);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(replica, {
    port,
    key: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  });
  return replica;
}

export async function startHttpReplicas(n: number, options: Parameters<typeof startHttpReplica>[1] = {}): Promise<Replica[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startHttpReplica(`r${i}`, options)));
}
