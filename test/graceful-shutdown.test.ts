// SIGTERM during load: /readyz turns 503 at once, in-flight requests all
// finish (HTTP/1.1 and gRPC), and the process exits 0 within the drain
// timeout. A second signal exits at once.

import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { createEchoClient, startGrpcReplica, unary, type GrpcReplica } from './support/grpc-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';
import { sleep, waitFor } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function slowReplica(): Promise<Replica> {
  const r = await startHttpReplica('slow', { handler: (_req, res) => void setTimeout(() => res.end('done'), 400) });
  cleanups.push(() => r.close());
  return r;
}

async function ringside(args: string[]): Promise<RingsideProcess> {
  const p = await startRingsideProcess(args);
  cleanups.push(() => {
    if (p.child.exitCode === null) p.kill('SIGKILL');
  });
  return p;
}

describe('graceful shutdown', () => {
  it('finishes every in-flight HTTP/1.1 and gRPC request, turns unready, and exits 0 within the drain timeout', async () => {
    const http = await slowReplica();
    const grpcReplica: GrpcReplica = await startGrpcReplica('g');
    cleanups.push(() => grpcReplica.close());
    const h1 = await ringside(['--upstream', `static:${http.key}`, '--drain-timeout', '5s']);
    const h2 = await ringside(['--upstream', `static:${grpcReplica.key}`, '--drain-timeout', '5s']);

    const agent = new Agent({ connections: 20 });
    cleanups.push(() => agent.close());
    const client = createEchoClient(`127.0.0.1:${h2.port}`);
    cleanups.push(() => client.close());
    await unary(client, { message: 'warm' });

    // 20 HTTP/1.1 requests and 20 gRPC calls, each taking ~400 ms upstream.
    const httpResults = Array.from({ length: 20 }, (_, i) =>
      request(`http://127.0.0.1:${h1.port}/r${i}`, { dispatcher: agent }).then(async (res) => `${res.statusCode} ${await res.body.text()}`, (e: Error) => `error ${e.message}`),
    );
    const grpcResults = Array.from({ length: 20 }, (_, i) => unary(client, { message: `m${i}`, count: 400 }).then((r) => `ok ${r.message}`, (e: Error) => `error ${e.message}`));
    // SIGTERM once every request is in flight at the upstreams.
    await waitFor(() => http.requests === 20 && grpcReplica.calls === 21, 5000, 'all requests in flight');
    const t0 = Date.now();
    h1.kill('SIGTERM');
    h2.kill('SIGTERM');
    // Readiness flips at once, while the admin port still answers.
    await sleep(50);
    const ready = await request(`http://127.0.0.1:${h1.adminPort}/readyz`).then(async (res) => ({ status: res.statusCode, body: await res.body.text() }));
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('shutting down');

    const http1 = await Promise.all(httpResults);
    const grpc = await Promise.all(grpcResults);
    const failedHttp = http1.filter((r) => r !== '200 done');
    const failedGrpc = grpc.filter((r) => !r.startsWith('ok '));
    console.log(`SIGTERM during load: HTTP/1.1 ${http1.length - failedHttp.length}/${http1.length} ok, gRPC ${grpc.length - failedGrpc.length}/${grpc.length} ok`);
    expect(failedHttp).toEqual([]);
    expect(failedGrpc).toEqual([]);
    expect(await h1.exited).toBe(0);
    expect(await h2.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('exits 0 when the drain timeout passes with requests still running, and at once on a second signal', async () => {
    const hang = await startHttpReplica('hang', { handler: () => {} });
    cleanups.push(() => hang.close());
    const a = await ringside(['--upstream', `static:${hang.key}`, '--drain-timeout', '500ms']);
    void request(`http://127.0.0.1:${a.port}/x`).catch(() => {});
    await sleep(100);
    const t0 = Date.now();
    a.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(Date.now() - t0).toBeLessThan(3000);

    const b = await ringside(['--upstream', `static:${hang.key}`, '--drain-timeout', '30s']);
    void request(`http://127.0.0.1:${b.port}/x`).catch(() => {});
    await sleep(100);
    const t1 = Date.now();
    b.kill('SIGTERM');
    await sleep(100);
    b.kill('SIGINT');
    expect(await b.exited).toBe(1);
    expect(Date.now() - t1).toBeLessThan(3000);
  });
});
