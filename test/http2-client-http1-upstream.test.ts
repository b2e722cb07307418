// HTTP/2 clients of HTTP/1.1 upstreams: on --engine lean they go through the
// lean keep-alive pool (lib/http1/http1-dispatcher.ts), on compat through
// undici's Pool or node:http's client (lib/upstream/node-http1-client.ts).
// What each must keep: keep-alive reuse, response trailers of a chunked
// response, connect failures retried (even for a POST: it never reached the
// upstream), a response cut short seen as a reset, and large bodies both
// ways intact under backpressure.

import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { unusedPort } from './support/wait.ts';

const BIG = Buffer.alloc(8 << 20);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 13 + (i >> 10)) & 0xff;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BIG_SHA = sha(BIG);

let connections = 0;
/** When the upstream started reading the held upload (/hold), ms since the epoch. */
let holdResumedAt = 0;

function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/hold') {
      // Read nothing for 800 ms: the proxy must stop taking the client's body meanwhile.
      req.pause();
      setTimeout(() => {
        holdResumedAt = Date.now();
        req.resume();
      }, 800);
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      switch (req.url) {
        case '/trailers':
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-resp-sum' });
          res.write('part one, ');
          res.addTrailers({ 'x-resp-sum': 'abc123' });
          res.end('part two');
          return;
        case '/big':
          res.writeHead(200, { 'content-length': BIG.length });
          res.end(BIG);
          return;
        case '/close':
          // The whole body, then the upstream closes the connection (not a keep-alive one).
          res.writeHead(200, { 'content-length': BIG.length, connection: 'close' });
          res.end(BIG);
          return;
        case '/cut':
          // Half of the declared body, then the connection closes.
          res.writeHead(200, { 'content-length': 100_000 });
          res.write(Buffer.alloc(50_000, 'a'), () => res.socket?.destroy());
          return;
        case '/hold':
          break;
        case '/slow-reader':
          // Read the upload late, so the proxy has to hold the client back.
          req.pause();
          setTimeout(() => req.resume(), 300);
          break;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes: body.length, sha: sha(body) }));
    });
  });
  server.on('connection', () => connections++);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
  error: string | null;
}

/** One request on `session`; a slow reader pauses after every chunk for `readDelayMs`. */
function request(session: http2.ClientHttp2Session, method: string, path: string, body: Buffer | null, readDelayMs = 0): Promise<Answer> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': method, ':path': path });
    const answer: Answer = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: {}, error: null };
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      answer.status = Number(h[':status']);
      answer.headers = h;
    });
    req.on('trailers', (t) => (answer.trailers = t));
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      if (readDelayMs > 0) {
        req.pause();
        setTimeout(() => req.resume(), readDelayMs);
      }
    });
    req.on('error', (err) => (answer.error = err.message));
    req.on('close', () => {
      answer.body = Buffer.concat(chunks);
      if (answer.error === null && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) answer.error = `reset ${req.rstCode}`;
      resolve(answer);
    });
    if (body !== null) {
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
    }
    req.end();
  });
}

const ENGINES: readonly Engine[] = ['lean', 'compat'];

describe('HTTP/2 clients of HTTP/1.1 upstreams', () => {
  let upstream: http.Server;
  let upstreamKey: string;
  const proxies = new Map<Engine, TestProxy>();

  beforeAll(async () => {
    upstream = await startUpstream();
    upstreamKey = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    for (const engine of ENGINES) proxies.set(engine, await startProxy({ engine, endpoints: [upstreamKey], upstream: { protocol: 'http1' } }));
  });

  afterAll(async () => {
    for (const proxy of proxies.values()) await stopWhenIdle(proxy.app);
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });

  for (const engine of ENGINES) {
    describe(engine, () => {
      it('sends the chunked response trailers on to the client', async () => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          const a = await request(session, 'GET', '/trailers', null);
          expect({ status: a.status, body: a.body.toString(), error: a.error }).toEqual({ status: 200, body: 'part one, part two', error: null });
          expect(a.trailers['x-resp-sum']).toBe('abc123');
        } finally {
          session.close();
        }
      });

      it('reuses one upstream connection for sequential requests', async () => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          // compat keeps two pools (undici's for bodiless requests, node:http's for bodies): warm both.
          await request(session, 'GET', '/warm', null);
          await request(session, 'POST', '/warm', Buffer.from('warm'));
          const before = connections;
          for (let i = 0; i < 20; i++) {
            const a = await request(session, i % 2 === 0 ? 'GET' : 'POST', '/seq', i % 2 === 0 ? null : Buffer.from(`body ${i}`));
            expect(a.status).toBe(200);
          }
          expect(connections - before).toBe(0);
        } finally {
          session.close();
        }
      });

      // A POST has a body: on compat it goes through node:http's client, a GET through undici's Pool.
      it.each(['GET', 'POST'])('delivers an 8 MiB response intact to a slow reader (%s)', async (method) => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          const a = await request(session, method, '/big', method === 'POST' ? Buffer.from('send it') : null, 1);
          expect({ status: a.status, error: a.error, bytes: a.body.length }).toEqual({ status: 200, error: null, bytes: BIG.length });
          expect(sha(a.body)).toBe(BIG_SHA);
        } finally {
          session.close();
        }
      });

      // The upstream sends all of it and closes at once, while the proxy still holds part of it for the slow reader:
      // the close after a complete response is no failure (node:http's client emits the request's 'close' before the paused response's 'end').
      it.each(['GET', 'POST'])('delivers a response followed by connection: close intact to a slow reader (%s)', async (method) => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          const a = await request(session, method, '/close', method === 'POST' ? Buffer.from('send it') : null, 1);
          expect({ status: a.status, error: a.error, bytes: a.body.length }).toEqual({ status: 200, error: null, bytes: BIG.length });
          expect(sha(a.body)).toBe(BIG_SHA);
        } finally {
          session.close();
        }
      });

      it('uploads an 8 MiB body intact to an upstream that reads late', async () => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          const a = await request(session, 'POST', '/slow-reader', BIG);
          expect({ status: a.status, error: a.error }).toEqual({ status: 200, error: null });
          expect(JSON.parse(a.body.toString())).toEqual({ bytes: BIG.length, sha: BIG_SHA });
        } finally {
          session.close();
        }
      });

      it('holds the client back while the upstream does not read (32 MiB upload)', async () => {
        const body = Buffer.alloc(32 << 20, 7);
        holdResumedAt = 0;
        // A fresh upstream connection: Linux grows a socket's receive buffer (up to
        // tcp_rmem's max, 32 MiB here) as the application reads, so a connection
        // that already carried a large upload could take this whole body into the
        // kernel while the upstream reads nothing.
        const own = await startUpstream();
        const proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${(own.address() as AddressInfo).port}`], upstream: { protocol: 'http1' } });
        const session = http2.connect(proxy.url);
        try {
          const req = session.request({ ':method': 'POST', ':path': '/hold' });
          let finishedAt = 0;
          // 'finish': node:http2 handed the last byte over, which it does only as the proxy grants flow-control window.
          req.on('finish', () => (finishedAt = Date.now()));
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          const closed = new Promise<void>((resolve) => req.on('close', resolve));
          req.end(body);
          await closed;
          expect(JSON.parse(Buffer.concat(chunks).toString()).bytes).toBe(body.length);
          expect(holdResumedAt).toBeGreaterThan(0);
          expect(finishedAt).toBeGreaterThanOrEqual(holdResumedAt);
        } finally {
          session.close();
          await stopWhenIdle(proxy.app);
          own.closeAllConnections();
          await new Promise((r) => own.close(r));
        }
      });

      it.each(['GET', 'POST'])('resets the stream when the upstream closes before the body is complete (%s)', async (method) => {
        const session = http2.connect(proxies.get(engine)!.url);
        try {
          const a = await request(session, method, '/cut', method === 'POST' ? Buffer.from('cut it') : null);
          expect(a.status).toBe(200);
          expect(a.error).not.toBeNull();
          expect(a.body.length).toBeLessThan(100_000);
        } finally {
          session.close();
        }
      });
    });
  }

  it('retries a POST whose endpoint refused the connection (lean), and a refused endpoint alone gives 502 RS_ERR_CONNECT_FAILED', async () => {
    const refusing = `127.0.0.1:${await unusedPort()}`;
    const proxy = await startProxy({ engine: 'lean', endpoints: [refusing, upstreamKey], upstream: { protocol: 'http1', lb: 'round_robin' } });
    const alone = await startProxy({ engine: 'lean', endpoints: [refusing], upstream: { protocol: 'http1' } });
    const session = http2.connect(proxy.url);
    const aloneSession = http2.connect(alone.url);
    try {
      for (let i = 0; i < 6; i++) {
        const a = await request(session, 'POST', '/post', Buffer.from(`payload ${i}`));
        expect({ status: a.status, error: a.error }).toEqual({ status: 200, error: null });
        expect(JSON.parse(a.body.toString()).bytes).toBe(`payload ${i}`.length);
      }
      const b = await request(aloneSession, 'POST', '/post', Buffer.from('x'));
      expect(b.status).toBe(502);
      expect(b.headers['x-ringside-error']).toBe('RS_ERR_CONNECT_FAILED');
    } finally {
      session.close();
      aloneSession.close();
      await stopWhenIdle(proxy.app);
      await stopWhenIdle(alone.app);
    }
  });
});
