// Malformed and hostile HTTP/1.1 from raw sockets: each gets 400/431 and a
// closed connection, none reaches an upstream, and the proxy keeps serving.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';

let replica: Replica;
let proxy: TestProxy;

beforeAll(async () => {
  replica = await startHttpReplica('r0');
  proxy = await startProxy({ endpoints: [replica.key] });
});
afterAll(async () => {
  await proxy.stop();
  await replica.close();
});

/** Write raw bytes; resolve with everything read until the server closes (or a timeout). */
function raw(text: string | Buffer, timeoutMs = 2000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write(text));
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, closed: false });
    }, timeoutMs);
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}

const cases: Array<[string, string | Buffer, number]> = [
  ['garbage request line', 'HELLO\r\n\r\n', 400],
  ['bad HTTP version', 'GET / HTTP/9.9\r\nHost: a\r\n\r\n', 400],
  ['Content-Length with Transfer-Encoding (smuggling)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', 400],
  ['obs-fold header continuation', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  folded\r\n\r\n', 400],
  ['invalid header name', 'GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n', 400],
  ['transfer-encoding other than chunked last', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
  ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['oversized header block', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, 431],
  ['invalid chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 400],
];

describe('hostile HTTP/1.1 input', () => {
  for (const [name, input, status] of cases) {
    it(`${name} -> ${status} and the connection closes`, async () => {
      const before = replica.requests;
      const { data, closed } = await raw(input);
      // A request whose head was fine but whose body is malformed (bad chunk)
      // may already have been forwarded; it must still fail and close.
      if (!name.startsWith('invalid chunk')) {
        expect(data).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(replica.requests).toBe(before);
      }
      expect(closed).toBe(true);
    });
  }

  it('a header flood (10,000 tiny headers) is refused with 431', async () => {
    const headers = Array.from({ length: 10_000 }, (_, i) => `x-${i}: y`).join('\r\n');
    const { data, closed } = await raw(`GET / HTTP/1.1\r\nHost: a\r\n${headers}\r\n\r\n`);
    expect(data).toMatch(/^HTTP\/1\.1 431 /);
    expect(closed).toBe(true);
  });

  it('still serves well-formed requests afterwards', async () => {
    const res = await request(`${proxy.url}/ok`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('r0 GET /ok 0');
  });
});
