// A chunked request body that breaks its framing after part of it went
// upstream (lean engine: our HTTP/1.1 server forwards the body as it
// arrives). The forwarding core answers it like every proxy-generated error
// (one error response for every writer: 400 with x-ringside-error), the
// upstream connection that held half a request is destroyed, never pooled,
// and the client connection closes; the proxy serves on.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { waitFor } from './support/wait.ts';

interface RecordingUpstream {
  readonly key: string;
  /** Bytes received per connection, and whether that connection closed. */
  readonly conns: { bytes: string; closed: boolean }[];
  close(): Promise<void>;
}

/** An upstream that answers a bodiless GET with 200 and otherwise only records what it reads. */
async function recordingUpstream(): Promise<RecordingUpstream> {
  const conns: { bytes: string; closed: boolean }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const rec = { bytes: '', closed: false };
    conns.push(rec);
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      rec.closed = true;
      sockets.delete(socket);
    });
    socket.on('data', (d: Buffer) => {
      rec.bytes += d.toString('latin1');
      if (rec.bytes.startsWith('GET ') && rec.bytes.endsWith('\r\n\r\n')) {
        rec.bytes = '';
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    key: `127.0.0.1:${port}`,
    conns,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Send `text` on a new connection and read until the proxy closes it. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

let proxy: TestProxy | null = null;
let upstream: RecordingUpstream | null = null;
afterEach(async () => {
  if (proxy !== null) await stopWhenIdle(proxy.app);
  await upstream?.close();
  proxy = null;
  upstream = null;
});

describe('a chunked request body that turns malformed mid-way (lean engine)', () => {
  it("is answered by the core's error response (400, RS_ERR_BAD_REQUEST), the upstream connection is dropped, the client's closed", async () => {
    upstream = await recordingUpstream();
    proxy = await startProxy({ engine: 'lean', endpoints: [upstream.key] });
    const client = net.connect(proxy.port, '127.0.0.1');
    let answer = '';
    let ended = false;
    client.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    client.on('end', () => (ended = true));
    client.on('error', () => {});
    await new Promise<void>((r) => client.once('connect', () => r()));
    client.write('POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    // The head and the first chunk reach the upstream before the client sends anything wrong.
    await waitFor(() => upstream!.conns.length === 1 && upstream!.conns[0].bytes.endsWith('5\r\nhello\r\n'), 3000, 'first chunk upstream');
    expect(upstream.conns[0].bytes).toMatch(/^POST \/upload HTTP\/1\.1\r\n/);
    client.write('zz\r\nnot a chunk\r\n');
    await waitFor(() => ended, 3000, 'client connection closed');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\nx-ringside-error: RS_ERR_BAD_REQUEST\r\n/);
    expect(answer).toMatch(/\r\nconnection: close\r\n/);
    // Half a request on it: never reused.
    await waitFor(() => upstream!.conns[0].closed, 3000, 'upstream connection destroyed');
    client.destroy();

    // The proxy serves on (a new upstream connection for the next request).
    const next = await rawRequest(proxy.port, 'GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(next).toMatch(/^HTTP\/1\.1 200 /);
    expect(next.endsWith('\r\n\r\nok')).toBe(true);
    expect(upstream.conns.length).toBe(2);
  });
});
