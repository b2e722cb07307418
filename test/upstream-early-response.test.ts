// An upstream that answers before it has read the whole request body (a 413,
// a 401, an early reply to an upload): the response reaches the client, and
// the upstream request does not stay open afterwards.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startProxy, type TestProxy } from './support/proxy.ts';
import { sleep, waitFor } from './support/wait.ts';

/** h2c upstream: reads nothing, answers 413 after 200 ms with END_STREAM, and counts its streams still open. */
async function startH2cUpstream(): Promise<{ port: number; open: () => number; close(): Promise<void> }> {
  const server = http2.createServer();
  const sessions = new Set<http2.Http2Session>();
  let open = 0;
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream) => {
    open++;
    stream.on('error', () => {});
    stream.on('close', () => open--);
    stream.pause();
    setTimeout(() => {
      stream.respond({ ':status': 413, 'content-type': 'text/plain' });
      stream.end('too large');
      // Read (and drop) what comes now: the stream closes once the proxy ended or reset its side.
      stream.resume();
    }, 200);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

describe.each(ENGINES)('an h2c upstream answers before reading the request body (--engine %s)', (engine) => {
  let upstream: Awaited<ReturnType<typeof startH2cUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    upstream = await startH2cUpstream();
    proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${upstream.port}`], upstream: { protocol: 'h2c' } });
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  it('the client gets the answer and its stream closes; no upstream stream stays open', async () => {
    const session = http2.connect(proxy.url);
    session.on('error', () => {});
    try {
      const got = await new Promise<{ status: number; body: string; closed: boolean }>((resolve) => {
        const req = session.request({ ':method': 'POST', ':path': '/upload' });
        const r = { status: 0, body: '', closed: false };
        req.on('response', (h) => (r.status = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (d: string) => (r.body += d));
        req.on('error', () => {});
        req.on('close', () => {
          r.closed = true;
          resolve(r);
        });
        setTimeout(() => resolve(r), 3000);
        req.end(Buffer.alloc(4 << 20, 1));
      });
      expect(got).toEqual({ status: 413, body: 'too large', closed: true });
      await sleep(100);
      await waitFor(() => upstream.open() === 0, 2000, 'upstream streams closed');
    } finally {
      session.destroy();
    }
  });
});
