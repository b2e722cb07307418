// What the lean HTTP/1.1 engine's hand-written codec must get right, end to
// end: pipelining, 100-continue, HEAD/204/304, trailers, close-delimited
// bodies, HTTP/1.0, Connection: close, upstream failures, client aborts,
// timeouts. The behaviours both engines share run against both in
// http1-forwarding, http1-hostile-input and streaming-memory.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Agent, request } from 'undici';
import { startHttpReplica, startHttpReplicas, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { sendRaw } from './support/raw-http.ts';

function startLeanProxy(options: Parameters<typeof startProxy>[0]): Promise<TestProxy> {
  return startProxy({ ...options, engine: 'lean' });
}

/** A raw upstream answering each request head with `respond(head, socket)`; records the bytes it got. */
async function startScriptedUpstream(respond: (head: string, socket: net.Socket) => void): Promise<{ server: net.Server; key: string; received: string[]; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { received: [] as string[], connections: 0 };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        state.received.push(head);
        respond(head, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    server,
    key: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}

describe('lean engine: pipelining, 100-continue, HTTP/1.0', () => {
  let replicas: Replica[];
  let proxy: TestProxy;
  let client: Agent;
  beforeAll(async () => {
    replicas = await startHttpReplicas(3);
    proxy = await startLeanProxy({ endpoints: replicas.map((r) => r.key), upstream: { lb: 'round_robin' } });
    client = new Agent({ connections: 1 });
  });
  afterAll(async () => {
    await client.close();
    await proxy.stop();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('answers pipelined requests in order on one connection', async () => {
    const reqs = ['/p1', '/p2', '/p3', '/p4'].map((p, i) =>
      i === 2 ? `POST ${p} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello` : `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
    const { data } = await sendRaw(proxy.port, reqs, 800);
    const bodies = [...data.matchAll(/r\d (GET|POST) (\/p\d) (\d+)/g)].map((m) => `${m[2]} ${m[3]}`);
    expect(bodies).toEqual(['/p1 0', '/p2 0', '/p3 5', '/p4 0']);
  });

  it('answers Expect: 100-continue itself, then forwards the body', async () => {
    const { data } = await new Promise<{ data: string }>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write('POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => {
        data += d.toString('latin1');
        if (data === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('abc');
        if (/ 3$/.test(data)) { socket.destroy(); resolve({ data }); }
      });
    });
    expect(data).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*r\d POST \/c 3$/);
  });

  it('HTTP/1.0 gets a response and a close; Connection: close is honoured', async () => {
    const old = await sendRaw(proxy.port, 'GET /old HTTP/1.0\r\n\r\n', 2000);
    expect(old.data).toMatch(/^HTTP\/1\.1 200 [^]*r\d GET \/old 0$/);
    expect(old.closed).toBe(true);
    const close = await sendRaw(proxy.port, 'GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000);
    expect(close.data).toMatch(/connection: close/i);
    expect(close.closed).toBe(true);
  });
});

describe('lean engine: framing edge cases against a scripted upstream', () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    upstream = await startScriptedUpstream((head, socket) => {
      const path = head.split(' ')[1];
      switch (path) {
        case '/chunked-trailers':
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 42\r\n\r\n');
          break;
        case '/close-delimited':
          socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
          break;
        case '/204':
          socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
          break;
        case '/304':
          socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
          break;
        case '/head':
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
          break;
        case '/head-or-get':
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n' + (head.startsWith('HEAD ') ? '' : '0123456789'));
          break;
        case '/early-hints':
          socket.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          break;
        case '/die-before-head':
          socket.destroy();
          break;
        case '/die-mid-body':
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
          setTimeout(() => socket.destroy(), 20);
          break;
        case '/smuggle':
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
          break;
        case '/slow':
          setTimeout(() => socket.writable && socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 3000);
          break;
        case '/hang':
          break;
        default:
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    proxy = await startLeanProxy({ endpoints: [upstream.key], upstream: { requestTimeoutMs: 1000 } });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  it('passes chunked bodies with extensions and trailers through', async () => {
    const { data } = await sendRaw(proxy.port, 'GET /chunked-trailers HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(data).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(data.endsWith('\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 42\r\n\r\n')).toBe(true);
    const res = await request(`${proxy.url}/chunked-trailers`);
    expect(await res.body.text()).toBe('hello world');
  });

  it('decodes chunked for an HTTP/1.0 client and closes', async () => {
    const { data, closed } = await sendRaw(proxy.port, 'GET /chunked-trailers HTTP/1.0\r\n\r\n', 2000);
    expect(data).not.toMatch(/transfer-encoding/i);
    expect(data.endsWith('\r\n\r\nhello world')).toBe(true);
    expect(closed).toBe(true);
  });

  it('re-frames a close-delimited response as chunked and keeps the client connection', async () => {
    const { data, closed } = await sendRaw(proxy.port, 'GET /close-delimited HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n', 800);
    expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
    expect(closed).toBe(false);
  });

  it('sends no body for 204, 304 and HEAD, and the next pipelined response follows intact', async () => {
    const { data } = await sendRaw(proxy.port, 'GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n', 800);
    expect(data).toMatch(/^HTTP\/1\.1 204 No Content\r\nX-A: 1\r\n\r\nHTTP\/1\.1 304 Not Modified\r\nETag: "x"\r\n\r\nHTTP\/1\.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP\/1\.1 200 OK\r\nContent-Length: 2\r\n\r\nok$/);
  });

  it('a repeated upstream head (parsed once, then reused) still gets each client its own framing', async () => {
    // The same upstream bytes every time: HTTP/1.1 keep-alive, HTTP/1.0, Connection: close, HEAD then GET.
    const get11 = 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n';
    const first = await sendRaw(proxy.port, get11 + get11, 800);
    expect(first.data).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.repeat(2));
    const old = await sendRaw(proxy.port, 'GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\n\r\n', 2000);
    expect(old.data).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: keep-alive\r\n\r\nok' + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: close\r\n\r\nok');
    expect(old.closed).toBe(true);
    const close = await sendRaw(proxy.port, get11 + 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 2000);
    expect(close.data).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: close\r\n\r\nok');
    expect(close.closed).toBe(true);
    // HEAD and GET get the same head bytes but different framing: HEAD has no body, GET has 10 bytes.
    const hg = (m: string) => `${m} /head-or-get HTTP/1.1\r\nHost: a\r\n\r\n`;
    const head = await sendRaw(proxy.port, hg('GET') + hg('HEAD') + hg('HEAD') + hg('GET'), 800);
    const h10 = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n';
    expect(head.data).toBe(h10 + '0123456789' + h10 + h10 + h10 + '0123456789');
    // The close-delimited head twice: re-chunked both times.
    const rechunked = await sendRaw(proxy.port, 'GET /close-delimited HTTP/1.1\r\nHost: a\r\n\r\nGET /close-delimited HTTP/1.1\r\nHost: a\r\n\r\n', 800);
    expect(rechunked.data).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ntransfer-encoding: chunked\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\n'.repeat(2));
  });

  it('drops 1xx interim responses from the upstream', async () => {
    const { data } = await sendRaw(proxy.port, 'GET /early-hints HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(data).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });

  it('an upstream that dies before the head -> 502 with x-ringside-error; the client connection lives on', async () => {
    const { data, closed } = await sendRaw(proxy.port, 'GET /die-before-head HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n', 800);
    expect(data).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n[^]*x-ringside-error: RS_ERR_UPSTREAM_RESET\r\n[^]*HTTP\/1\.1 200 OK[^]*ok$/);
    expect(closed).toBe(false);
  });

  it('an upstream that dies mid-body -> the client connection is closed (never a truncated success)', async () => {
    const { data, closed } = await sendRaw(proxy.port, 'GET /die-mid-body HTTP/1.1\r\nHost: a\r\n\r\n', 2000);
    expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Length: 100\r\n\r\npartial$/);
    expect(closed).toBe(true);
  });

  it('an ambiguous upstream response (CL + TE) -> 502', async () => {
    const { data } = await sendRaw(proxy.port, 'GET /smuggle HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(data).toMatch(/^HTTP\/1\.1 502 /);
  });

  it('no response head within the request timeout -> 504 RS_ERR_TIMEOUT', async () => {
    const { data } = await sendRaw(proxy.port, 'GET /hang HTTP/1.1\r\nHost: a\r\n\r\n', 2500);
    expect(data).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n[^]*x-ringside-error: RS_ERR_TIMEOUT/);
  });

  it('a client abort destroys the upstream connection instead of pooling it', async () => {
    const before = upstream.connections;
    const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n'));
    socket.on('error', () => {});
    await new Promise((r) => setTimeout(r, 200));
    const endpoint = [...proxy.app.upstreams.get('default')!.endpoints.values()][0];
    const open = endpoint.clients.pool().size;
    socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(endpoint.clients.pool().size).toBe(open - 1);
    // The next request opens (or reuses an idle) connection and works.
    const { data } = await sendRaw(proxy.port, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(data).toMatch(/ok$/);
    expect(upstream.connections).toBeGreaterThanOrEqual(before);
  });

  it('keeps upstream connections alive across requests (pooled, reused)', async () => {
    const before = upstream.connections;
    for (let i = 0; i < 5; i++) await (await request(`${proxy.url}/x`)).body.text();
    expect(upstream.connections - before).toBeLessThanOrEqual(1);
  });
});

describe('lean engine: upstream errors', () => {
  it('connection refused -> 502 RS_ERR_CONNECT_FAILED; no endpoints -> 503 RS_ERR_NO_ENDPOINTS', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const refused = await startLeanProxy({ endpoints: [`127.0.0.1:${port}`] });
    const empty = await startLeanProxy({ endpoints: [] });
    try {
      const a = await request(`${refused.url}/x`);
      expect(a.statusCode).toBe(502);
      expect(a.headers['x-ringside-error']).toBe('RS_ERR_CONNECT_FAILED');
      await a.body.text();
      const b = await request(`${empty.url}/x`, { method: 'POST', body: 'abc' });
      expect(b.statusCode).toBe(503);
      expect(b.headers['x-ringside-error']).toBe('RS_ERR_NO_ENDPOINTS');
      await b.body.text();
    } finally {
      await refused.stop();
      await empty.stop();
    }
  });
});

// The lean engine reads every client connection into one shared buffer (see
// lib/io/socket-reader.ts): bytes a connection keeps past a read (a partial
// head, a pipelined request waiting for the one before) must be copies, or the
// next read of any connection overwrites them.
describe('lean engine: bytes kept across reads survive other connections', () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    upstream = await startScriptedUpstream((head, socket) => {
      const path = head.split(' ')[1];
      const reply = (): void => void socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
      if (path.startsWith('/slow')) setTimeout(reply, 150);
      else reply();
    });
    proxy = await startLeanProxy({ endpoints: [upstream.key] });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  /** A kept-alive client connection: write, and wait until the bodies seen so far end with `until`. */
  async function connect(): Promise<{ write(s: string): void; until(text: string): Promise<string>; close(): void }> {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let data = '';
    const waiters: (() => void)[] = [];
    socket.on('data', (d) => {
      data += d.toString('latin1');
      for (const w of waiters.splice(0)) w();
    });
    return {
      write: (s) => void socket.write(s),
      until: (text) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${text}; got ${JSON.stringify(data)}`)), 3000);
          const check = (): void => {
            if (data.endsWith(text)) {
              clearTimeout(timer);
              resolve(data);
            } else waiters.push(check);
          };
          check();
        }),
      close: () => socket.destroy(),
    };
  }
  const noise = '/' + 'z'.repeat(300);

  /** Two connections, the first past its first request, so that its next bytes come through the shared buffer (the listener reads each connection's first chunk). */
  async function warmPair(): Promise<[Awaited<ReturnType<typeof connect>>, Awaited<ReturnType<typeof connect>>]> {
    const a = await connect();
    const b = await connect();
    a.write('GET /warm HTTP/1.1\r\nHost: a\r\n\r\n');
    await a.until('/warm');
    return [a, b];
  }

  it('a pipelined request waiting behind a slow one', async () => {
    const [a, b] = await warmPair();
    a.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\nPOST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
    b.write(`GET ${noise} HTTP/1.1\r\nHost: b\r\n\r\n`);
    await b.until(noise);
    b.write(`GET ${noise}2 HTTP/1.1\r\nHost: b\r\n\r\n`);
    await b.until(noise + '2');
    const data = await a.until('/second');
    expect(data).toMatch(/\/warm[^]*200 OK[^]*\/slow[^]*200 OK[^]*\/second$/);
    expect(upstream.received.filter((h) => h.startsWith('POST /second'))).toHaveLength(1);
    a.close();
    b.close();
  });

  it('a head that arrives in two reads, with another connection read in between', async () => {
    const [a, b] = await warmPair();
    a.write('GET /split-head HTTP/1.1\r\nHost: a\r\nX-Half: ');
    await new Promise((r) => setTimeout(r, 30));
    b.write(`GET ${noise} HTTP/1.1\r\nHost: b\r\n\r\n`);
    await b.until(noise);
    a.write('second-half\r\n\r\n');
    await a.until('/split-head');
    expect(upstream.received.find((h) => h.startsWith('GET /split-head'))).toMatch(/\r\nX-Half: second-half\r\n/i);
    a.close();
    b.close();
  });
});

describe('lean engine: a client that pipelines but does not read', () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>;
  let proxy: TestProxy;
  beforeAll(async () => {
    // GET /big/SIZE/N: SIZE bytes that name the request, so a response built from the wrong bytes shows.
    upstream = await startScriptedUpstream((head, socket) => {
      const [, size, n] = head.split(' ')[1].slice(1).split('/');
      const body = `<${n}>`.repeat(Math.ceil(Number(size) / (n.length + 2))).slice(0, Number(size));
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    proxy = await startLeanProxy({ endpoints: [upstream.key] });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  /** Pipeline `count` requests for `size`-byte responses, read nothing for `pauseMs`, then read all; the requests forwarded meanwhile, and the responses. */
  async function pipelineWithoutReading(size: number, count: number, pauseMs: number): Promise<{ forwardedWhilePaused: number; bodies: string[] }> {
    upstream.received.length = 0;
    const socket = net.connect(proxy.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    const reqs: string[] = [];
    for (let i = 0; i < count; i++) reqs.push(`GET /big/${size}/${String(i).padStart(5, '0')} HTTP/1.1\r\nHost: a\r\n\r\n`);
    socket.write(reqs.join(''));
    await new Promise((r) => setTimeout(r, pauseMs));
    const forwardedWhilePaused = upstream.received.length;
    const chunks: Buffer[] = [];
    let total = 0;
    const expected = count * (size + `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`.length);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${total} of at least ${expected} bytes`)), 20_000);
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        total += d.length;
        if (total >= expected) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.resume();
    });
    socket.destroy();
    const text = Buffer.concat(chunks).toString('latin1');
    const bodies = text.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).slice(1);
    return { forwardedWhilePaused, bodies };
  }

  it('large responses: the upstream is paused per response, and all arrive in order once the client reads', async () => {
    const count = 400;
    const { forwardedWhilePaused, bodies } = await pipelineWithoutReading(64 * 1024, count, 1000);
    // 400 x 64 KiB = 25 MiB of responses; loopback socket buffers hold a few MiB.
    expect(forwardedWhilePaused).toBeGreaterThan(0);
    expect(forwardedWhilePaused).toBeLessThan(count / 2);
    expect(bodies).toHaveLength(count);
    bodies.forEach((b, i) => expect(b.slice(0, 7), `response ${i}`).toBe(`<${String(i).padStart(5, '0')}>`));
  });

  it('small responses: no more requests are forwarded than the socket buffers hold, and all arrive intact in order', async () => {
    // Each response fits in one read, so nothing pauses the upstream: only holding
    // back the next pipelined request bounds what waits for the client.
    // 1500-byte bodies: small enough that each response is built in the buffer the connection reuses.
    const count = 8000;
    const size = 1500;
    const { forwardedWhilePaused, bodies } = await pipelineWithoutReading(size, count, 1500);
    // 8000 x 1.5 KB = 12 MB of responses; loopback socket buffers held about 4 MB (2026-12-05).
    expect(forwardedWhilePaused).toBeGreaterThan(0);
    expect(forwardedWhilePaused).toBeLessThan(count * 0.75);
    expect(bodies).toHaveLength(count);
    for (let i = 0; i < count; i++) {
      const tag = `<${String(i).padStart(5, '0')}>`;
      if (bodies[i] !== tag.repeat(Math.ceil(size / 7)).slice(0, size)) expect.fail(`response ${i} is not the answer to request ${i}: ${bodies[i].slice(0, 40)}`);
    }
  });
});
