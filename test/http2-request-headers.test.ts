// The request fields an HTTP/2 client's stream sends upstream
// (lib/listener/http2-exchange.ts forwardHeaders): pseudo-headers and
// connection-specific fields dropped, :authority as Host, TE: trailers kept,
// repeated fields forwarded once, joined (cookie with "; ", RFC 9113 section
// 8.2.3), in the order the client sent them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';

/** An HTTP/1.1 upstream that answers 200 with each request head it received, verbatim, as the body. */
function startEchoHeadUpstream(): Promise<{ server: net.Server; sockets: Set<net.Socket>; key: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(head)}\r\n\r\n${head}`);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, sockets, key: `127.0.0.1:${(server.address() as net.AddressInfo).port}` })));
}

describe('HTTP/2 request fields sent upstream', () => {
  let upstream: Awaited<ReturnType<typeof startEchoHeadUpstream>>;
  let proxy: TestProxy;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    upstream = await startEchoHeadUpstream();
    proxy = await startProxy({ endpoints: [upstream.key], upstream: { protocol: 'http1' }, hashOn: [{ type: 'query', name: 'key', terminal: false }, { type: 'source_ip', terminal: false }] });
    session = http2.connect(proxy.url);
    session.on('error', () => {});
  });
  afterAll(async () => {
    session?.close();
    if (proxy) await stopWhenIdle(proxy.app);
    await new Promise((r) => {
      upstream?.server.close(r);
      for (const socket of upstream?.sockets ?? []) socket.destroy();
    });
  });

  function upstreamHead(headers: http2.OutgoingHttpHeaders): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const req = session.request(headers);
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve(body.split('\r\n')));
      req.on('error', reject);
    });
  }

  it('drops pseudo-headers, turns :authority into Host, keeps the client order', async () => {
    const lines = await upstreamHead({ ':path': '/a?key=1', ':authority': 'svc.test:8080', 'x-one': '1', accept: 'text/plain', 'x-two': '2' });
    expect(lines[0]).toBe('GET /a?key=1 HTTP/1.1');
    const fields = lines.slice(1).map((l) => l.toLowerCase());
    expect(fields.filter((l) => l.startsWith(':'))).toEqual([]);
    expect(fields).toContain('host: svc.test:8080');
    const order = ['x-one: 1', 'accept: text/plain', 'x-two: 2'].map((f) => fields.indexOf(f));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('forwards a repeated field once, joined; cookies with "; "', async () => {
    const lines = await upstreamHead({ ':path': '/b', 'x-rep': ['a', 'b', 'c'], cookie: ['k1=v1', 'k2=v2'], 'x-after': 'z' });
    const fields = lines.slice(1).map((l) => l.toLowerCase());
    expect(fields.filter((l) => l.startsWith('x-rep:'))).toEqual(['x-rep: a, b, c']);
    expect(fields.filter((l) => l.startsWith('cookie:'))).toEqual(['cookie: k1=v1; k2=v2']);
    expect(fields).toContain('x-after: z');
  });

  it('keeps TE: trailers and a value equal to another field name does not hide that field', async () => {
    const lines = await upstreamHead({ ':path': '/c', 'x-name': 'x-later', te: 'trailers', 'x-later': ['1', '2'] });
    const fields = lines.slice(1).map((l) => l.toLowerCase());
    expect(fields).toContain('te: trailers');
    expect(fields).toContain('x-name: x-later');
    expect(fields.filter((l) => l.startsWith('x-later:'))).toEqual(['x-later: 1, 2']);
  });
});
