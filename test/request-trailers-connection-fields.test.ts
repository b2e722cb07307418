// An HTTP/1.1 client's chunked trailer section that names connection fields
// (te, keep-alive, ...) on its way to an h2c upstream: those fields are never
// forwarded (RFC 9110 section 6.5.1, RFC 9113 section 8.2.2), the others are,
// and the proxy answers. On --engine compat node:http2 threw on such a field
// from inside its 'wantTrailers' event: an uncaught exception.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startProxy, type TestProxy } from './support/proxy.ts';
import { sendRaw } from './support/raw-http.ts';

describe.each(ENGINES)('request trailers with connection fields, HTTP/1.1 client, h2c upstream (--engine %s)', (engine) => {
  let server: http2.Http2Server;
  let proxy: TestProxy;
  let trailers: Record<string, unknown> | null = null;

  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (s) => {
      s.on('error', () => {});
      s.on('trailers', (t) => (trailers = Object.fromEntries(Object.entries(t))));
      s.resume();
      s.on('end', () => {
        s.respond({ ':status': 200 });
        s.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${(server.address() as AddressInfo).port}`], upstream: { protocol: 'h2c' } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise((r) => server?.close(r));
  });

  it('drops te and keep-alive, forwards the rest, answers 200', async () => {
    trailers = null;
    const r = await sendRaw(proxy.port, 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-ok: 1\r\nte: gzip\r\nkeep-alive: 5\r\n\r\n', 800);
    expect(r.data).toMatch(/^HTTP\/1.1 200/);
    expect(trailers).toEqual({ 'x-ok': '1' });
  });
});
