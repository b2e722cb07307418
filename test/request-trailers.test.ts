// Request trailers (RFC 9110 section 6.5) reach the upstream on every engine
// and protocol combination: an HTTP/2 client's trailing HEADERS frame and an
// HTTP/1.1 client's chunked trailer section, forwarded to an HTTP/1.1
// upstream (in a chunked trailer section) and to an h2c upstream (in a
// trailing HEADERS frame), after a 1 MiB body checked by sha256.
// An HTTP/2 request that declared its length goes to an HTTP/1.1 upstream with
// that Content-Length, so trailers that arrive anyway cannot follow: they are
// dropped and counted (ringside_request_trailers_dropped_total).

import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { createLogger } from '../lib/log/logger.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';

const BODY = Buffer.alloc(1 << 20);
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 7 + (i >> 12)) & 0xff;
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

/** What an upstream saw, sent back to the client as the response body. */
interface Seen {
  protocol: string;
  bytes: number;
  sha: string;
  trailers: Record<string, string>;
  contentLength: string | null;
  transferEncoding: string | null;
}

function trailerFields(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (!k.startsWith(':') && v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function startHttp1Upstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const seen: Seen = {
        protocol: 'http1',
        bytes,
        sha: hash.digest('hex'),
        trailers: trailerFields(req.trailers),
        contentLength: req.headers['content-length'] ?? null,
        transferEncoding: req.headers['transfer-encoding'] ?? null,
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(seen));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function startH2cUpstream(): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let trailers: Record<string, string> = {};
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => (trailers = trailerFields(t)));
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.on('end', () => {
      const seen: Seen = {
        protocol: 'h2c',
        bytes,
        sha: hash.digest('hex'),
        trailers,
        contentLength: (headers['content-length'] as string | undefined) ?? null,
        transferEncoding: null,
      };
      if (!stream.destroyed) stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify(seen));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** POST the 1 MiB body over HTTP/2 and send `x-req-trailer: yes` (and `extra`) after it. */
async function postHttp2(port: number, withLength: boolean, extra: Record<string, string> = {}, headExtra: Record<string, string> = {}): Promise<{ status: number; seen: Seen }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const head: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': '/upload', 'content-type': 'application/octet-stream' };
      if (withLength) head['content-length'] = String(BODY.length);
      Object.assign(head, headExtra);
      const req = client.request(head, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 'yes', 'x-req-sum': BODY_SHA.slice(0, 8), ...extra }));
      let status = 0;
      const chunks: Buffer[] = [];
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          resolve({ status, seen: JSON.parse(Buffer.concat(chunks).toString()) as Seen });
        } catch (err) {
          reject(new Error(`status ${status}, body ${Buffer.concat(chunks).toString().slice(0, 200)}`, { cause: err }));
        }
      });
      req.on('error', reject);
      // In 64 KiB writes, so the body streams rather than arriving in one piece.
      for (let i = 0; i < BODY.length; i += 65536) req.write(BODY.subarray(i, i + 65536));
      req.end();
    });
  } finally {
    client.close();
  }
}

/** POST the 1 MiB body over HTTP/1.1 chunked with a trailer section, on a raw socket. */
function postChunked(port: number): Promise<{ status: number; seen: Seen }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(received).toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const status = Number(text.slice(9, 12));
      let body = text.slice(headEnd + 4);
      if (/\r\ntransfer-encoding: *chunked/i.test(text.slice(0, headEnd))) {
        let out = '';
        for (let at = 0; ; ) {
          const lineEnd = body.indexOf('\r\n', at);
          const size = parseInt(body.slice(at, lineEnd), 16);
          if (!(size > 0)) break;
          out += body.slice(lineEnd + 2, lineEnd + 2 + size);
          at = lineEnd + 2 + size + 2;
        }
        body = out;
      }
      try {
        resolve({ status, seen: JSON.parse(body) as Seen });
      } catch (err) {
        reject(new Error(`response: ${text.slice(0, 300)}`, { cause: err }));
      }
    });
    socket.write('POST /upload HTTP/1.1\r\nHost: trailers.test\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nTrailer: x-req-trailer\r\nConnection: close\r\n\r\n');
    for (let i = 0; i < BODY.length; i += 65536) {
      const chunk = BODY.subarray(i, i + 65536);
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      socket.write('\r\n');
    }
    socket.write(`0\r\nx-req-trailer: yes\r\nx-req-sum: ${BODY_SHA.slice(0, 8)}\r\n\r\n`);
  });
}

async function metric(proxy: TestProxy, name: string): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{upstream="default"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const ENGINES: readonly Engine[] = ['lean', 'compat'];
const PROTOCOLS = ['http1', 'h2c'] as const;
const EXPECTED_TRAILERS = { 'x-req-trailer': 'yes', 'x-req-sum': BODY_SHA.slice(0, 8) };

describe('request trailers', () => {
  let h1: http.Server;
  let h2: http2.Http2Server;
  const proxies = new Map<string, TestProxy>();
  /** Debug log lines of every proxy (request logs included). */
  const logLines: string[] = [];
  const logger = createLogger('debug', (line) => void logLines.push(line));

  beforeAll(async () => {
    h1 = await startHttp1Upstream();
    h2 = await startH2cUpstream();
    for (const engine of ENGINES) {
      for (const protocol of PROTOCOLS) {
        const upstreamPort = ((protocol === 'http1' ? h1 : h2).address() as AddressInfo).port;
        proxies.set(`${engine}/${protocol}`, await startProxy({ engine, endpoints: [`127.0.0.1:${upstreamPort}`], upstream: { protocol }, logger }));
      }
      // `auto` in front of an h2c-only replica: HTTP/1.1 requests learn it and go over h2c (on lean, through the forwarding core, which resends them over h2c).
      const h2Port = (h2.address() as AddressInfo).port;
      proxies.set(`${engine}/auto-h2c`, await startProxy({ engine, endpoints: [`127.0.0.1:${h2Port}`], upstream: { protocol: 'auto' }, logger }));
    }
  });

  afterAll(async () => {
    for (const proxy of proxies.values()) await stopWhenIdle(proxy.app);
    h2.close();
    await new Promise((r) => h1.close(r));
  });

  for (const engine of ENGINES) {
    for (const protocol of PROTOCOLS) {
      it(`HTTP/2 client, ${protocol} upstream, ${engine}: the body and its trailers arrive`, async () => {
        const { status, seen } = await postHttp2(proxies.get(`${engine}/${protocol}`)!.port, false);
        expect(status).toBe(200);
        expect(seen.protocol).toBe(protocol);
        expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
        expect(seen.trailers).toEqual(EXPECTED_TRAILERS);
        // No length declared: to HTTP/1.1 it goes chunked, so the trailers can follow.
        if (protocol === 'http1') expect({ te: seen.transferEncoding, cl: seen.contentLength }).toEqual({ te: 'chunked', cl: null });
      });

      it(`HTTP/1.1 chunked client, ${protocol} upstream, ${engine}: the body and its trailers arrive`, async () => {
        const { status, seen } = await postChunked(proxies.get(`${engine}/${protocol}`)!.port);
        expect(status).toBe(200);
        expect(seen.protocol).toBe(protocol);
        expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
        expect(seen.trailers).toEqual(EXPECTED_TRAILERS);
      });
    }

    it(`HTTP/1.1 chunked client, auto in front of an h2c-only upstream, ${engine}: the body and its trailers arrive over h2c`, async () => {
      // A small first request learns that the replica speaks only h2c (a 1 MiB first body is over --retry-buffer and could not be sent again).
      const port = proxies.get(`${engine}/auto-h2c`)!.port;
      const learned = await new Promise<number>((resolve, reject) => http.get({ port, host: '127.0.0.1', path: '/learn', agent: false }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0))).on('error', reject));
      expect(learned).toBe(200);
      for (let i = 0; i < 2; i++) {
        const { status, seen } = await postChunked(proxies.get(`${engine}/auto-h2c`)!.port);
        expect(status).toBe(200);
        expect(seen.protocol).toBe('h2c');
        expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
        expect(seen.trailers).toEqual(EXPECTED_TRAILERS);
      }
    });

    it(`HTTP/2 client with content-length that announces its trailers (trailer field, as nghttp --trailer sends), http1 upstream, ${engine}: answered, trailers dropped`, async () => {
      const { status, seen } = await postHttp2(proxies.get(`${engine}/http1`)!.port, true, {}, { trailer: 'x-req-trailer, x-req-sum' });
      expect(status).toBe(200);
      expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
      expect(seen.trailers).toEqual({});
    });

    it(`HTTP/2 client with content-length, http1 upstream, ${engine}: length kept, trailers dropped and counted`, async () => {
      const proxy = proxies.get(`${engine}/http1`)!;
      const before = await metric(proxy, 'ringside_request_trailers_dropped_total');
      logLines.length = 0;
      const { status, seen } = await postHttp2(proxy.port, true);
      expect(status).toBe(200);
      expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
      expect({ te: seen.transferEncoding, cl: seen.contentLength }).toEqual({ te: null, cl: String(BODY.length) });
      expect(seen.trailers).toEqual({});
      expect(await metric(proxy, 'ringside_request_trailers_dropped_total')).toBe(before + 1);
      const dropped = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request trailers dropped');
      expect(dropped).toHaveLength(1);
      expect(dropped[0]).toMatchObject({ level: 'debug', trailers: 'x-req-trailer, x-req-sum' });
    });

    it(`HTTP/2 client, h2c upstream, ${engine}: a trailer block larger than one frame (HEADERS + CONTINUATION) arrives whole`, async () => {
      const big = 'v'.repeat(40_000); // past the 16 KiB default SETTINGS_MAX_FRAME_SIZE
      const { status, seen } = await postHttp2(proxies.get(`${engine}/h2c`)!.port, false, { 'x-big': big });
      expect(status).toBe(200);
      expect({ bytes: seen.bytes, sha: seen.sha }).toEqual({ bytes: BODY.length, sha: BODY_SHA });
      expect(seen.trailers).toEqual({ ...EXPECTED_TRAILERS, 'x-big': big });
    });

    it(`HTTP/2 client with content-length, h2c upstream, ${engine}: length and trailers both kept`, async () => {
      const { status, seen } = await postHttp2(proxies.get(`${engine}/h2c`)!.port, true);
      expect(status).toBe(200);
      expect({ bytes: seen.bytes, sha: seen.sha, cl: seen.contentLength }).toEqual({ bytes: BODY.length, sha: BODY_SHA, cl: String(BODY.length) });
      expect(seen.trailers).toEqual(EXPECTED_TRAILERS);
    });
  }
});
