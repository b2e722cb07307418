// Differential test: the lean h2c upstream client (lib/http2/) against the
// reference, --engine compat's node:http2 client (lib/upstream/node-h2c-client.ts).
// Two ringside instances with h2c upstreams,
// --engine compat and --engine lean, each in front of its own recording
// node:http2 upstream; a fast-check corpus of HTTP/2 and gRPC-shaped requests
// (methods, paths, header sets, bodies of up to ~200 KiB - past the default
// flow-control windows - and the response each upstream is told to give:
// status, header fields, body, trailers, gRPC trailers-only) is sent to both
// over HTTP/2, and the upstream requests and the client responses must match.
//
// Equivalence:
// - upstream request: method, :path, :authority, :scheme, the other header
//   fields sorted by name, and the body bytes. `content-length` is left out:
//   undici adds one when the request body happened to be complete at dispatch
//   (a timing accident), the lean client forwards what the client sent.
// - client response: status, header fields sorted by name without `date`,
//   body bytes, trailers. Both bodies are also checked against what the
//   upstream sent: the former reference, undici's H2CClient, ended a response
//   whose trailers came after the first 64 KiB of its body without the rest
//   (issue 18), and a shared bug would pass a plain comparison.

import http2 from 'node:http2';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { Client } from 'undici';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { pattern, sha } from './support/body-fingerprint.ts';
import { listenH2 } from './support/h2-listen.ts';

interface Recorded {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  headers: [string, string][];
  body: string;
}

interface Seen {
  status: number;
  headers: [string, string][];
  body: string;
  trailers: [string, string][];
  error: string | null;
}


function sortedFields(h: http2.IncomingHttpHeaders, drop: Set<string>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || drop.has(k) || v === undefined) continue;
    out.push([k, Array.isArray(v) ? v.join('\n') : String(v)]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface Upstream {
  server: http2.Http2Server;
  port: number;
  last: Recorded | null;
  close(): Promise<void>;
}

/**
 * The response is described by the request itself (x-r-* fields), so both
 * upstreams answer the same thing: x-r-status, x-r-body (bytes), x-r-trailers
 * (1/0), x-r-grpc-only (gRPC trailers-only), x-r-h-NAME: VALUE -> NAME: VALUE.
 */
async function startUpstream(): Promise<Upstream> {
  const server = http2.createServer();
  const up: Upstream = { server, port: 0, last: null, close: async () => {} };
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      up.last = {
        method: String(headers[':method']),
        path: String(headers[':path']),
        authority: String(headers[':authority']),
        scheme: String(headers[':scheme']),
        headers: sortedFields(headers, new Set(['content-length'])),
        body: sha(Buffer.concat(chunks)),
      };
      const status = Number(headers['x-r-status'] ?? 200);
      const out: http2.OutgoingHttpHeaders = { ':status': status };
      for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-r-h-')) out[k.slice(6)] = v;
      if (headers['x-r-grpc-only'] === '1') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'not here' }, { endStream: true });
        return;
      }
      const bodiless = headers[':method'] === 'HEAD' || status === 204 || status === 304;
      const trailers = headers['x-r-trailers'] === '1';
      if (bodiless) {
        stream.respond(out, { endStream: true });
        return;
      }
      stream.respond(out, { waitForTrailers: trailers });
      if (trailers) stream.on('wantTrailers', () => stream.sendTrailers({ 'x-t-sum': 'abc', 'grpc-status': '0' }));
      stream.end(pattern(Number(headers['x-r-body'] ?? 0), status));
    });
  });
  const listening = await listenH2(server);
  up.port = listening.port;
  up.close = listening.close;
  return up;
}

interface Req {
  method: string;
  path: string;
  fields: [string, string][];
  body: number[] | null;
  grpc: boolean;
  status: number;
  respBody: number;
  trailers: boolean;
  grpcOnly: boolean;
  respHeaders: [string, string][];
}

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const fieldValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,24}[\x21-\x7e])?$/);
const req: fc.Arbitrary<Req> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
  path: fc.stringMatching(/^\/[a-zA-Z0-9/_.~%=&?-]{0,30}$/),
  fields: fc.uniqueArray(fc.tuple(token.map((t) => `x-${t}`), fieldValue), { maxLength: 6, selector: (f) => f[0] }),
  body: fc.option(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 3 }), { nil: null }),
  grpc: fc.boolean(),
  status: fc.constantFrom(200, 201, 204, 304, 400, 404, 500, 503),
  respBody: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 60_000, max: 200_000 })),
  trailers: fc.boolean(),
  grpcOnly: fc.boolean(),
  respHeaders: fc.uniqueArray(fc.tuple(token.map((t) => `y-${t}`), fieldValue), { maxLength: 4, selector: (f) => f[0] }),
});

function h2Send(url: string, r: Req): Promise<Seen> {
  return new Promise((resolve) => {
    const session = http2.connect(url);
    session.on('error', () => {});
    const headers: http2.OutgoingHttpHeaders = { ':method': r.method, ':path': r.path, ':authority': 'svc.test' };
    for (const [k, v] of r.fields) headers[k] = v;
    if (r.grpc) {
      headers['content-type'] = 'application/grpc';
      headers.te = 'trailers';
    }
    headers['x-r-status'] = String(r.status);
    headers['x-r-body'] = String(r.respBody);
    headers['x-r-trailers'] = r.trailers ? '1' : '0';
    if (r.grpc && r.grpcOnly) headers['x-r-grpc-only'] = '1';
    for (const [k, v] of r.respHeaders) headers[`x-r-h-${k}`] = v;
    const stream = session.request(headers, { endStream: r.body === null });
    const seen: Seen = { status: 0, headers: [], body: '', trailers: [], error: null };
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      seen.status = Number(h[':status']);
      seen.headers = sortedFields(h, new Set(['date']));
    });
    stream.on('trailers', (t) => (seen.trailers = sortedFields(t, new Set())));
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('error', (e) => (seen.error = (e as NodeJS.ErrnoException).code ?? e.message));
    stream.on('close', () => {
      seen.body = sha(Buffer.concat(chunks));
      session.close();
      resolve(seen);
    });
    if (r.body !== null) {
      r.body.forEach((n, i) => stream.write(pattern(n, i)));
      stream.end();
    }
  });
}

const ENGINES: Engine[] = ['compat', 'lean'];
const upstreams = new Map<Engine, Upstream>();
const proxies = new Map<Engine, TestProxy>();

beforeAll(async () => {
  for (const engine of ENGINES) {
    const up = await startUpstream();
    upstreams.set(engine, up);
    proxies.set(engine, await startProxy({ endpoints: [`127.0.0.1:${up.port}`], engine, upstream: { protocol: 'h2c' } }));
  }
});

afterAll(async () => {
  for (const engine of ENGINES) {
    await proxies.get(engine)?.stop();
    await upstreams.get(engine)?.close();
  }
});

/**
 * Send `r` through compat, then lean: the upstream requests and the client
 * responses must be equal, and both bodies must be what the upstream sent
 * (checked on its own, so that a bug both engines share cannot pass).
 */
async function sameThroughBothEngines(r: Req, send: (engine: Engine) => Promise<Seen>): Promise<void> {
  const results: { up: Recorded | null; seen: Seen }[] = [];
  for (const engine of ENGINES) {
    upstreams.get(engine)!.last = null;
    const seen = await send(engine);
    results.push({ up: upstreams.get(engine)!.last, seen });
  }
  const [compat, lean] = results;
  expect(compat.up).not.toBeNull();
  expect(lean.up).toEqual(compat.up);
  const bodiless = r.method === 'HEAD' || r.status === 204 || r.status === 304 || (r.grpc && r.grpcOnly);
  const sent = sha(bodiless ? Buffer.alloc(0) : pattern(r.respBody, r.status));
  expect(compat.seen.body).toBe(sent);
  expect(lean.seen.body).toBe(sent);
  expect(lean.seen).toEqual(compat.seen);
}

describe('lean h2c client vs the compat node:http2 client', () => {
  it('the same upstream requests and client responses for generated HTTP/2 and gRPC-shaped requests', async () => {
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await sameThroughBothEngines(r, (engine) => h2Send(proxies.get(engine)!.url, r));
      }),
      { numRuns: 120, seed: 20261123, endOnFailure: true },
    );
  }, 120_000);
});

/**
 * The same corpus from HTTP/1.1 clients (undici's Client; bodies chunked, or
 * with a content-length when `r.grpc` picks it): lean serves them with its
 * own HTTP/1.1 server, whose requests go through the forwarding core to our
 * HTTP/2 client; compat with node:http and node:http2's client. Framing
 * fields (transfer-encoding, connection, keep-alive) may legitimately differ
 * and are left out; everything else must match.
 */
function h1Send(client: Client, r: Req): Promise<Seen> {
  const headers: Record<string, string> = { host: 'svc.test' };
  for (const [k, v] of r.fields) headers[k] = v;
  if (r.grpc) headers['content-type'] = 'application/grpc';
  headers['x-r-status'] = String(r.status);
  headers['x-r-body'] = String(r.respBody);
  headers['x-r-trailers'] = r.trailers ? '1' : '0';
  if (r.grpc && r.grpcOnly) headers['x-r-grpc-only'] = '1';
  for (const [k, v] of r.respHeaders) headers[`x-r-h-${k}`] = v;
  let body: Buffer | Readable | null = null;
  if (r.body !== null) {
    const parts = r.body.map((n, i) => pattern(n, i));
    // A length when the corpus says gRPC (whole message), else a stream: undici sends it chunked.
    body = r.grpc ? Buffer.concat(parts) : Readable.from(parts, { objectMode: false });
  }
  const seen: Seen = { status: 0, headers: [], body: '', trailers: [], error: null };
  return client.request({ method: r.method as 'GET', path: r.path, headers, body }).then(
    async (res) => {
      seen.status = res.statusCode;
      seen.headers = sortedFields(res.headers as http2.IncomingHttpHeaders, H1_FRAMING);
      seen.body = sha(Buffer.from(await res.body.arrayBuffer()));
      seen.trailers = sortedFields(res.trailers as http2.IncomingHttpHeaders, new Set());
      return seen;
    },
    (err: NodeJS.ErrnoException) => {
      seen.error = err.code ?? err.message;
      return seen;
    },
  );
}

const H1_FRAMING = new Set(['date', 'transfer-encoding', 'connection', 'keep-alive']);

describe('HTTP/1.1 clients of an h2c upstream: lean (own HTTP/1.1 server + own HTTP/2 client) vs compat (node:http + node:http2)', () => {
  it('the same upstream requests and client responses for generated requests', async () => {
    const clients = new Map(ENGINES.map((engine) => [engine, new Client(proxies.get(engine)!.url, { pipelining: 1 })]));
    try {
      await fc.assert(
        fc.asyncProperty(req, async (r) => {
          await sameThroughBothEngines(r, (engine) => h1Send(clients.get(engine)!, r));
        }),
        { numRuns: 120, seed: 20261206, endOnFailure: true },
      );
    } finally {
      for (const c of clients.values()) await c.close();
    }
  }, 120_000);
});
