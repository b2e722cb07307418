// A raw HTTP/1.1 upstream on loopback for tests that need answers no real
// server gives (bytes after a complete response, odd trailer sections): each
// request head on a connection (bodiless requests, pipelined or kept alive)
// is handed to `respond`, which writes whatever bytes it likes.

import net, { type AddressInfo } from 'node:net';

export interface RawUpstream {
  readonly port: number;
  /** `127.0.0.1:PORT`, as ringside keys endpoints. */
  readonly key: string;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** `respond(head, socket)` for every request head (through the blank line's start: `METHOD PATH HTTP/1.1\r\n...`). */
export async function startRawUpstream(respond: (head: string, socket: net.Socket) => void): Promise<RawUpstream> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        respond(head, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    key: `127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
