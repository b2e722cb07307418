// HTTP/1.1 through the proxy, with each HTTP/1.1 engine: methods, bodies,
// chunked uploads, keep-alive, hop-by-hop stripping and per-request spread
// over the replicas.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import { startHttpReplicas, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { sendRaw } from './support/raw-http.ts';

for (const engine of ['lean', 'compat'] as const) describe(`HTTP/1.1 forwarding (${engine} engine)`, () => {
  let replicas: Replica[];
  let proxy: TestProxy;
  let client: Agent;

  beforeAll(async () => {
    replicas = await startHttpReplicas(3);
    proxy = await startProxy({ endpoints: replicas.map((r) => r.key), upstream: { lb: 'round_robin' }, engine });
    client = new Agent({ connections: 1 });
  });

  afterAll(async () => {
    await client.close();
    await proxy.stop();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('forwards GET with method, path and query untouched', async () => {
    const res = await request(`${proxy.url}/a/b?x=1&y=%20z`, { dispatcher: client });
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(text).toMatch(/^r\d GET \/a\/b\?x=1&y=%20z 0$/);
  });

  it('forwards POST bodies with Content-Length and chunked encoding', async () => {
    const res = await request(`${proxy.url}/post`, { method: 'POST', body: 'x'.repeat(12345), dispatcher: client });
    expect(await res.body.text()).toMatch(/ POST \/post 12345$/);

    // A chunked upload from a raw stream (no Content-Length).
    const { Readable } = await import('node:stream');
    const body = Readable.from((function* () { for (let i = 0; i < 10; i++) yield Buffer.alloc(1000, 97); })());
    const res2 = await request(`${proxy.url}/chunked`, { method: 'PUT', body, dispatcher: client });
    expect(await res2.body.text()).toMatch(/ PUT \/chunked 10000$/);
  });

  it('streams a body back (echo) byte for byte', async () => {
    const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    const res = await request(`${proxy.url}/echo`, { method: 'POST', body: payload, dispatcher: client });
    const back = Buffer.from(await res.body.arrayBuffer());
    expect(back.equals(payload)).toBe(true);
  });

  it('spreads consecutive requests on one connection over all replicas', async () => {
    const before = replicas.map((r) => r.requests);
    for (let i = 0; i < 30; i++) await (await request(`${proxy.url}/spread`, { dispatcher: client })).body.text();
    const delta = replicas.map((r, i) => r.requests - before[i]);
    expect(delta.every((d) => d === 10)).toBe(true);
  });

  it('reuses one client connection (keep-alive) for many requests', async () => {
    let connections = 0;
    const counting = (proxy.app.listeners[0].tcp as net.Server);
    const onConn = (): void => void connections++;
    counting.on('connection', onConn);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        http.get(`${proxy.url}/ka`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
    }
    agent.destroy();
    counting.off('connection', onConn);
    expect(connections).toBe(1);
  });

  it('strips hop-by-hop headers and those named by Connection, keeps end-to-end ones and Host', async () => {
    const { data: raw } = await sendRaw(proxy.port,
      'GET /hdr HTTP/1.1\r\nHost: svc.example:8080\r\nConnection: keep-alive, x-secret\r\nKeep-Alive: timeout=5\r\n' +
      'X-Secret: hush\r\nProxy-Authorization: Basic Zm9v\r\nTE: trailers, deflate\r\nUpgrade-Insecure-Requests: 1\r\nX-User: u1\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    const seen = replicas.map((r) => r.lastHeaders).find((h) => h?.['x-user'] === 'u1')!;
    expect(seen).toBeDefined();
    expect(seen.host).toBe('svc.example:8080');
    expect(seen['x-secret']).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen.te).toBe('trailers');
    expect(seen['upgrade-insecure-requests']).toBe('1');
  });
  });
