// Local rate limits end to end (issue 24), on both HTTP/1.1 engines and h2c:
// a request over the limit gets 429 with x-ringside-error RS_ERR_RATE_LIMITED
// and Retry-After (gRPC: trailers-only RESOURCE_EXHAUSTED) and never reaches
// the upstream; per-key buckets; our own retries take no token. The rates are
// tiny (1/h) so the burst alone decides, with no timing in the assertions.
// The shared (Redis) limit and sustained rates: ./rate-limit-redis.test.ts.

import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request as undiciRequest } from 'undici';
import type { RateLimitConfig } from '../lib/config/config.ts';
import { createEchoClient, grpc, startGrpcReplica, unary } from './support/grpc-replicas.ts';
import { startHttpReplica } from './support/http-replicas.ts';
import { ENGINES, startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { unusedPort } from './support/wait.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// One client agent per test, closed before the proxy stops (stopWhenIdle fails on leaked connections).
let agent = new Agent();
const request: typeof undiciRequest = ((url: string, options: object = {}) => undiciRequest(url, { ...options, dispatcher: agent })) as typeof undiciRequest;
function withAgent(p: TestProxy): TestProxy {
  cleanups.push(() => stopWhenIdle(p.app));
  agent = new Agent();
  const mine = agent;
  cleanups.push(() => mine.close());
  return p;
}

function limit(burst: number, key: RateLimitConfig['key'] = null): RateLimitConfig {
  return { rate: { perSecond: 1 / 3600, text: '1/h' }, burst, key, maxKeys: 100 };
}

async function metricLine(p: TestProxy, prefix: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(ENGINES)('rate limit, --engine %s', (engine) => {
  it('HTTP/1.1: the burst passes, then 429 with the error header and Retry-After, never reaching the upstream; counted as rate_limited', async () => {
    const replica = await startHttpReplica('r0');
    cleanups.push(() => replica.close());
    const p = await startProxy({ engine, endpoints: [replica.key], upstream: { rateLimit: limit(3) } });
    withAgent(p);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await request(`${p.url}/x${i}`, { method: i === 4 ? 'POST' : 'GET', body: i === 4 ? 'body bytes' : undefined });
      statuses.push(res.statusCode);
      const text = await res.body.text();
      if (res.statusCode === 429) {
        expect(res.headers['x-ringside-error']).toBe('RS_ERR_RATE_LIMITED');
        // 1/h: the next token is about an hour away, in whole seconds.
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(3500);
        expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(3600);
        expect(text).toContain('rate limit');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(replica.requests).toBe(3);
    expect(await metricLine(p, 'ringside_proxy_errors_total{upstream="default",reason="rate_limited"}')).toBe(2);
    // Limited requests count against no endpoint: none is ejected, none saw them.
    expect(await metricLine(p, 'ringside_requests_total{listener="default",upstream="default",endpoint="' + replica.key + '",protocol="http1",code="4xx"}')).toBeNaN();
    // /status shows the limit.
    const status = (await (await request(`${p.adminUrl}/status.json`)).body.json()) as { upstreams: { rateLimit: unknown }[] };
    expect(status.upstreams[0].rateLimit).toEqual({ rate: '1/h', burst: 3, key: null, keys: 0, maxKeys: 100, scope: 'local', redis: null });
    const page = await (await request(`${p.adminUrl}/status`)).body.text();
    expect(page).toContain('rate limit: 1/h, burst 3, local');
  });

  it('per key (header): each value has its own bucket, requests without the key share one', async () => {
    const replica = await startHttpReplica('r0');
    cleanups.push(() => replica.close());
    const p = withAgent(await startProxy({ engine, endpoints: [replica.key], upstream: { rateLimit: limit(2, { type: 'header', name: 'x-api-key' }) } }));
    const send = async (key: string | null): Promise<number> => {
      const res = await request(`${p.url}/`, { headers: key === null ? {} : { 'X-Api-Key': key } });
      await res.body.text();
      return res.statusCode;
    };
    const a = [await send('a'), await send('a'), await send('a')];
    const b = [await send('b'), await send('b')];
    const none = [await send(null), await send(null), await send(null)];
    expect(a).toEqual([200, 200, 429]);
    expect(b).toEqual([200, 200]);
    expect(none).toEqual([200, 200, 429]);
    expect(replica.requests).toBe(6);
    const status = (await (await request(`${p.adminUrl}/status.json`)).body.json()) as { upstreams: { rateLimit: { key: string; keys: number } }[] };
    expect(status.upstreams[0].rateLimit).toMatchObject({ key: 'header:x-api-key', keys: 2 });
  });

  it('a request retried after a connect failure takes one token, not one per attempt', async () => {
    const replica = await startHttpReplica('live');
    cleanups.push(() => replica.close());
    const dead = `127.0.0.1:${await unusedPort()}`;
    const p = await startProxy({
      engine,
      endpoints: [dead, replica.key],
      upstream: { lb: 'round_robin', retries: 2, rateLimit: limit(2), ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } },
    });
    withAgent(p);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(`${p.url}/r${i}`);
      await res.body.text();
      statuses.push(res.statusCode);
    }
    // Round robin over [dead, live]: one of the first two met the dead endpoint and was retried.
    expect(await metricLine(p, 'ringside_retries_total{upstream="default"}')).toBeGreaterThanOrEqual(1);
    expect(statuses).toEqual([200, 200, 429]);
    expect(replica.requests).toBe(2);
  });

  it('HTTP/2 without gRPC: 429 with the error header and Retry-After', async () => {
    const replica = await startHttpReplica('r0', { h2c: true });
    cleanups.push(() => replica.close());
    const p = await startProxy({ engine, endpoints: [replica.key], upstream: { protocol: 'h2c', rateLimit: limit(1) } });
    cleanups.push(() => stopWhenIdle(p.app));
    const session = http2.connect(p.url);
    cleanups.push(() => new Promise<void>((r) => session.close(() => r())));
    const get = () =>
      new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const s = session.request({ ':path': '/' });
        s.on('response', (h) => resolve(h));
        s.on('error', reject);
        s.resume();
      });
    expect((await get())[':status']).toBe(200);
    const limited = await get();
    expect(limited[':status']).toBe(429);
    expect(limited['x-ringside-error']).toBe('RS_ERR_RATE_LIMITED');
    expect(Number(limited['retry-after'])).toBeGreaterThan(3500);
    expect(replica.requests).toBe(1);
  });
});

describe('rate limit, gRPC', () => {
  it('gRPC over h2c: over the limit the call ends RESOURCE_EXHAUSTED (trailers-only) and never reaches the server', async () => {
    const server = await startGrpcReplica('g0');
    cleanups.push(() => server.close());
    const p = await startProxy({ endpoints: [server.key], upstream: { protocol: 'h2c', rateLimit: limit(2) } });
    cleanups.push(() => stopWhenIdle(p.app));
    const client = createEchoClient(p.address);
    cleanups.push(() => client.close());
    await unary(client, { message: 'a' });
    await unary(client, { message: 'b' });
    const err = (await unary(client, { message: 'c' }).then(
      () => null,
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError | null;
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err?.metadata.get('x-ringside-error')).toEqual(['RS_ERR_RATE_LIMITED']);
    expect(server.calls).toBe(2);
  });
});
