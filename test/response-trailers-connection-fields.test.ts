// An HTTP/1.1 upstream's chunked response whose trailer section names
// connection fields (keep-alive, te, proxy-connection), to an HTTP/2
// client: those fields are not forwarded (RFC 9110 section 6.5.1, RFC 9113
// section 8.2.2), the rest are, and the response ends cleanly. node:http2
// threw on them from inside its 'wantTrailers' event: an uncaught exception
// that took the proxy down. Trailers node:http2 refuses for another reason (a
// repeated single-value field) reset the stream instead (compat); our HTTP/2
// server (lean) forwards them.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { type RawUpstream, startRawUpstream } from './support/raw-upstream.ts';

const TRAILERS: Record<string, string> = {
  '/connection-fields': 'x-sum: 1\r\nkeep-alive: timeout=5\r\nte: gzip\r\nproxy-connection: keep-alive\r\n',
  '/repeated-etag': 'etag: "a"\r\netag: "b"\r\n',
};

/** A chunked `ok` whose trailer section is the one TRAILERS names for the path. */
function startTrailerUpstream(): Promise<RawUpstream> {
  return startRawUpstream((head, socket) => {
    const path = head.split(' ')[1];
    socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n${TRAILERS[path] ?? ''}\r\n`);
  });
}

function get(session: http2.ClientHttp2Session, path: string): Promise<{ body: string; trailers: Record<string, unknown> | null; rstCode: number | undefined }> {
  return new Promise((resolve) => {
    const req = session.request({ ':path': path }, { endStream: true });
    const r = { body: '', trailers: null as Record<string, unknown> | null, rstCode: undefined as number | undefined };
    req.setEncoding('latin1');
    req.on('data', (d: string) => (r.body += d));
    req.on('trailers', (t) => (r.trailers = Object.fromEntries(Object.entries(t))));
    req.on('error', () => {});
    req.on('close', () => {
      r.rstCode = req.rstCode;
      resolve(r);
    });
  });
}

const ENGINES: readonly Engine[] = ['lean', 'compat'];

describe.each(ENGINES)('response trailers with connection fields, HTTP/1.1 upstream, HTTP/2 client (--engine %s)', (engine) => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    upstream = await startTrailerUpstream();
    proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${upstream.port}`], upstream: { protocol: 'http1' } });
  });
  afterAll(async () => {
    await stopWhenIdle(proxy.app);
    await upstream.close();
  });

  it('drops keep-alive, te and proxy-connection, forwards the rest, ends cleanly', async () => {
    const session = http2.connect(proxy.url);
    try {
      expect(await get(session, '/connection-fields')).toEqual({ body: 'ok', trailers: { 'x-sum': '1' }, rstCode: http2.constants.NGHTTP2_NO_ERROR });
    } finally {
      session.close();
    }
  });

  // node:http2 (compat) refuses a repeated single-value field in trailers and resets the stream; our
  // HTTP/2 server (lean) sends what HTTP/2 can carry (RFC 9113 allows a repeated field), and the stream ends cleanly.
  it('trailers node:http2 refuses (a repeated etag): reset on compat, forwarded on lean, and the proxy serves on', async () => {
    const session = http2.connect(proxy.url);
    try {
      const r = await get(session, '/repeated-etag');
      if (engine === 'compat') expect(r.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
      // (node:http2's client keeps the first value of a single-value field.)
      else expect(r).toMatchObject({ body: 'ok', rstCode: http2.constants.NGHTTP2_NO_ERROR, trailers: { etag: '"a"' } });
      expect(await get(session, '/connection-fields')).toMatchObject({ body: 'ok', rstCode: http2.constants.NGHTTP2_NO_ERROR });
    } finally {
      session.close();
    }
  });
});
