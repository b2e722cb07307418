// How responses leave ringside on a client's HTTP/2 stream
// (lib/listener/http2-exchange.ts): a response that arrives whole ends with
// its last DATA frame (no trailers round trip, no extra empty DATA frame);
// trailers still reach the client, whether they come in the same upstream
// read as the head or long after it; a streamed head is not held back until
// the body ends; and an upstream head that node:http2 refuses to send does not
// take the proxy down.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import * as F from './support/h2-frames.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';

/** An h2c upstream whose answer depends on the path. */
function startH2Upstream(): Promise<{ server: http2.Http2Server; key: string }> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const path = headers[':path'] ?? '/';
    if (path.startsWith('/small')) {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok\n');
    } else if (path.startsWith('/empty')) {
      stream.respond({ ':status': 200 }, { endStream: true });
    } else if (path.startsWith('/trailers-now')) {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': 'abc' }));
      stream.end('body');
    } else if (path.startsWith('/slow')) {
      // Head and a first chunk now; the rest and the trailers 300 ms later.
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': 'late' }));
      stream.write('first,');
      setTimeout(() => stream.end('second'), 300);
    } else if (path.startsWith('/chunks')) {
      // Many DATA frames in one go: several chunks held with the head.
      stream.respond({ ':status': 200 });
      for (let i = 0; i < 20; i++) stream.write(Buffer.alloc(1000, 97 + (i % 26)));
      stream.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, key: `127.0.0.1:${(server.address() as net.AddressInfo).port}` })));
}

/** An HTTP/1.1 upstream that answers with a header HTTP/2 forbids (RFC 9113 section 8.2.2). */
function startBadHeadUpstream(): Promise<{ server: net.Server; sockets: Set<net.Socket>; key: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (!chunk.toString('latin1').startsWith('GET /slow')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nte: gzip\r\n\r\nok');
        return;
      }
      // The head now, the end of the body later: the head goes out at the end of the turn, not with the end.
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nte: gzip\r\n\r\nok');
      setTimeout(() => socket.writable && socket.write('ok'), 100);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, sockets, key: `127.0.0.1:${(server.address() as net.AddressInfo).port}` })));
}

interface Answer {
  status: number;
  body: string;
  trailers: Record<string, unknown> | null;
  headAt: number;
  endAt: number;
}

function request(session: http2.ClientHttp2Session, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = session.request({ ':path': path });
    const answer: Answer = { status: 0, body: '', trailers: null, headAt: 0, endAt: 0 };
    req.on('response', (h) => {
      answer.status = Number(h[':status']);
      answer.headAt = performance.now() - started;
    });
    req.on('trailers', (t) => (answer.trailers = { ...t }));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (answer.body += d));
    req.on('end', () => {
      answer.endAt = performance.now() - started;
      resolve(answer);
    });
    req.on('error', reject);
  });
}

describe('HTTP/2 response framing (h2c upstream)', () => {
  let upstream: Awaited<ReturnType<typeof startH2Upstream>>;
  let proxy: TestProxy;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    upstream = await startH2Upstream();
    proxy = await startProxy({ endpoints: [upstream.key], upstream: { protocol: 'h2c' } });
    session = http2.connect(proxy.url);
    session.on('error', () => {});
  });
  afterAll(async () => {
    session?.close();
    if (proxy) await stopWhenIdle(proxy.app);
    await new Promise((r) => upstream?.server.close(r));
  });

  it('ends a whole response with its last DATA frame: no empty DATA frame, no trailers', async () => {
    const conn = await F.connectRawH2(proxy.port);
    try {
      conn.write(F.headers(1, F.get('/small'), true));
      expect(await conn.waitFor((f) => f.streamId === 1 && (f.flags & F.Flags.END_STREAM) !== 0)).toBe(true);
      const frames = conn.frames.filter((f) => f.streamId === 1);
      expect(frames.map((f) => f.type)).toEqual([F.FrameType.HEADERS, F.FrameType.DATA]);
      expect(frames[1].payload.toString()).toBe('ok\n');
      expect(frames[1].flags & F.Flags.END_STREAM).toBe(F.Flags.END_STREAM);
      // An empty body: END_STREAM on the HEADERS frame itself.
      conn.write(F.headers(3, F.get('/empty'), true));
      expect(await conn.waitFor((f) => f.streamId === 3 && (f.flags & F.Flags.END_STREAM) !== 0)).toBe(true);
      expect(conn.frames.filter((f) => f.streamId === 3).map((f) => f.type)).toEqual([F.FrameType.HEADERS]);
    } finally {
      conn.destroy();
    }
  });

  it('forwards several held chunks in order', async () => {
    const a = await request(session, '/chunks');
    expect(a.status).toBe(200);
    let want = '';
    for (let i = 0; i < 20; i++) want += String.fromCharCode(97 + (i % 26)).repeat(1000);
    expect(a.body).toBe(want);
    expect(a.trailers).toBeNull();
  });

  it('forwards trailers that come with the head', async () => {
    const a = await request(session, '/trailers-now');
    expect(a).toMatchObject({ status: 200, body: 'body', trailers: { 'x-sum': 'abc' } });
  });

  it('sends a streamed head at once, and the trailers that come later', async () => {
    const a = await request(session, '/slow');
    expect(a).toMatchObject({ status: 200, body: 'first,second', trailers: { 'x-sum': 'late' } });
    // The head did not wait for the end of the body (300 ms later).
    expect(a.headAt).toBeLessThan(200);
    expect(a.endAt).toBeGreaterThanOrEqual(250);
  });

  it('answers many concurrent streams on one connection', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => request(session, i % 2 ? `/small/${i}` : `/trailers-now/${i}`)));
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      if (i % 2) expect(a).toMatchObject({ body: 'ok\n', trailers: null });
      else expect(a).toMatchObject({ body: 'body', trailers: { 'x-sum': 'abc' } });
    }
  });
});

describe('HTTP/2 client, HTTP/1.1 upstream head that HTTP/2 cannot carry', () => {
  let upstream: Awaited<ReturnType<typeof startBadHeadUpstream>>;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startBadHeadUpstream();
    proxy = await startProxy({ endpoints: [upstream.key], upstream: { protocol: 'http1' } });
  });
  afterAll(async () => {
    if (proxy) await stopWhenIdle(proxy.app);
    await new Promise((r) => {
      upstream?.server.close(r);
      for (const socket of upstream?.sockets ?? []) socket.destroy();
    });
  });

  it('fails that stream only, and the proxy keeps serving', async () => {
    const session = http2.connect(proxy.url);
    session.on('error', () => {});
    try {
      for (let i = 0; i < 4; i++) {
        const outcome = await request(session, i % 2 ? `/slow/${i}` : `/bad/${i}`).then(
          (a) => a.status,
          (err: NodeJS.ErrnoException) => err.code,
        );
        // Nothing went out yet: a proxy-made 502, never a 200 with a forbidden header.
        expect(outcome).toBe(502);
      }
      expect(session.destroyed).toBe(false);
    } finally {
      session.close();
    }
  });
});
