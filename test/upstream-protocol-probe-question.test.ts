// `--upstream-protocol auto` on --engine compat probes an endpoint after an
// ambiguous reset; a request may only act on a probe asked in its own
// protocol. A replica that speaks both HTTP/1.1 and h2c (prior knowledge)
// answers each question in the protocol it was asked in: a request of the
// other protocol that waited on that probe would take the answer as "speaks
// only the other one", mark the endpoint, and send a POST the replica already
// processed a second time.

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy } from './support/proxy.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

interface Dual {
  readonly key: string;
  /** `METHOD path HTTP-version` of every request the replica processed (probes' OPTIONS excluded). */
  readonly processed: string[];
}

/**
 * Speaks HTTP/1.1 and h2c prior knowledge on one port (as nginx's `http2 on`
 * or Go's h2c handler do). It processes each POST, then, once `resetAfter`
 * POSTs have arrived, resets their connections without answering (a replica
 * crashing after doing the work); any later POST is reset at once. OPTIONS (the probe's HTTP/1.1 question) is answered.
 */
async function dualProtocol(resetAfter: number): Promise<Dual> {
  const processed: string[] = [];
  const held: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const handle = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, socket: net.Socket): void => {
    if (req.method === 'OPTIONS') {
      res.end();
      return;
    }
    req.resume();
    req.on('end', () => {
      processed.push(`${req.method} ${req.url} ${req.httpVersion}`);
      held.push(socket);
      // Later POSTs (a request sent again) are reset at once.
      if (held.length >= resetAfter || processed.length > resetAfter) for (const s of held.splice(0)) s.resetAndDestroy();
    });
  };
  const h1 = http.createServer((req, res) => handle(req, res, req.socket));
  const h2 = http2.createServer((req, res) => handle(req, res, req.stream.session!.socket as net.Socket));
  h2.on('sessionError', () => {});
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('readable', () => {
      const first: Buffer | null = socket.read();
      if (first === null) return;
      socket.unshift(first);
      const isH2 = first.length >= 3 && first.toString('latin1', 0, Math.min(first.length, PREFACE.length)) === PREFACE.slice(0, Math.min(first.length, PREFACE.length));
      (isH2 ? h2 : h1).emit('connection', socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { key: `127.0.0.1:${(server.address() as AddressInfo).port}`, processed };
}

function h2Post(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', () => {});
    const stream = session.request({ ':path': path, ':method': 'POST' });
    stream.on('response', (h) => {
      stream.resume();
      stream.on('end', () => session.close(() => resolve(Number(h[':status']))));
    });
    stream.on('error', (err) => {
      session.destroy();
      reject(err);
    });
    stream.end('h2 body');
  });
}

describe('--upstream-protocol auto probes on --engine compat', () => {
  it('a POST over one protocol never acts on a probe asked in the other: a dual-protocol replica that resets after processing is not marked, and nothing is sent twice', async () => {
    const replica = await dualProtocol(2);
    const p = await startProxy({ engine: 'compat', endpoints: [replica.key], upstream: { protocol: 'auto', retries: 0 } });
    cleanups.push(() => p.stop());
    // One POST from an HTTP/1.1 client and one from an h2c client, reset together after both were processed:
    // whichever failure is reported first starts the probe (asked in its protocol), the other finds it in flight.
    const [plain, h2] = await Promise.all([
      request(`${p.url}/h1`, { method: 'POST', body: 'h1 body' }).then(async (r) => {
        await r.body.text();
        return r.statusCode;
      }),
      h2Post(p.url, '/h2'),
    ]);
    expect([plain, h2]).toEqual([502, 502]);
    // Each POST processed once: neither was sent again in the other protocol.
    expect(replica.processed.sort()).toEqual(['POST /h1 1.1', 'POST /h2 2.0']);
    const status = (await (await request(`${p.adminUrl}/status.json`)).body.json()) as { upstreams: { endpoints: { key: string; protocol: string }[] }[] };
    expect(status.upstreams[0].endpoints.map((e) => e.protocol)).toEqual(['unknown']);
  });
});
