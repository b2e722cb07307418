// Flow control of the lean engine's direct socket reads and writes
// (lib/io/socket-reader.ts, socket-writer.ts): a client that stops reading
// pauses the upstream, an upstream that stops reading pauses the client, and
// no byte is lost, duplicated or reordered when writes have to wait in libuv
// (including body slices of the upstream's reusable read buffer). Pipelined
// requests are answered in order while the client is not reading.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { streamWrap } from '../lib/io/stream-handle.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';

const BIG = 64 * 1024 * 1024;
/** A client or upstream that stops reading is held this long. */
const HOLD_MS = 700;

/** The byte at `offset` of every test body: varies fast and slow, so a shifted or repeated slice shows. */
function patternByte(offset: number): number {
  return (offset * 7 + (offset >>> 13)) & 0xff;
}

function patternChunk(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = patternByte(offset + i);
  return b;
}

/** Checks streamed bytes against the pattern; `bad` is the first wrong offset or -1. */
class PatternCheck {
  offset = 0;
  bad = -1;
  feed(chunk: Buffer, start = 0): void {
    for (let i = start; i < chunk.length; i++, this.offset++) {
      if (this.bad < 0 && chunk[i] !== patternByte(this.offset)) this.bad = this.offset;
    }
  }
}

/** Write `total` pattern bytes to `socket`, honouring its backpressure; `written()` counts bytes handed to it so far. */
function pump(socket: net.Socket, total: number): { written(): number; done: Promise<void> } {
  let sent = 0;
  const done = new Promise<void>((resolve) => {
    const more = (): void => {
      while (sent < total && !socket.destroyed) {
        const n = Math.min(64 * 1024, total - sent);
        const ok = socket.write(patternChunk(sent, n));
        sent += n;
        if (!ok) {
          socket.once('drain', more);
          return;
        }
      }
      resolve();
    };
    more();
  });
  return { written: () => sent - socket.writableLength, done };
}

interface Upstream {
  readonly key: string;
  close(): Promise<void>;
}

/** A raw upstream: `onHead(head, socket, rest)` for each connection's first request head. */
async function startUpstream(onHead: (head: string, socket: net.Socket, rest: Buffer) => void): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      onHead(buf.toString('latin1', 0, end + 4), socket, buf.subarray(end + 4));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    key: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('the direct read/write paths are available on this Node.js, and off in the plain-io project (vitest.config.ts)', () => {
  // The default project tests the fast paths, plain-io the socket.write() / 'data' fallback: each must be what it claims.
  if (process.env.RINGSIDE_LEAN_PLAIN_IO === '1') expect(streamWrap).toBeNull();
  else expect(streamWrap).not.toBeNull();
});

describe('lean engine: a client that stops reading', () => {
  let upstream: Upstream;
  let proxy: TestProxy;
  let upstreamWritten = () => 0;
  beforeAll(async () => {
    upstream = await startUpstream((head, socket) => {
      if (head.startsWith('GET /big ')) {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`);
        const p = pump(socket, BIG);
        upstreamWritten = p.written;
      } else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
    proxy = await startProxy({ endpoints: [upstream.key], engine: 'lean' });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  it('pauses the upstream, then delivers every byte in order when the client reads again', async () => {
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    client.pause();
    client.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(HOLD_MS);
    // Socket buffers on the way hold a few MB; without backpressure the proxy would take all 64 MB.
    const whilePaused = upstreamWritten();
    expect(whilePaused).toBeLessThan(BIG / 2);

    const check = new PatternCheck();
    let head = '';
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      client.on('data', (d: Buffer) => {
        let start = 0;
        if (!head.endsWith('\r\n\r\n')) {
          const end = d.indexOf('\r\n\r\n');
          if (end < 0) {
            head += d.toString('latin1');
            return;
          }
          head += d.toString('latin1', 0, end + 4);
          start = end + 4;
        }
        received += d.length - start;
        check.feed(d, start);
        if (received >= BIG) resolve();
      });
      client.on('close', () => reject(new Error(`closed after ${received} body bytes`)));
      client.resume();
    });
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toBe(BIG);
    expect(check.bad).toBe(-1);
    client.destroy();
  }, 30_000);

  it('a client that goes away with writes queued: the upstream connection is dropped, the proxy serves on', async () => {
    const endpoint = [...proxy.app.upstreams.get('default')!.endpoints.values()][0];
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    client.pause();
    client.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(HOLD_MS);
    expect(endpoint.clients.pool().size).toBe(1);
    client.resetAndDestroy();
    for (let i = 0; i < 100 && endpoint.clients.pool().size > 0; i++) await sleep(20);
    expect(endpoint.clients.pool().size).toBe(0);
    const reply = await new Promise<string>((resolve) => {
      const c = net.connect(proxy.port, '127.0.0.1', () => c.write('GET /small HTTP/1.1\r\nHost: a\r\n\r\n'));
      let data = '';
      c.on('data', (d: Buffer) => (data += d.toString('latin1')));
      c.on('close', () => resolve(data));
      c.on('error', () => {});
      setTimeout(() => c.destroy(), 2000);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
  }, 30_000);
});

describe('lean engine: an upstream that stops reading', () => {
  let upstream: Upstream;
  let proxy: TestProxy;
  let check: PatternCheck;
  beforeAll(async () => {
    upstream = await startUpstream((head, socket, rest) => {
      check = new PatternCheck();
      socket.pause();
      setTimeout(() => {
        let got = 0;
        const onBody = (d: Buffer): void => {
          check.feed(d);
          got += d.length;
          if (got >= BIG) socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${String(got).length}\r\nConnection: close\r\n\r\n${got}`);
        };
        if (rest.length > 0) onBody(rest);
        socket.on('data', onBody);
        socket.resume();
      }, HOLD_MS);
    });
    proxy = await startProxy({ endpoints: [upstream.key], engine: 'lean' });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  it('pauses the client upload, then forwards every byte in order', async () => {
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    await new Promise((r) => client.once('connect', r));
    client.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${BIG}\r\n\r\n`);
    const p = pump(client, BIG);
    await sleep(HOLD_MS - 200);
    expect(p.written()).toBeLessThan(BIG / 2);

    let reply = '';
    await new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        reply += d.toString('latin1');
        if (reply.endsWith(`\r\n\r\n${BIG}`)) resolve();
      });
    });
    client.destroy();
    expect(reply).toMatch(new RegExp(`^HTTP/1\\.1 200 [^]*\\r\\n\\r\\n${BIG}$`));
    expect(check.offset).toBe(BIG);
    expect(check.bad).toBe(-1);
  }, 30_000);
});

describe('lean engine: pipelined requests while the client is not reading', () => {
  const N = 60;
  const SIZE = 200 * 1024;
  let upstream: Upstream;
  let proxy: TestProxy;
  beforeAll(async () => {
    // One upstream connection may carry several of the requests in turn: answer every head on it.
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
          const id = Number(/^GET \/r(\d+) /.exec(buf)![1]);
          buf = buf.slice(end + 4);
          // Each body is the pattern shifted by the request's number, in uneven writes.
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
          for (let o = 0; o < SIZE; o += 7001) socket.write(patternChunk(id * 1000 + o, Math.min(7001, SIZE - o)));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    upstream = {
      key: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    };
    proxy = await startProxy({ endpoints: [upstream.key], engine: 'lean' });
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  it('answers all of them in order with intact bodies', async () => {
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    client.pause();
    let all = '';
    for (let i = 0; i < N; i++) all += `GET /r${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    client.write(all);
    await sleep(HOLD_MS);

    const chunks: Buffer[] = [];
    let total = 0;
    const expected = N * (SIZE + 64);
    await new Promise<void>((resolve) => {
      client.on('data', (d: Buffer) => {
        chunks.push(d);
        total += d.length;
        if (total >= expected - N * 64) {
          // Heads are under 64 bytes each; parse once everything could be there.
          const data = Buffer.concat(chunks);
          if (countResponses(data) === N) resolve();
        }
      });
      client.resume();
    });
    const data = Buffer.concat(chunks);
    let pos = 0;
    for (let i = 0; i < N; i++) {
      const end = data.indexOf('\r\n\r\n', pos);
      expect(data.toString('latin1', pos, pos + 15)).toBe('HTTP/1.1 200 OK');
      const body = data.subarray(end + 4, end + 4 + SIZE);
      const check = new PatternCheck();
      check.offset = i * 1000;
      check.feed(body);
      expect(check.bad, `response ${i}`).toBe(-1);
      pos = end + 4 + SIZE;
    }
    expect(pos).toBe(data.length);
    client.destroy();
  }, 30_000);
});

/** Complete Content-Length responses at the start of `data`. */
function countResponses(data: Buffer): number {
  let pos = 0;
  let n = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', pos);
    if (end < 0) return n;
    const m = /content-length: (\d+)/i.exec(data.toString('latin1', pos, end));
    const next = end + 4 + Number(m![1]);
    if (next > data.length) return n;
    pos = next;
    n++;
  }
}
