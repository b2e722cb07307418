// A client that reads its response slowly must still get all of it, and a
// response the upstream cut short must never reach the client as complete
// (issue 18 part 2). With undici's H2CClient, --engine compat's former h2c
// client, a response whose trailers arrived while the client was not reading
// lost whatever DATA was still buffered: the client got the first ~64 KiB and
// then the trailers (grpc-status 0), every time with a paused reader.
//
// Slow readers: grpc-js with a paused server-streaming call; node:http2 with a
// small flow-control window (8 KiB) and the stream paused; node:http with the
// response paused. Every engine, h2c upstream, HTTP/2 and HTTP/1.1 clients.
// Each case runs a few times (bounded): the loss depended on timing.

import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { createEchoClient, type EchoReply, grpc, startGrpcReplica, type GrpcReplica } from './support/grpc-replicas.ts';
import { ENGINES, startProxy, type TestProxy } from './support/proxy.ts';

const ROUNDS = 4;
const PAUSE_MS = 250;
const BODY = 200_000;

/**
 * An h2c upstream: `/trailers` sends BODY bytes in 9,000-byte writes and then
 * trailers (`/trailers?cl` with a content-length); `/cut` sends a head
 * (promising BODY bytes unless gRPC-shaped), 1,000 bytes, and then drops the connection.
 */
async function startUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http2.createServer();
  const sessions = new Set<http2.Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const path = headers[':path'] ?? '';
    stream.on('error', () => {});
    const grpcShaped = headers['content-type'] === 'application/grpc';
    const head: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': grpcShaped ? 'application/grpc' : 'application/octet-stream' };
    if (path.startsWith('/cut')) {
      // A gRPC response has no content-length: only the lost connection says it was cut.
      stream.respond(grpcShaped ? head : { ...head, 'content-length': BODY });
      stream.write(Buffer.alloc(1000, 1));
      setTimeout(() => stream.session?.socket.destroy(), 50);
      return;
    }
    if (path.endsWith('?cl')) head['content-length'] = BODY;
    stream.respond(head, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(grpcShaped ? { 'grpc-status': '0' } : { 'x-checksum': 'done' }));
    const body = Buffer.alloc(BODY, 7);
    for (let o = 0; o < BODY; o += 9000) stream.write(body.subarray(o, Math.min(BODY, o + 9000)));
    stream.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

let upstream: Awaited<ReturnType<typeof startUpstream>>;
let replica: GrpcReplica;
const proxies = new Map<Engine, TestProxy>();
const grpcProxies = new Map<Engine, TestProxy>();

beforeAll(async () => {
  upstream = await startUpstream();
  replica = await startGrpcReplica('g0');
  for (const engine of ENGINES) {
    proxies.set(engine, await startProxy({ endpoints: [`127.0.0.1:${upstream.port}`], engine, upstream: { protocol: 'h2c' } }));
    grpcProxies.set(engine, await startProxy({ endpoints: [replica.key], engine, upstream: { protocol: 'h2c' } }));
  }
});

afterAll(async () => {
  for (const p of [...proxies.values(), ...grpcProxies.values()]) await p.stop();
  await upstream?.close();
  await replica?.close();
});

interface H2Result {
  bytes: number;
  trailers: http2.IncomingHttpHeaders | null;
  rstCode: number | undefined;
  ended: boolean;
}

/** GET through `proxy` over HTTP/2 with an 8 KiB window, not reading for PAUSE_MS. */
async function slowH2Get(proxy: TestProxy, path: string, grpcShaped: boolean): Promise<H2Result> {
  const session = http2.connect(proxy.url, { settings: { initialWindowSize: 8192 } });
  session.on('error', () => {});
  try {
    return await new Promise<H2Result>((resolve) => {
      const headers: http2.OutgoingHttpHeaders = { ':path': path, te: 'trailers' };
      if (grpcShaped) headers['content-type'] = 'application/grpc';
      const req = session.request(headers, { endStream: true });
      const result: H2Result = { bytes: 0, trailers: null, rstCode: undefined, ended: false };
      req.on('error', () => {});
      req.on('trailers', (t) => (result.trailers = t));
      req.on('end', () => (result.ended = true));
      req.pause();
      setTimeout(() => {
        req.on('data', (d: Buffer) => (result.bytes += d.length));
        req.resume();
      }, PAUSE_MS);
      req.on('close', () => {
        result.rstCode = req.rstCode;
        resolve(result);
      });
    });
  } finally {
    session.close();
  }
}

/** Requests the proxy answered with an error of its own, by reason (its /metrics). */
async function proxyErrors(proxy: TestProxy, reason: string): Promise<number> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('ringside_proxy_errors_total{') && l.includes(`reason="${reason}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(ENGINES)('a slow reader gets the whole response (--engine %s, h2c upstream)', (engine) => {
  it('grpc-js server stream, call paused: every message, then status OK', async () => {
    const client = createEchoClient(grpcProxies.get(engine)!.address);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const got = await new Promise<{ count: number; code: number }>((resolve) => {
          const call = client.ServerStream({ message: 'x'.repeat(1000), count: 200 });
          let count = 0;
          call.on('data', (m: EchoReply) => {
            expect(m.index).toBe(count);
            count++;
          });
          call.on('error', (err: grpc.ServiceError) => resolve({ count, code: err.code }));
          call.on('status', (s: grpc.StatusObject) => {
            if (s.code === grpc.status.OK) resolve({ count, code: s.code });
          });
          call.pause();
          setTimeout(() => call.resume(), PAUSE_MS);
        });
        expect(got, `round ${round}`).toEqual({ count: 200, code: grpc.status.OK });
      }
    } finally {
      client.close();
    }
  });

  it.each([
    ['gRPC-shaped, trailers', '/trailers', true],
    ['content-length and trailers', '/trailers?cl', false],
  ] as const)('HTTP/2 client with an 8 KiB window, paused: %s', async (_name, path, grpcShaped) => {
    for (let round = 0; round < ROUNDS; round++) {
      const r = await slowH2Get(proxies.get(engine)!, path, grpcShaped);
      expect(r, `round ${round}`).toEqual({
        bytes: BODY,
        trailers: expect.objectContaining(grpcShaped ? { 'grpc-status': '0' } : { 'x-checksum': 'done' }),
        rstCode: http2.constants.NGHTTP2_NO_ERROR,
        ended: true,
      });
    }
  });

  it('HTTP/1.1 client, response paused: the whole body', async () => {
    const proxy = proxies.get(engine)!;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
        const req = http.get(`${proxy.url}/trailers`, { agent: false }, (res) => {
          let bytes = 0;
          res.pause();
          setTimeout(() => {
            res.on('data', (d: Buffer) => (bytes += d.length));
            res.resume();
          }, PAUSE_MS);
          res.on('end', () => resolve({ bytes, complete: res.complete }));
          res.on('error', () => resolve({ bytes, complete: false }));
        });
        req.on('error', reject);
      });
      expect(r, `round ${round}`).toEqual({ bytes: BODY, complete: true });
    }
  });
});

describe.each(ENGINES)('a response the upstream cut short is never passed on as complete (--engine %s)', (engine) => {
  it('HTTP/2: the stream is reset, counted as upstream_truncated; gRPC-shaped: grpc-status UNAVAILABLE, as gRPC clients report a connection that broke mid-call', async () => {
    const proxy = proxies.get(engine)!;
    const before = await proxyErrors(proxy, 'upstream_truncated');
    const plain = await slowH2Get(proxy, '/cut', false);
    expect(plain.bytes).toBeLessThan(BODY);
    expect(plain.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const rpc = await slowH2Get(proxy, '/cut', true);
    expect(rpc.bytes).toBeLessThan(BODY);
    expect(rpc.trailers?.['grpc-status']).toBe(String(grpc.status.UNAVAILABLE));
    expect(await proxyErrors(proxy, 'upstream_truncated')).toBe(before + 2);
  });
});
