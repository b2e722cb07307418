// Errors the proxy generates itself are explicit and typed, for HTTP/1.1,
// plain HTTP/2 and gRPC: 503/UNAVAILABLE without endpoints, 502/UNAVAILABLE
// when the endpoint refuses, 504/DEADLINE_EXCEEDED on timeout, and an
// upstream that dies mid-response never looks like a success.

import { afterEach, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import { request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { createEchoClient, grpc, startGrpcReplica, unary } from './support/grpc-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { unusedPort } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function proxyTo(endpoints: string[], upstream: Parameters<typeof startProxy>[0]['upstream'] = {}): Promise<TestProxy> {
  const proxy = await startProxy({ endpoints, upstream });
  cleanups.push(() => proxy.stop());
  return proxy;
}

function h2Get(url: string, path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const req = session.request({ ':path': path, ...headers });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (head = h));
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      session.close();
      resolve({ status: Number(head[':status']), headers: head, body });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy-generated errors', () => {
  it('no endpoints: 503 over HTTP/1.1 and HTTP/2, UNAVAILABLE over gRPC, naming the upstream', async () => {
    const proxy = await proxyTo([]);
    const res = await request(`${proxy.url}/x`);
    expect(res.statusCode).toBe(503);
    expect(res.headers['x-ringside-error']).toBe('RS_ERR_NO_ENDPOINTS');
    expect(await res.body.text()).toContain('no endpoints available for upstream "default"');

    const h2 = await h2Get(proxy.url, '/x');
    expect(h2.status).toBe(503);

    const client = createEchoClient(proxy.address);
    cleanups.push(() => client.close());
    const err = await unary(client, { message: 'x' }).catch((e) => e);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain('no endpoints available for upstream "default"');
  });

  it('connection refused: 502 and UNAVAILABLE, naming the endpoint', async () => {
    const port = await unusedPort();
    const proxy = await proxyTo([`127.0.0.1:${port}`]);
    const res = await request(`${proxy.url}/x`);
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toContain(`cannot connect to 127.0.0.1:${port}`);

    const client = createEchoClient(proxy.address);
    cleanups.push(() => client.close());
    const err = await unary(client, { message: 'x' }).catch((e) => e);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(`127.0.0.1:${port}`);
  });

  it('request timeout: 504 over HTTP/1.1 and DEADLINE_EXCEEDED over gRPC', async () => {
    const silent = await startHttpReplica('silent', { handler: () => {} });
    cleanups.push(() => silent.close());
    const proxy = await proxyTo([silent.key], { requestTimeoutMs: 200 });
    const res = await request(`${proxy.url}/x`);
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toContain('timed out');

    const g = await startGrpcReplica('slow');
    cleanups.push(() => g.close());
    const gproxy = await proxyTo([g.key], { requestTimeoutMs: 200 });
    const client = createEchoClient(gproxy.address);
    cleanups.push(() => client.close());
    const err = await unary(client, { message: 'x', count: 3000 }).catch((e) => e);
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('an upstream that dies mid-body is never a complete HTTP/1.1 success', async () => {
    let dying: Replica | null = null;
    dying = await startHttpReplica('dying', {
      handler: (_req, res) => {
        (res as import('node:http').ServerResponse).writeHead(200, { 'content-length': '100000' });
        (res as import('node:http').ServerResponse).write(Buffer.alloc(1000));
        setTimeout(() => (res as import('node:http').ServerResponse).socket?.destroy(), 50);
      },
    });
    cleanups.push(() => dying!.close());
    const proxy = await proxyTo([dying.key]);
    const res = await request(`${proxy.url}/x`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
  });

  it('a gRPC server stream whose upstream dies ends with an error status, not OK', async () => {
    const g = await startGrpcReplica('doomed');
    const proxy = await proxyTo([g.key]);
    const client = createEchoClient(proxy.address);
    cleanups.push(() => client.close());
    const call = client.ServerStream({ message: 'm', count: 1_000_000 });
    let received = 0;
    const outcome = await new Promise<{ code: number }>((resolve) => {
      call.on('data', () => {
        if (++received === 10) void g.close();
      });
      call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code }));
      call.on('end', () => resolve({ code: grpc.status.OK }));
    });
    expect(received).toBeGreaterThanOrEqual(10);
    expect(outcome.code).not.toBe(grpc.status.OK);
  });
});
