// Raw bytes to a server on loopback, for tests that must send what no HTTP
// client library would (malformed heads, pipelines, split framing).

import net from 'node:net';

/** Write `bytes`; resolve with everything read (latin1) until the server closes, or after `waitMs`. */
export function sendRaw(port: number, bytes: string | Buffer, waitMs = 500): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, closed: false });
    }, waitMs);
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}
