// Slow clients cannot hold the proxy's sockets: a client trickling its
// HTTP/1.1 request head (one byte every 200 ms, a slowloris) is cut off by the
// headers timeout with 408 (RFC 9110 section 15.5.9) or a close, and a client
// that connects and sends nothing is closed after the first-bytes timeout,
// while other clients are served normally.
//
// The slowloris runs on a second listener with a 1 s headersTimeout
// (ListenerOptions.headersTimeoutMs) over the same route as the proxy, so the
// file stays short; the first-bytes timeout is the listener's fixed 10 s.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Agent, request } from 'undici';
import { Listener } from '../lib/listener/listener.ts';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';

const HEADERS_TIMEOUT_MS = 1_000;
/** node:http looks for expired heads once a second (the listener's connectionsCheckingInterval). */
const CHECK_INTERVAL_MS = 1_000;
const FIRST_BYTES_TIMEOUT_MS = 10_000;

let replica: Replica;
let proxy: TestProxy;
let listener: Listener;
let agent: Agent;

beforeAll(async () => {
  replica = await startHttpReplica('r0');
  proxy = await startProxy({ endpoints: [replica.key] });
  listener = new Listener({ listen: { host: '127.0.0.1', port: 0 }, route: proxy.app.listeners[0].route, headersTimeoutMs: HEADERS_TIMEOUT_MS });
  await listener.listen();
  agent = new Agent({ connections: 4 });
});
afterAll(async () => {
  await agent?.close();
  await listener?.close();
  await proxy?.stop();
  await replica?.close();
});

interface Trickled {
  /** What the server wrote back. */
  readonly reply: string;
  /** ms from connect until the server closed the connection (or -1: still open at the limit). */
  readonly closedAfterMs: number;
  /** Bytes of the head sent before the cut. */
  readonly sent: number;
}

/** Send a complete-looking request head one byte every `everyMs`, until the server closes or `limitMs` passes. */
function trickle(port: number, everyMs: number, limitMs: number): Promise<Trickled> {
  const head = `GET /slow HTTP/1.1\r\nHost: ringside.test\r\nX-Slow: ${'a'.repeat(500)}\r\n\r\n`;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = performance.now();
    let reply = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < head.length && socket.writable) socket.write(head[sent++]);
    }, everyMs);
    const limit = setTimeout(() => socket.destroy(new Error('limit')), limitMs);
    socket.on('data', (d) => (reply += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(limit);
      const elapsed = performance.now() - started;
      resolve({ reply, closedAfterMs: elapsed >= limitMs ? -1 : elapsed, sent });
    });
  });
}

/** Well-behaved requests on `port`, `n` of them, one after another; returns the failures. */
async function normalRequests(port: number, n: number): Promise<string[]> {
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const res = await request(`http://127.0.0.1:${port}/normal/${i}`, { dispatcher: agent, headersTimeout: 2_000, bodyTimeout: 2_000 });
      const body = await res.body.text();
      if (res.statusCode !== 200 || body !== `r0 GET /normal/${i} 0`) failures.push(`${res.statusCode} ${body}`);
    } catch (err) {
      failures.push((err as Error).message);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return failures;
}

describe('slow clients', () => {
  it('a head trickled one byte per 200 ms is cut off by the headers timeout (408) while others are served', { timeout: 15_000 }, async () => {
    const before = replica.requests;
    const [slow, failures] = await Promise.all([trickle(listener.port, 200, 8_000), normalRequests(listener.port, 50)]);
    expect(slow.closedAfterMs).toBeGreaterThan(0);
    expect(slow.closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(slow.closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 1_000);
    // It never finished its head (it would have needed ~110 s), so nothing was forwarded for it.
    expect(slow.sent).toBeLessThan(40);
    expect(slow.reply === '' || slow.reply.startsWith('HTTP/1.1 408 ')).toBe(true);
    expect(failures).toEqual([]);
    expect(replica.requests - before).toBe(50);
  });

  it('twenty slowloris connections at once are all cut off; other clients keep being served', { timeout: 15_000 }, async () => {
    const [slows, failures] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => trickle(listener.port, 200, 8_000))),
      normalRequests(listener.port, 50),
    ]);
    for (const slow of slows) {
      expect(slow.closedAfterMs).toBeGreaterThan(0);
      expect(slow.closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 1_000);
    }
    expect(failures).toEqual([]);
  });

  it('a connection that sends nothing is closed after the first-bytes timeout (10 s), on the default listener', { timeout: 20_000 }, async () => {
    const started = performance.now();
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = 0;
    socket.on('data', (d) => (received += d.length));
    const closedAfter = await new Promise<number>((resolve) => {
      const limit = setTimeout(() => {
        socket.destroy();
        resolve(-1);
      }, FIRST_BYTES_TIMEOUT_MS + 4_000);
      socket.on('close', () => {
        clearTimeout(limit);
        resolve(performance.now() - started);
      });
    });
    expect(closedAfter).toBeGreaterThanOrEqual(FIRST_BYTES_TIMEOUT_MS - 100);
    expect(closedAfter).toBeLessThan(FIRST_BYTES_TIMEOUT_MS + 2_000);
    expect(received).toBe(0);
    // The proxy itself is fine.
    expect(await normalRequests(proxy.port, 3)).toEqual([]);
  });
});
