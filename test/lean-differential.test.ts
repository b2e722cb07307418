// Differential test: the lean engine against the reference engine (node:http +
// undici). Two ringside instances, one per engine, each in front of its own
// recording raw upstream; a fast-check corpus of request sequences (methods,
// header sets, body framings, pipelines, split points, response framings) is
// sent to both, and the upstream requests and the client responses must match.
//
// Equivalence (what "the same" means here):
// - upstream requests as a multiset (node:http starts pipelined requests at
//   once, over several upstream connections; the lean engine in order), each: method, target, the end-to-end header fields in order
//   with lower-case names and OWS-trimmed values, and the decoded body bytes.
//   Framing and connection fields (Content-Length, Transfer-Encoding,
//   Connection, Keep-Alive) are compared through the decoded body only: undici
//   adds `content-length: 0` to body-less POSTs, the lean engine does not, and
//   request trailers / chunk extensions are dropped by the reference engine
//   but passed through by the lean one (the corpus sends none).
// - client response: status, the header fields sorted by lower-case name
//   (undici groups repeated response fields; the lean engine keeps their
//   order), without Date, Connection, Keep-Alive, Content-Length and
//   Transfer-Encoding; the decoded body; the trailers; and whether the
//   connection stayed open for the next request.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';

type ArbValue<A> = A extends fc.Arbitrary<infer T> ? T : never;
import net from 'node:net';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';

interface Recorded {
  method: string;
  target: string;
  headers: string[];
  body: string;
}

interface ParsedMessage {
  head: string; // status line or request line
  headers: [string, string][];
  body: string;
  trailers: [string, string][];
}

const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

/** Incremental HTTP/1.1 message reader over latin1 text (for the test's own upstream and client). */
function readMessage(buf: string, isResponse: boolean, noBody: boolean, atEof: boolean): { msg: ParsedMessage; rest: string } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.slice(0, end).split('\r\n');
  const headers = lines.slice(1).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
  });
  const get = (n: string): string | undefined => headers.find((h) => h[0] === n)?.[1];
  let pos = end + 4;
  const status = isResponse ? Number(lines[0].split(' ')[1]) : 0;
  const msg: ParsedMessage = { head: lines[0], headers, body: '', trailers: [] };
  if (noBody || (isResponse && (status === 204 || status === 304 || status < 200))) return { msg, rest: buf.slice(pos) };
  if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return null;
      const size = parseInt(buf.slice(pos, le).split(';')[0], 16);
      if (size === 0) {
        pos = le + 2;
        for (;;) {
          const te = buf.indexOf('\r\n', pos);
          if (te < 0) return null;
          if (te === pos) return { msg, rest: buf.slice(te + 2) };
          const line = buf.slice(pos, te);
          const i = line.indexOf(':');
          msg.trailers.push([line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()]);
          pos = te + 2;
        }
      }
      if (buf.length < le + 2 + size + 2) return null;
      msg.body += buf.slice(le + 2, le + 2 + size);
      pos = le + 2 + size + 2;
    }
  }
  const cl = get('content-length');
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < pos + n) return null;
    msg.body = buf.slice(pos, pos + n);
    return { msg, rest: buf.slice(pos + n) };
  }
  if (!isResponse) return { msg, rest: buf.slice(pos) };
  if (!atEof) return null; // close-delimited
  msg.body = buf.slice(pos);
  return { msg, rest: '' };
}

/** The scripted responses the upstream can give, chosen by the request's x-script field. */
function respond(script: string, method: string, socket: net.Socket): void {
  const date = 'Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n';
  const body = method === 'HEAD' ? '' : 'hello from upstream';
  switch (script) {
    case 'chunked':
      socket.write(`HTTP/1.1 200 OK\r\n${date}Transfer-Encoding: chunked\r\nX-Multi: a\r\nContent-Type: text/plain\r\nX-Multi: b\r\n\r\n` + (method === 'HEAD' ? '' : '5\r\nhello\r\n3\r\n up\r\n0\r\nx-checksum: 7\r\n\r\n'));
      break;
    case 'close':
      socket.end(`HTTP/1.1 200 OK\r\n${date}Content-Type: text/plain\r\n\r\n${body}`);
      break;
    case '204':
      socket.write(`HTTP/1.1 204 No Content\r\n${date}X-Empty: 1\r\n\r\n`);
      break;
    case '304':
      socket.write(`HTTP/1.1 304 Not Modified\r\n${date}ETag: "abc"\r\n\r\n`);
      break;
    case '404':
      socket.write(`HTTP/1.1 404 Not Found\r\n${date}Content-Length: 9\r\n\r\n` + (method === 'HEAD' ? '' : 'not found'));
      break;
    default:
      socket.write(`HTTP/1.1 200 OK\r\n${date}Content-Length: 19\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n${body}`);
  }
}

async function startRecordingUpstream(): Promise<{ key: string; recorded: Recorded[]; close(): Promise<void> }> {
  const recorded: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const r = readMessage(buf, false, false, false);
        if (r === null) break;
        buf = r.rest;
        const [method, target] = r.msg.head.split(' ');
        recorded.push({ method, target, headers: r.msg.headers.filter(([n]) => !FRAMING.has(n)).map(([n, v]) => `${n}: ${v}`), body: r.msg.body });
        respond(r.msg.headers.find(([n]) => n === 'x-script')?.[1] ?? 'cl', method, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    key: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    recorded,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

interface Outcome {
  responses: string[];
  open: boolean;
}

/** Write `bytes` cut at `cuts`, read `expected` responses (HEAD flags tell which have no body). */
function exchange(port: number, bytes: Buffer, cuts: number[], heads: boolean[], abortAfter: number | null): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buf = '';
    let eof = false;
    const responses: string[] = [];
    let done = false;
    const finish = (open: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, open });
    };
    const timer = setTimeout(() => finish(!eof), 3000);
    const parse = (): void => {
      while (responses.length < heads.length) {
        const r = readMessage(buf, true, heads[responses.length], eof);
        if (r === null) break;
        buf = r.rest;
        const m = r.msg;
        const headers = m.headers.filter(([n]) => !FRAMING.has(n)).map(([n, v]) => `${n}: ${v}`).sort();
        responses.push(JSON.stringify([m.head, headers, m.body, m.trailers]));
      }
      if (responses.length === heads.length) setTimeout(() => finish(!eof), 30);
      else if (eof) finish(false);
    };
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      parse();
    });
    socket.on('end', () => {
      eof = true;
      parse();
      finish(false);
    });
    socket.on('error', () => finish(false));
    socket.on('connect', async () => {
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let from = 0;
      for (const p of [...points, bytes.length]) {
        if (abortAfter !== null && p >= abortAfter) {
          socket.write(bytes.subarray(from, abortAfter));
          await new Promise((r) => setTimeout(r, 20));
          return finish(false);
        }
        if (p > from) socket.write(bytes.subarray(from, p));
        from = p;
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

// --- the corpus ---------------------------------------------------------------
const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
const fieldValue = fc.stringMatching(/^[ !#-~]{0,24}$/).map((v) => v.trim());
const header = fc.oneof(
  fc.tuple(token.map((t) => `X-${t}`), fieldValue),
  fc.tuple(fc.constantFrom('Accept', 'accept', 'User-Agent', 'Cookie', 'Authorization', 'Cache-Control', 'X-Request-Id'), fieldValue),
  fc.tuple(fc.constant('Connection'), fc.constantFrom('keep-alive', 'x-drop-me', 'Keep-Alive, X-Drop-Me')),
  fc.tuple(fc.constantFrom('Keep-Alive', 'Proxy-Authorization', 'Proxy-Connection', 'X-Drop-Me', 'Trailer'), fieldValue),
  fc.tuple(fc.constant('TE'), fc.constantFrom('trailers', 'trailers, deflate', 'gzip')),
  fc.tuple(fc.constant('Upgrade'), fc.constantFrom('h2c', 'websocket')),
);
const body = fc.oneof(
  fc.constant({ kind: 'none' as const, chunks: [] as string[] }),
  fc.record({ kind: fc.constant('length' as const), chunks: fc.array(fc.stringMatching(/^[ -~]{0,40}$/), { minLength: 1, maxLength: 1 }) }),
  fc.record({ kind: fc.constant('chunked' as const), chunks: fc.array(fc.stringMatching(/^[ -~]{1,40}$/), { maxLength: 4 }) }),
);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: fc.stringMatching(/^\/[A-Za-z0-9._~%/-]{0,20}(\?[A-Za-z0-9=&%._-]{0,20})?$/),
  headers: fc.array(header, { maxLength: 6 }),
  body,
  script: fc.constantFrom('cl', 'chunked', 'close', '204', '304', '404'),
  close: fc.boolean(),
});

function encode(r: ArbValue<typeof requestArb>, last: boolean): string {
  const bodyless = r.method === 'GET' || r.method === 'HEAD';
  let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: svc.example\r\nX-Script: ${r.script}\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  if (last && r.close) head += 'Connection: close\r\n';
  if (bodyless || r.body.kind === 'none') return head + '\r\n';
  if (r.body.kind === 'length') return head + `Content-Length: ${Buffer.byteLength(r.body.chunks[0], 'latin1')}\r\n\r\n${r.body.chunks[0]}`;
  return head + 'Transfer-Encoding: chunked\r\n\r\n' + r.body.chunks.map((c: string) => `${c.length.toString(16)}\r\n${c}\r\n`).join('') + '0\r\n\r\n';
}

const caseArb = fc.record({
  requests: fc.array(requestArb, { minLength: 1, maxLength: 3 }),
  cuts: fc.array(fc.nat(2000), { maxLength: 6 }),
  // One case in eight aborts the connection after a prefix of its bytes.
  abort: fc.oneof({ arbitrary: fc.constant(null), weight: 7 }, { arbitrary: fc.nat(400), weight: 1 }),
});

// --- the run ------------------------------------------------------------------
const engines: Engine[] = ['compat', 'lean'];
const upstreams = new Map<Engine, Awaited<ReturnType<typeof startRecordingUpstream>>>();
const proxies = new Map<Engine, TestProxy>();

beforeAll(async () => {
  for (const engine of engines) {
    const upstream = await startRecordingUpstream();
    const proxy = await startProxy({ endpoints: [upstream.key], engine });
    upstreams.set(engine, upstream);
    proxies.set(engine, proxy);
  }
});
afterAll(async () => {
  for (const e of engines) {
    await proxies.get(e)!.stop();
    await upstreams.get(e)!.close();
  }
});

describe('lean engine vs the reference engine', () => {
  it('same upstream requests and same client responses over a generated corpus', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ requests, cuts, abort }) => {
        // Requests after one that closes (Connection: close, or a close-delimited response) never run.
        const n = requests.findIndex((r) => r.close || r.script === 'close');
        const run = n < 0 ? requests : requests.slice(0, n + 1);
        const bytes = Buffer.from(run.map((r, i) => encode(r, i === run.length - 1)).join(''), 'latin1');
        const heads = run.map((r) => r.method === 'HEAD');
        const outcomes: Outcome[] = [];
        const seen: Recorded[][] = [];
        for (const engine of engines) {
          const recorded = upstreams.get(engine)!.recorded;
          recorded.length = 0;
          outcomes.push(await exchange(proxies.get(engine)!.port, bytes, cuts, heads, abort));
          seen.push([...recorded]);
        }
        if (abort !== null) return; // an aborted connection only has to leave both proxies serving
        // node:http dispatches pipelined requests at once (over several upstream
        // connections), the lean engine one after the other: compare as multisets.
        const sorted = (list: Recorded[]): string[] => list.map((r) => JSON.stringify(r)).sort();
        expect(sorted(seen[1])).toEqual(sorted(seen[0]));
        expect(outcomes[1].responses).toEqual(outcomes[0].responses);
        expect(outcomes[1].responses).toHaveLength(run.length);
        compared++;
      }),
      { numRuns: 500, interruptAfterTimeLimit: 40_000, endOnFailure: true, verbose: 1 },
    );
    expect(compared).toBeGreaterThan(100);
  }, 60_000);

  it('both engines still serve after the corpus (aborts left nothing stuck)', async () => {
    for (const engine of engines) {
      const out = await exchange(proxies.get(engine)!.port, Buffer.from('GET /after HTTP/1.1\r\nHost: a\r\n\r\n'), [], [false], null);
      expect(out.responses).toHaveLength(1);
    }
  });
});
