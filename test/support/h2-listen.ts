// An HTTP/2 test server on an ephemeral loopback port, with a close() that
// destroys the sessions still open first (a client's idle session would keep
// server.close() waiting).

import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export async function listenH2(server: http2.Http2Server): Promise<{ port: number; close: () => Promise<void> }> {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = (): Promise<void> =>
    new Promise<void>((r) => {
      for (const s of sessions) s.destroy();
      server.close(() => r());
    });
  return { port: (server.address() as AddressInfo).port, close };
}
