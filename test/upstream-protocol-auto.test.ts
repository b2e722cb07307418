// `--upstream-protocol auto` learns each endpoint's protocol: an HTTP/1.1-only
// replica behind an h2c client, an h2c-only replica behind an HTTP/1.1 client,
// on both engines; a gRPC call to an HTTP/1.1-only replica fails fast with
// UNAVAILABLE; a replica that just closes is not marked; explicit http1/h2c
// keep their meaning.

import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine, UpstreamProtocol } from '../lib/config/config.ts';
import { createLogger, type Logger } from '../lib/log/logger.ts';
import { PROTOCOL_RECHECK_MS } from '../lib/upstream/endpoint.ts';
import { createEchoClient, startGrpcReplica } from './support/grpc-replicas.ts';
import { ENGINES, startProxy, type TestProxy } from './support/proxy.ts';
import { sendRaw } from './support/raw-http.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Seen {
  readonly key: string;
  readonly port: number;
  /** HTTP versions of the requests the server processed, in order. */
  versions: string[];
  /** TCP connections accepted. */
  connections: number;
  /** Connections that opened with something node:http could not parse (the HTTP/2 preface). */
  prefaces: number;
}

/** A plain node:http server (HTTP/1.1 only: it answers the HTTP/2 preface with 400). */
async function http1Only(): Promise<Seen> {
  const seen: Seen = { key: '', port: 0, versions: [], connections: 0, prefaces: 0 };
  const server = http.createServer((req, res) => {
    seen.versions.push(req.httpVersion);
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => res.end(`http1 ${req.method} ${req.url} ${bytes}`));
  });
  server.on('clientError', (_err, socket: net.Socket) => {
    seen.prefaces++;
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  return listen(server, seen);
}

/** node:http2's server without allowHTTP1: h2c only (it answers an HTTP/1.1 request with SETTINGS and GOAWAY). */
async function h2cOnly(): Promise<Seen> {
  const seen: Seen = { key: '', port: 0, versions: [], connections: 0, prefaces: 0 };
  const server = http2.createServer((req, res) => {
    seen.versions.push(req.httpVersion);
    if (req.url === '/echo') {
      req.pipe(res);
      return;
    }
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => res.end(`h2c ${req.method} ${req.url} ${bytes}`));
  });
  return listen(server, seen);
}

/** Accepts and closes every connection as soon as bytes arrive, answering nothing (a crashing server). */
async function closesAtOnce(): Promise<Seen> {
  const seen: Seen = { key: '', port: 0, versions: [], connections: 0, prefaces: 0 };
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.destroy());
  });
  return listen(server, seen);
}

async function listen(server: net.Server | http.Server | http2.Http2Server, seen: Seen): Promise<Seen> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    seen.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(seen, { port, key: `127.0.0.1:${port}` });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return seen;
}

async function proxy(engine: Engine, endpoints: readonly string[], protocol: UpstreamProtocol = 'auto', extra: Record<string, unknown> = {}, logger?: Logger): Promise<TestProxy> {
  const p = await startProxy({ engine, endpoints, upstream: { protocol, ...extra }, logger });
  cleanups.push(() => p.stop());
  return p;
}

async function endpointProtocols(p: TestProxy): Promise<Record<string, string>> {
  const status = (await (await request(`${p.adminUrl}/status.json`)).body.json()) as { upstreams: { endpoints: { key: string; protocol: string; state: string }[] }[] };
  return Object.fromEntries(status.upstreams[0].endpoints.map((e) => [e.key, e.protocol]));
}

async function endpointStates(p: TestProxy): Promise<Record<string, string>> {
  const status = (await (await request(`${p.adminUrl}/status.json`)).body.json()) as { upstreams: { endpoints: { key: string; state: string }[] }[] };
  return Object.fromEntries(status.upstreams[0].endpoints.map((e) => [e.key, e.state]));
}

async function metric(p: TestProxy, name: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** One HTTP/2 prior-knowledge request; resolves with status, headers and body. */
function h2Request(
  session: http2.ClientHttp2Session,
  path: string,
  method = 'GET',
  body?: string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': method });
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let text = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve({ status, headers, body: text }));
    stream.on('error', reject);
    stream.end(body);
  });
}

function h2Session(p: TestProxy): http2.ClientHttp2Session {
  const session = http2.connect(p.url);
  session.on('error', () => {});
  cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())));
  return session;
}

describe.each(ENGINES)('--upstream-protocol auto (engine %s)', (engine) => {
  it('an h2c client of an HTTP/1.1-only replica: the first request and later ones succeed over HTTP/1.1, and /status shows http1', async () => {
    const replica = await http1Only();
    const lines: string[] = [];
    const p = await proxy(engine, [replica.key], 'auto', {}, createLogger('info', (line) => lines.push(line)));
    const session = h2Session(p);
    // The first request carries a body: it is sent again, whole, over HTTP/1.1.
    const first = await h2Request(session, '/first', 'POST', 'x'.repeat(5000));
    expect(first.status).toBe(200);
    expect(first.body).toBe('http1 POST /first 5000');
    for (let i = 0; i < 5; i++) {
      const res = await h2Request(session, `/later${i}`);
      expect(res.status).toBe(200);
      expect(res.body).toBe(`http1 GET /later${i} 0`);
    }
    expect(replica.versions).toEqual(['1.1', '1.1', '1.1', '1.1', '1.1', '1.1']);
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'http1' });
    // Logged at info once, when learned.
    const learned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === 'upstream endpoint speaks only one protocol');
    expect(learned).toEqual([expect.objectContaining({ level: 'info', endpoint: replica.key, protocol: 'http1' })]);
    // Learning is not a retry and not a failure.
    expect(await metric(p, 'ringside_retries_total')).toBe(0);
    expect(await endpointStates(p)).toEqual({ [replica.key]: 'active' });
  });

  it('ten concurrent first requests of h2c and HTTP/1.1 clients to a replica of the other protocol all succeed', async () => {
    const h1 = await http1Only();
    const h2 = await h2cOnly();
    const toH1 = await proxy(engine, [h1.key]);
    const toH2 = await proxy(engine, [h2.key]);
    const session = h2Session(toH1);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => h2Request(session, `/c${i}`).then((r) => `${r.status} ${r.body}`)),
      ...Array.from({ length: 10 }, (_, i) => request(`${toH2.url}/d${i}`).then(async (r) => `${r.statusCode} ${await r.body.text()}`)),
    ]);
    expect(results).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `200 http1 GET /c${i} 0`),
      ...Array.from({ length: 10 }, (_, i) => `200 h2c GET /d${i} 0`),
    ]);
    expect(await metric(toH1, 'ringside_retries_total')).toBe(0);
    expect(await metric(toH2, 'ringside_retries_total')).toBe(0);
  });

  it('the learned protocol is re-checked on a new connection once PROTOCOL_RECHECK_MS has passed', async () => {
    const replica = await http1Only();
    const p = await proxy(engine, [replica.key]);
    const session = h2Session(p);
    expect((await h2Request(session, '/a')).status).toBe(200);
    const asked = replica.prefaces;
    expect(asked).toBeGreaterThan(0);
    expect((await h2Request(session, '/b')).status).toBe(200);
    expect(replica.prefaces).toBe(asked);
    // Move the re-check time into the past, as 5 minutes would.
    const endpoint = p.app.upstreams.get('default')!.endpoints.get(replica.key)!;
    endpoint.protocolRecheckAt = performance.now() - 1;
    const c = await h2Request(session, '/c');
    expect(c.status).toBe(200);
    expect(c.body).toBe('http1 GET /c 0');
    // Asked again in HTTP/2 on a new connection, learned again.
    expect(replica.prefaces).toBeGreaterThan(asked);
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'http1' });
    expect(endpoint.protocolRecheckAt).toBeGreaterThan(performance.now() + PROTOCOL_RECHECK_MS - 60_000);
  });

  it('an HTTP/1.1 client of an h2c-only replica: requests succeed over h2c, and /status shows h2c', async () => {
    const replica = await h2cOnly();
    const p = await proxy(engine, [replica.key]);
    const first = await request(`${p.url}/first`, { method: 'POST', body: 'y'.repeat(3000) });
    expect(first.statusCode).toBe(200);
    expect(await first.body.text()).toBe('h2c POST /first 3000');
    for (let i = 0; i < 5; i++) {
      const res = await request(`${p.url}/later${i}`);
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe(`h2c GET /later${i} 0`);
    }
    expect(replica.versions).toEqual(['2.0', '2.0', '2.0', '2.0', '2.0', '2.0']);
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'h2c' });
    expect(await metric(p, 'ringside_retries_total')).toBe(0);
  });

  it('the first request to an h2c-only replica with a chunked body is sent again whole over h2c', async () => {
    const replica = await h2cOnly();
    const p = await proxy(engine, [replica.key]);
    const parts = async function* () {
      for (let i = 0; i < 30; i++) {
        yield Buffer.alloc(1000, 48 + (i % 10));
        await new Promise((r) => setImmediate(r));
      }
    };
    const res = await request(`${p.url}/echo`, { method: 'POST', body: Readable.from(parts()) });
    expect(res.statusCode).toBe(200);
    const got = Buffer.from(await res.body.arrayBuffer());
    expect(got.equals(Buffer.concat(Array.from({ length: 30 }, (_, i) => Buffer.alloc(1000, 48 + (i % 10)))))).toBe(true);
    expect(replica.versions).toEqual(['2.0']);
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'h2c' });
  });

  it('pipelined HTTP/1.1 requests and an HTTP/1.0 request to an h2c-only replica are answered in order, framed for their client', async () => {
    const replica = await h2cOnly();
    const p = await proxy(engine, [replica.key]);
    // Two pipelined requests, the second with a body: both answers, in order, on one connection.
    const pipelined = await sendRaw(
      p.port,
      'GET /one HTTP/1.1\r\nhost: a\r\n\r\nPOST /two HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc',
      5000,
    );
    expect(pipelined.closed).toBe(true);
    const one = pipelined.data.indexOf('h2c GET /one 0');
    const two = pipelined.data.indexOf('h2c POST /two 3');
    expect(pipelined.data.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(one).toBeGreaterThan(0);
    expect(two).toBeGreaterThan(one);
    // HTTP/1.0 has no chunked coding: the body ends with the connection (or has a length).
    const old = await sendRaw(p.port, 'GET /old HTTP/1.0\r\nhost: a\r\n\r\n', 5000);
    expect(old.closed).toBe(true);
    expect(old.data).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(old.data.toLowerCase()).not.toContain('transfer-encoding');
    expect(old.data.endsWith('h2c GET /old 0')).toBe(true);
    expect(replica.versions).toEqual(['2.0', '2.0', '2.0']);
  });

  it('an HTTP/1.1 client streams a chunked 1 MiB upload to an h2c-only replica and reads its 1 MiB echo, on a kept-alive connection', async () => {
    const replica = await h2cOnly();
    const p = await proxy(engine, [replica.key]);
    const block = Buffer.alloc(16 * 1024, 'abcdefgh');
    const upload = async function* () {
      for (let i = 0; i < 64; i++) yield block;
    };
    // The endpoint is learned first (a body larger than --retry-buffer that went out before its HTTP/2 answer could not be sent again).
    const first = await request(`${p.url}/learn`);
    expect(first.statusCode).toBe(200);
    await first.body.text();
    for (let round = 0; round < 2; round++) {
      // A generator body has no length: undici sends it chunked.
      const res = await request(`${p.url}/echo`, { method: 'POST', body: Readable.from(upload()) });
      expect(res.statusCode).toBe(200);
      const got = Buffer.from(await res.body.arrayBuffer());
      expect(got.length).toBe(64 * block.length);
      expect(got.equals(Buffer.concat(Array.from({ length: 64 }, () => block)))).toBe(true);
    }
    expect(replica.versions).toEqual(['2.0', '2.0', '2.0']);
  });

  it('an HTTP/1.1 client of a grpc-js server (h2c only): a unary call framed by hand gets its reply and grpc-status 0 in trailers', async () => {
    const replica = await startGrpcReplica('g0');
    cleanups.push(() => replica.close());
    const p = await proxy(engine, [replica.key]);
    // EchoRequest { message: "hi" } (field 1, length 2), in a gRPC length-prefixed message.
    const message = Buffer.from([0x0a, 0x02, 0x68, 0x69]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    for (let i = 0; i < 2; i++) {
      const res = await request(`${p.url}/ringside.test.Echo/Unary`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
        body: frame,
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/grpc/);
      const body = Buffer.from(await res.body.arrayBuffer());
      expect(body.includes(Buffer.from('hi'))).toBe(true);
      expect(body.includes(Buffer.from('g0'))).toBe(true);
      expect(res.trailers['grpc-status']).toBe('0');
    }
    expect(replica.calls).toBe(2);
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'h2c' });
  });

  it('a gRPC call to HTTP/1.1-only replicas fails fast with UNAVAILABLE, is not moved to the other replica and ejects nothing', async () => {
    const replicas = [await http1Only(), await http1Only()];
    // Ejection after 2 consecutive failures: the calls below would eject the replica if they counted.
    const p = await proxy(engine, replicas.map((r) => r.key), 'auto', { ejection: { consecutiveFailures: 2, baseTimeMs: 30_000, maxTimeMs: 30_000, maxPercent: 100 } });
    const client = createEchoClient(p.address);
    cleanups.push(() => client.close());
    const call = (): Promise<grpc.ServiceError> =>
      new Promise((resolve) => client.Unary({ message: 'hi' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err!)));
    const err = await call();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/speaks only HTTP\/1\.1/);
    expect(err.details).toMatch(/127\.0\.0\.1:\d+/);
    // One attempt: a single replica was ever connected to, and nothing was retried.
    expect(replicas.filter((r) => r.connections > 0)).toHaveLength(1);
    expect(await metric(p, 'ringside_retries_total')).toBe(0);
    // Later calls fail the same way at once (no connection: the replica is known to speak HTTP/1.1).
    const learned = replicas.find((r) => r.connections > 0)!;
    const before = learned.connections;
    for (let i = 0; i < 4; i++) {
      const again = await call();
      expect(again.code).toBe(grpc.status.UNAVAILABLE);
      expect(again.details).toMatch(/speaks only HTTP\/1\.1/);
    }
    expect(replicas.every((r) => r.versions.length === 0)).toBe(true);
    expect(await endpointStates(p)).toEqual({ [replicas[0].key]: 'active', [replicas[1].key]: 'active' });
    expect(learned.connections).toBeLessThanOrEqual(before + 1);
  });

  it('a replica that closes the connection without answering is an ordinary failure, not marked', async () => {
    const replica = await closesAtOnce();
    const p = await proxy(engine, [replica.key], 'auto', { retries: 0 });
    const session = h2Session(p);
    const res = await h2Request(session, '/x');
    expect(res.status).toBe(502);
    expect(['RS_ERR_UPSTREAM_RESET', 'RS_ERR_CONNECT_FAILED']).toContain(res.headers['x-ringside-error']);
    const plain = await request(`${p.url}/y`);
    expect(plain.statusCode).toBe(502);
    await plain.body.text();
    expect(await endpointProtocols(p)).toEqual({ [replica.key]: 'unknown' });
  });

  it('explicit --upstream-protocol h2c and http1 keep their meaning: no detection, no fallback', async () => {
    const h1 = await http1Only();
    const h2 = await h2cOnly();
    const toH2c = await proxy(engine, [h1.key], 'h2c', { retries: 0 });
    const a = await request(`${toH2c.url}/a`);
    expect(a.statusCode).toBe(502);
    // Our h2c client tells a protocol mismatch from a reset (node:http2's, on compat, only sees the connection fail).
    if (engine === 'lean') expect(a.headers['x-ringside-error']).toBe('RS_ERR_UPSTREAM_PROTOCOL');
    await a.body.text();
    expect(h1.versions).toEqual([]);
    expect(await endpointProtocols(toH2c)).toEqual({ [h1.key]: 'unknown' });
    const toHttp1 = await proxy(engine, [h2.key], 'http1', { retries: 0 });
    const b = await h2Request(h2Session(toHttp1), '/b');
    expect(b.status).toBe(502);
    expect(h2.versions).toEqual([]);
    expect(await endpointProtocols(toHttp1)).toEqual({ [h2.key]: 'unknown' });
  });
});
