// gRPC's grpc-timeout request header is the call's deadline: when it passes,
// ringside answers DEADLINE_EXCEEDED and cancels the upstream stream, even if
// the client itself does not enforce it, and even after the response started.

import { afterEach, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseGrpcTimeout } from '../lib/forwarding/exchange.ts';
import { startProxy } from './support/proxy.ts';
import { waitFor } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An h2c upstream that sends response headers (optionally) and then never finishes. */
async function stallingUpstream(sendHead: boolean): Promise<{ key: string; resets: () => number }> {
  let resets = 0;
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    // The proxy cancels its upstream stream: the server sees it aborted.
    stream.on('aborted', () => resets++);
    if (sendHead) stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { key: `127.0.0.1:${(server.address() as AddressInfo).port}`, resets: () => resets };
}

/** A raw gRPC-shaped call with grpc-timeout and no client-side deadline: resolves with status, headers and trailers. */
function rawCall(url: string, timeout: string): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; ms: number }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    cleanups.push(() => session.close());
    const t0 = Date.now();
    const req = session.request({ ':method': 'POST', ':path': '/ringside.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('error', reject);
    req.resume();
    req.on('end', () => resolve({ headers, trailers, ms: Date.now() - t0 }));
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

describe('grpc-timeout', () => {
  it('parses every unit of the header', () => {
    expect(parseGrpcTimeout('1H')).toBe(3_600_000);
    expect(parseGrpcTimeout('2M')).toBe(120_000);
    expect(parseGrpcTimeout('3S')).toBe(3000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBe(2);
    expect(parseGrpcTimeout('100n')).toBe(1);
    expect(parseGrpcTimeout('123456789S')).toBe(0); // more than 8 digits
    expect(parseGrpcTimeout('5x')).toBe(0);
    expect(parseGrpcTimeout(undefined)).toBe(0);
  });

  it('answers DEADLINE_EXCEEDED (trailers-only) when the upstream has not answered in time, and resets the upstream stream', async () => {
    const up = await stallingUpstream(false);
    const p = await startProxy({ endpoints: [up.key] });
    cleanups.push(() => p.stop());
    const { headers, ms } = await rawCall(p.url, '300m');
    expect(headers[':status']).toBe(200);
    expect(headers['grpc-status']).toBe('4');
    expect(decodeURIComponent(String(headers['grpc-message']))).toContain('deadline');
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    await waitFor(() => up.resets() === 1, 2000, 'upstream stream reset');
  });

  it('ends a stream whose head already went out with DEADLINE_EXCEEDED in trailers', async () => {
    const up = await stallingUpstream(true);
    const p = await startProxy({ endpoints: [up.key] });
    cleanups.push(() => p.stop());
    const { headers, trailers } = await rawCall(p.url, '300m');
    expect(headers[':status']).toBe(200);
    expect(headers['grpc-status']).toBeUndefined();
    expect(trailers['grpc-status']).toBe('4');
    await waitFor(() => up.resets() === 1, 2000, 'upstream stream reset');
  });
});
