// An HTTP/1.1 upstream that sends more than its response (a body on a HEAD or
// 204 response, or stray bytes after the body, in the same write): the
// response is complete and reaches the client whole; the connection is not
// reused (the extra bytes could be read as the next response). Whether the
// extra bytes arrive in the same read as the response or a later one must not
// change the client's answer.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { type RawUpstream, startRawUpstream } from './support/raw-upstream.ts';

/** Each request gets its answer in one write. */
function startRawUpstreamWithExtras(): Promise<RawUpstream> {
  return startRawUpstream((head, socket) => {
    const [method, path] = head.split(' ');
    if (path === '/head-with-body' && method === 'HEAD') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
    else if (path === '/204-with-body') socket.write('HTTP/1.1 204 No Content\r\n\r\nhello');
    else if (path === '/crlf-after-body') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello\r\n');
    else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
}

function request(session: http2.ClientHttp2Session, method: string, path: string): Promise<{ status: number; body: string; error: string | null }> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': method, ':path': path }, { endStream: true });
    const r = { status: 0, body: '', error: null as string | null };
    req.on('response', (h) => (r.status = Number(h[':status'])));
    req.setEncoding('latin1');
    req.on('data', (d: string) => (r.body += d));
    req.on('error', (err) => (r.error = err.message));
    req.on('close', () => {
      if (r.error === null && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) r.error = `reset ${req.rstCode}`;
      resolve(r);
    });
  });
}

/** Requests the proxy answered or ended with an error of its own (its /metrics), all reasons. */
async function proxyErrors(proxy: TestProxy): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  let n = 0;
  for (const l of text.split('\n')) if (l.startsWith('ringside_proxy_errors_total{')) n += Number(l.slice(l.lastIndexOf(' ') + 1));
  return n;
}

const ENGINES: readonly Engine[] = ['lean', 'compat'];

describe.each(ENGINES)('an HTTP/1.1 upstream sends bytes after its response, HTTP/2 client (--engine %s)', (engine) => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    upstream = await startRawUpstreamWithExtras();
    proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${upstream.port}`], upstream: { protocol: 'http1' } });
  });
  afterAll(async () => {
    await stopWhenIdle(proxy.app);
    await upstream.close();
  });

  // A stray CRLF after a body may be skipped and the connection kept (undici's parser does); other bytes may not.
  it.each([
    ['HEAD', '/head-with-body', 200, '', true],
    ['GET', '/204-with-body', 204, '', true],
    ['GET', '/crlf-after-body', 200, 'hello', false],
  ] as const)('%s %s: the response, complete, counted as no error', async (method, path, status, body, newConnection) => {
    const session = http2.connect(proxy.url);
    try {
      const errors = await proxyErrors(proxy);
      expect(await request(session, method, path)).toEqual({ status, body, error: null });
      expect(await proxyErrors(proxy)).toBe(errors);
      const after = upstream.connections();
      expect(await request(session, 'GET', '/ok')).toEqual({ status: 200, body: 'ok', error: null });
      if (newConnection) expect(upstream.connections()).toBe(after + 1);
    } finally {
      session.close();
    }
  });
});
