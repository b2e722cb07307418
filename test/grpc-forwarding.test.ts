// gRPC through the proxy with @grpc/grpc-js on both ends: every call shape,
// statuses and messages intact, deadlines, cancellation, and per-stream
// balancing over one client channel.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoClient, grpc, startGrpcReplica, unary, type EchoClient, type EchoReply, type GrpcReplica } from './support/grpc-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { waitFor } from './support/wait.ts';

let replicas: GrpcReplica[];
let proxy: TestProxy;
let client: EchoClient;

beforeAll(async () => {
  replicas = await Promise.all([0, 1, 2].map((i) => startGrpcReplica(`g${i}`)));
  proxy = await startProxy({ endpoints: replicas.map((r) => r.key) });
  client = createEchoClient(proxy.address);
});

afterAll(async () => {
  client.close();
  await proxy.stop();
  await Promise.all(replicas.map((r) => r.close()));
});

describe('gRPC through ringside', () => {
  it('unary call with metadata', async () => {
    const reply = await unary(client, { message: 'hello' }, { metadata: { 'x-user-id': 'u42' } });
    expect(reply.message).toBe('hello');
    const served = replicas.find((r) => r.name === reply.replica)!;
    expect(served.lastMetadata?.get('x-user-id')).toEqual(['u42']);
  });

  it('server streaming delivers every message in order', async () => {
    const call = client.ServerStream({ message: 'm', count: 2000 });
    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (r: EchoReply) => got.push(r.index));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(got.length).toBe(2000);
    expect(got.every((v, i) => v === i)).toBe(true);
  });

  it('client streaming', async () => {
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.ClientStream(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res)));
      for (let i = 0; i < 100; i++) call.write({ message: 'x' });
      call.end();
    });
    expect(reply.index).toBe(100);
    expect(reply.message).toBe('x'.repeat(100));
  });

  it('bidirectional streaming answers each message while the request is still open', async () => {
    const call = client.Bidi();
    const replies: EchoReply[] = [];
    // Ping-pong: send the next message only after the previous reply came back,
    // which only works if the proxy streams both directions at once.
    await new Promise<void>((resolve, reject) => {
      call.on('data', (r: EchoReply) => {
        replies.push(r);
        if (replies.length < 20) call.write({ message: `m${replies.length}` });
        else call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
      call.write({ message: 'm0' });
    });
    expect(replies.map((r) => r.message)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(new Set(replies.map((r) => r.replica)).size).toBe(1);
  });

  it('a NOT_FOUND status and its message arrive intact', async () => {
    const err = await unary(client, { message: 'no such thing: ünïcødé %41', failCode: grpc.status.NOT_FOUND }).catch((e) => e);
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('no such thing: ünïcødé %41');
  });

  it('deadline exceeded reaches the client and cancels the server call', async () => {
    const before = replicas.reduce((n, r) => n + r.cancelled, 0);
    const err = await unary(client, { message: 'slow', count: 2000 }, { deadlineMs: 200 }).catch((e) => e);
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => replicas.reduce((n, r) => n + r.cancelled, 0) > before);
  });

  it('client cancellation reaches the server', async () => {
    const before = replicas.reduce((n, r) => n + r.cancelled, 0);
    const call = client.ServerStream({ message: 'endless', count: 1_000_000 });
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.on('error', () => {});
    call.cancel();
    await waitFor(() => replicas.reduce((n, r) => n + r.cancelled, 0) > before);
  });

  it('10 concurrent RPCs over one client channel land on all 3 replicas', async () => {
    const before = replicas.map((r) => r.calls);
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => unary(client, { message: `c${i}`, count: 50 })));
    expect(new Set(replies.map((r) => r.replica)).size).toBe(3);
    // least_request (power of two choices) spreads them; the exact split varies.
    const delta = replicas.map((r, i) => r.calls - before[i]);
    expect(delta.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.min(...delta)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...delta)).toBeLessThanOrEqual(6);
  });
});

