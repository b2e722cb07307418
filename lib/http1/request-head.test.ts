import { describe, expect, it } from 'vitest';
import { HeadResult, parseRequestHead, RequestHead } from './request-head.ts';

function parse(text: string, hashNames: string[] = []): { result: number; head: RequestHead } {
  const head = new RequestHead();
  return { result: parseRequestHead(text, head, hashNames), head };
}

describe('parseRequestHead', () => {
  it('forwards a head without hop-by-hop fields as received', () => {
    const text = 'GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-User: u\r\n\r\n';
    const { result, head } = parse(text);
    expect(result).toBe(HeadResult.OK);
    expect(head.forward).toBe(text);
    expect([head.method, head.target, head.minor, head.keepAlive, head.contentLength, head.chunked]).toEqual(['GET', '/a?b=1', 1, true, -1, false]);
  });

  it('removes hop-by-hop fields and those named by Connection, keeps TE: trailers, re-adds chunked framing', () => {
    const { head } = parse(
      'POST /p HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\n' +
        'Proxy-Authorization: x\r\nUpgrade: h2c\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nX-Keep: k\r\n\r\n',
    );
    expect(head.forward).toBe('POST /p HTTP/1.1\r\nHost: svc\r\nTE: trailers\r\nX-Keep: k\r\ntransfer-encoding: chunked\r\n\r\n');
    expect(head.expectContinue).toBe(true);
    expect(head.chunked).toBe(true);
  });

  it('a protocol switch (WebSocket) is a tunnel: Upgrade goes upstream with connection: upgrade, other hop-by-hop fields do not', () => {
    const { result, head } = parse(
      'GET /chat?room=a HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, Upgrade, X-Hop\r\nX-Hop: h\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nKeep-Alive: 5\r\n\r\n',
    );
    expect(result).toBe(HeadResult.OK);
    expect(head.upgrade).toBe(true);
    expect(head.forward).toBe(
      'GET /chat?room=a HTTP/1.1\r\nHost: svc\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nconnection: upgrade\r\n\r\n',
    );
    // Upgrade without the Connection token is no switch: an ordinary request, its Upgrade dropped.
    const plain = parse('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').head;
    expect([plain.upgrade, plain.forward]).toEqual([false, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n']);
  });

  it('rewrites HTTP/1.0 to HTTP/1.1 and keeps it alive only when asked', () => {
    expect(parse('GET / HTTP/1.0\r\n\r\n').head).toMatchObject({ forward: 'GET / HTTP/1.1\r\n\r\n', keepAlive: false, hasHost: false, minor: 0 });
    expect(parse('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').head.keepAlive).toBe(true);
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').head.keepAlive).toBe(false);
  });

  it('collects the fields the hash policy reads, repeated ones as arrays', () => {
    const { head } = parse('GET / HTTP/1.1\r\nHost: a\r\nX-User: 1\r\nCookie: a=1\r\nx-user: 2\r\n\r\n', ['x-user', 'cookie']);
    expect(head.hashHeaders).toEqual({ 'x-user': ['1', '2'], cookie: 'a=1' });
  });

  it.each([
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', HeadResult.METHOD_NOT_ALLOWED],
    ['an h2c Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, http2-settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n', HeadResult.NOT_IMPLEMENTED],
    ['an Upgrade listing h2c among others', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket, h2c\r\n\r\n', HeadResult.NOT_IMPLEMENTED],
    ['an HTTP/1.0 Upgrade', 'GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n', HeadResult.NOT_IMPLEMENTED],
    ['two Upgrade fields', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nUpgrade: foo\r\n\r\n', HeadResult.NOT_IMPLEMENTED],
    ['an unknown expectation', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n', HeadResult.EXPECTATION_FAILED],
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', HeadResult.BAD_REQUEST],
    ['a leading-zero-free but huge Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999\r\n\r\n', HeadResult.BAD_REQUEST],
    ['Transfer-Encoding twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', HeadResult.BAD_REQUEST],
    ['a DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n', HeadResult.BAD_REQUEST],
    ['two spaces in the request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', HeadResult.BAD_REQUEST],
    ['a non-ASCII target', 'GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', HeadResult.BAD_REQUEST],
  ])('refuses %s', (_name, text, status) => {
    expect(parse(text).result).toBe(status);
  });
});
