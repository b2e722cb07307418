// `--upstream-protocol auto` re-checks a learned protocol after
// PROTOCOL_RECHECK_MS by sending a request in the client's protocol again. A
// request whose body cannot be sent a second time (--retries 0, or more than
// --retry-buffer) must not be the one that re-checks: it would fail with 502
// whenever the endpoint still speaks only the learned protocol, one upload per
// endpoint every 5 minutes for nothing.

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, startProxy } from './support/proxy.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** node:http2's server without allowHTTP1: h2c only. Records the HTTP version of each request it processed. */
async function h2cOnly(): Promise<{ key: string; versions: string[] }> {
  const versions: string[] = [];
  const server = http2.createServer((req, res) => {
    versions.push(req.httpVersion);
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => res.end(`h2c ${req.method} ${req.url} ${bytes}`));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { key: `127.0.0.1:${(server.address() as AddressInfo).port}`, versions };
}

describe.each(ENGINES)('--upstream-protocol auto re-check (engine %s)', (engine) => {
  it('with --retries 0 and an upload over --retry-buffer, one due for the re-check still goes over the learned h2c; a bodiless request re-checks', async () => {
    const replica = await h2cOnly();
    const p = await startProxy({ engine, endpoints: [replica.key], upstream: { protocol: 'auto', retries: 0, retryBufferBytes: 1024 } });
    cleanups.push(() => p.stop());
    const first = await request(`${p.url}/learn`);
    expect(first.statusCode).toBe(200);
    await first.body.text();
    const endpoint = p.app.upstreams.get('default')!.endpoints.get(replica.key)!;
    expect(endpoint.protocolName).toBe('h2c');
    // Move the re-check time into the past, as 5 minutes would.
    endpoint.protocolRecheckAt = performance.now() - 1;
    const upload = await request(`${p.url}/upload`, { method: 'POST', body: 'u'.repeat(5000) });
    const text = await upload.body.text();
    expect([upload.statusCode, text]).toEqual([200, 'h2c POST /upload 5000']);
    // A request without a body makes the re-check (and learns h2c again).
    const plain = await request(`${p.url}/plain`);
    expect([plain.statusCode, await plain.body.text()]).toEqual([200, 'h2c GET /plain 0']);
    expect(endpoint.protocolName).toBe('h2c');
    expect(endpoint.protocolRecheckAt).toBeGreaterThan(performance.now() + 60_000);
  });
});
