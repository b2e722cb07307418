// Ring hash through the proxy: a key always lands on the same replica across
// connections, different keys spread, gRPC streams stick per user over one
// channel, requests without a key fall back, bounded load spills a hot key,
// and a removed replica only moves its own keys (consistent hashing's promise,
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#ring-hash).

import http2 from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Client, request } from 'undici';
import { RingHashBalancer } from '../lib/balancer/ring-hash/ring-hash-balancer.ts';
import type { HashSource, UpstreamConfig } from '../lib/config/config.ts';
import type { Upstream } from '../lib/upstream/upstream.ts';
import { startDnsServer, type TestDnsServer } from './support/dns-server.ts';
import { createEchoClient, startGrpcReplica, unary, type GrpcReplica } from './support/grpc-replicas.ts';
import { defaultHandler, startHttpReplica, type Handler, type Replica } from './support/http-replicas.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { waitFor } from './support/wait.ts';

const NAME = 'recs.svc.test';
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
/** In DNS in one test, but nothing listens there. */
const DEAD_HOST = '127.0.0.6';
const BY_QUERY: readonly HashSource[] = [{ type: 'query', name: 'query', terminal: false }];
const SLOW_MS = 400;

/** `/slow...` answers after SLOW_MS, so requests pile up in flight; anything else at once. */
const handler: Handler = (req, res, replica) => {
  if (req.url?.startsWith('/slow')) setTimeout(() => defaultHandler(req, res, replica), SLOW_MS);
  else defaultHandler(req, res, replica);
};

let pods: Replica[] = [];
let port = 0;
let dns: TestDnsServer;
let agent: Agent;

const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  // Pods of a headless Service: one address each, one port for all.
  for (let attempt = 0; attempt < 10 && pods.length === 0; attempt++) {
    const first = await startHttpReplica(`pod-${HOSTS[0]}`, { host: HOSTS[0], handler });
    const started = [first];
    try {
      for (const host of HOSTS.slice(1)) started.push(await startHttpReplica(`pod-${host}`, { host, port: first.port, handler }));
      pods = started;
      port = first.port;
    } catch {
      await Promise.all(started.map((p) => p.close()));
    }
  }
  if (pods.length === 0) throw new Error('no port free on every address');
  dns = await startDnsServer();
  dns.setA(NAME, HOSTS, 30);
  agent = new Agent();
});

afterEach(async () => {
  // Our client connections first, so each proxy ends with none open.
  await agent.close();
  agent = new Agent();
  while (cleanups.length) await cleanups.pop()!();
});

afterAll(async () => {
  await agent?.close();
  await dns?.close();
  await Promise.all(pods.map((p) => p.close()));
});


async function ringProxy(upstream: Partial<UpstreamConfig> = {}, hashOn: readonly HashSource[] = BY_QUERY): Promise<TestProxy> {
  const proxy = await startProxy({
    target: { kind: 'dns', name: NAME, port },
    hashOn,
    upstream: { dns: { refreshMs: 200, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } }, ...upstream },
  });
  cleanups.push(() => stopWhenIdle(proxy.app));
  await waitFor(() => proxy.app.upstreams.get('default')!.endpoints.size > 0, 2000, 'endpoints');
  return proxy;
}

function ringOf(upstream: Upstream): RingHashBalancer {
  const balancer: unknown = upstream.balancer;
  if (!(balancer instanceof RingHashBalancer)) throw new Error('expected a ring hash balancer');
  return balancer;
}

/** Which replica answered `path` (by name), or `HTTP <status>` for a proxy error. */
async function whoServes(proxy: TestProxy, path: string, dispatcher: Agent | Client = agent): Promise<string> {
  const res = await request(`${proxy.url}${path}`, { dispatcher });
  const body = await res.body.text();
  return res.statusCode === 200 ? body.split(' ')[0] : `HTTP ${res.statusCode}`;
}

/** Owner of each key, asked through the proxy. */
async function owners(proxy: TestProxy, keys: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of keys) out.set(key, await whoServes(proxy, `/k?query=${encodeURIComponent(key)}`));
  return out;
}

const KEYS = Array.from({ length: 200 }, (_, i) => `key-${i}`);

function countBy(values: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

describe('ring hash through ringside (HTTP/1.1)', () => {
  it('?query=france lands on one replica for 50 requests over 5 connections; 200 keys spread over all 4', async () => {
    const proxy = await ringProxy();
    const clients = Array.from({ length: 5 }, () => new Client(proxy.url));
    cleanups.push(() => Promise.all(clients.map((c) => c.close())));
    const served = await Promise.all(
      clients.map(async (client) => {
        const got: string[] = [];
        for (let i = 0; i < 10; i++) got.push(await whoServes(proxy, `/search?query=france&page=${i}`, client));
        return got;
      }),
    );
    const all = served.flat();
    expect(all).toHaveLength(50);
    expect(new Set(all).size).toBe(1);
    expect(all[0]).toMatch(/^pod-/);

    const spread = countBy((await owners(proxy, KEYS)).values());
    expect([...spread.keys()].sort()).toEqual(pods.map((p) => p.name).sort());
    // 256 entries per endpoint keep each share near 1/4: no replica gets less than half its share of 200 keys.
    for (const [name, n] of spread) expect(n, name).toBeGreaterThan(25);
  });

  it('a request without the key falls back to least_request and is counted as hash missing', async () => {
    const proxy = await ringProxy();
    const balancer = ringOf(proxy.app.upstreams.get('default')!);
    const before = balancer.hashMissing;
    for (let i = 0; i < 5; i++) expect(await whoServes(proxy, '/k?query=france')).toMatch(/^pod-/);
    expect(balancer.hashMissing).toBe(before);

    // Concurrent keyless slow requests: least_request spreads them (a hash would pile them on one replica).
    const keyless = await Promise.all(Array.from({ length: 8 }, (_, i) => whoServes(proxy, `/slow/nokey/${i}`)));
    expect(balancer.hashMissing).toBe(before + 8);
    expect(keyless.every((w) => w.startsWith('pod-'))).toBe(true);
    expect(new Set(keyless).size).toBeGreaterThanOrEqual(3);
  });

  it('bounded load (hashBalanceFactor 1.25) spills a hot key off its saturated replica; without it the key piles up', async () => {
    const unbounded = await ringProxy();
    const owner = await whoServes(unbounded, '/k?query=hot');
    const piled = await Promise.all(Array.from({ length: 8 }, (_, i) => whoServes(unbounded, `/slow/${i}?query=hot`)));
    expect(new Set(piled)).toEqual(new Set([owner]));

    const bounded = await ringProxy({ hashBalanceFactor: 1.25 });
    expect(await whoServes(bounded, '/k?query=hot')).toBe(owner);
    const spilled = await Promise.all(Array.from({ length: 8 }, (_, i) => whoServes(bounded, `/slow/${i}?query=hot`)));
    const counts = countBy(spilled);
    expect(spilled.every((w) => w.startsWith('pod-'))).toBe(true);
    expect(counts.size).toBeGreaterThan(1);
    // The owner still takes its bounded share first: slots = ceil(ceil((T + 1) x 1.25) / 4), so 2 of the first 3.
    expect(counts.get(owner)).toBeGreaterThanOrEqual(2);
    expect(counts.get(owner)).toBeLessThan(8);
    // Once nothing is in flight the key is back home.
    expect(await whoServes(bounded, '/k?query=hot')).toBe(owner);
  });

  it("removing a replica moves only its keys, and bringing it back returns them", async () => {
    const proxy = await ringProxy();
    const upstream = proxy.app.upstreams.get('default')!;
    const rebuilds = ringOf(upstream).rebuilds;
    const before = await owners(proxy, KEYS);
    const victim = before.get('france') ?? (await whoServes(proxy, '/k?query=france'));
    const victimHost = pods.find((p) => p.name === victim)!.host;

    dns.setA(NAME, HOSTS.filter((h) => h !== victimHost), 30);
    cleanups.push(() => dns.setA(NAME, HOSTS, 30));
    await waitFor(() => upstream.endpoints.size === 3, 2000, 'the replica removed');
    expect(ringOf(upstream).rebuilds).toBe(rebuilds + 1);
    const after = await owners(proxy, KEYS);
    let moved = 0;
    for (const key of KEYS) {
      if (before.get(key) === victim) {
        expect(after.get(key), key).not.toBe(victim);
        expect(after.get(key), key).toMatch(/^pod-/);
        moved++;
      } else {
        expect(after.get(key), key).toBe(before.get(key));
      }
    }
    expect(moved).toBeGreaterThan(20);
    expect(await whoServes(proxy, '/k?query=france')).not.toBe(victim);

    dns.setA(NAME, HOSTS, 30);
    await waitFor(() => upstream.endpoints.size === 4, 2000, 'the replica back');
    expect(await owners(proxy, KEYS)).toEqual(before);
  });

  it('an unreachable replica in the ring: with retries off its keys get 502, and every other key stays where it was', async () => {
    const proxy = await ringProxy({ retries: 0, ejection: { consecutiveFailures: 0, baseTimeMs: 30_000, maxTimeMs: 300_000, maxPercent: 50 } });
    const upstream = proxy.app.upstreams.get('default')!;
    const healthy = await owners(proxy, KEYS);

    dns.setA(NAME, [...HOSTS, DEAD_HOST], 30);
    cleanups.push(() => dns.setA(NAME, HOSTS, 30));
    await waitFor(() => upstream.endpoints.size === 5, 2000, 'the dead endpoint added');
    const withDead = await owners(proxy, KEYS);
    const failed = KEYS.filter((k) => withDead.get(k) === 'HTTP 502');
    // About a fifth of the keys now belong to the dead endpoint...
    expect(failed.length).toBeGreaterThan(10);
    expect(failed.length).toBeLessThan(80);
    for (const key of KEYS) {
      // ...and every key that did not move to it is still served by the same replica as before.
      if (!failed.includes(key)) expect(withDead.get(key), key).toBe(healthy.get(key));
    }
    const res = await request(`${proxy.url}/k?query=${failed[0]}`, { dispatcher: agent });
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toContain(`${DEAD_HOST}:${port}`);
    // Stable: asking again gives the same answers (the dead endpoint is not silently dropped from the ring).
    expect(await owners(proxy, KEYS)).toEqual(withDead);
  });

  it('an unreachable replica in the ring with default retries and ejection: every key is answered, by the replica that owned it before', async () => {
    const proxy = await ringProxy();
    const upstream = proxy.app.upstreams.get('default')!;
    const healthy = await owners(proxy, KEYS);

    dns.setA(NAME, [...HOSTS, DEAD_HOST], 30);
    cleanups.push(() => dns.setA(NAME, HOSTS, 30));
    await waitFor(() => upstream.endpoints.size === 5, 2000, 'the dead endpoint added');
    const dead = upstream.endpoints.get(`${DEAD_HOST}:${port}`)!;
    // The dead endpoint's keys walk the ring (retry on the next endpoint, then ejection) to the next
    // endpoint clockwise, which is their owner in the ring without it: with fixed entries per endpoint
    // ("stable" mode) the other endpoints' points do not move when one is added.
    expect(await owners(proxy, KEYS)).toEqual(healthy);
    // Requests did meet the dead endpoint first (they failed there and were retried).
    expect(dead.ejections + dead.consecutiveFailures).toBeGreaterThan(0);
  });
});

describe('ring hash through ringside (HTTP/2 clients)', () => {
  // Our HTTP/2 server hands the policy only the fields it reads (hash-policy.ts
  // headerNames), from the decoded flat list; a split cookie (RFC 9113
  // section 8.2.3) is joined first. The owner must be the one HTTP/1.1 gets.
  it('a header or cookie key lands on the replica HTTP/1.1 requests with the same key get', async () => {
    const proxy = await ringProxy({}, [
      { type: 'header', name: 'X-User', terminal: false },
      { type: 'cookie', name: 'sid', terminal: false },
    ]);
    const session = http2.connect(proxy.url);
    cleanups.push(() => new Promise<void>((resolve) => session.close(() => resolve())));
    const viaH2 = (headers: http2.OutgoingHttpHeaders): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': '/k', ...headers });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve(body.split(' ')[0]));
        req.on('error', reject);
      });
    const viaH1 = async (headers: Record<string, string>): Promise<string> => {
      const res = await request(`${proxy.url}/k`, { dispatcher: agent, headers });
      return (await res.body.text()).split(' ')[0];
    };
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const user = `user-${i}`;
      const h1 = await viaH1({ 'x-user': user, cookie: `a=1; sid=s${i}` });
      seen.add(h1);
      expect(await viaH2({ 'x-user': user, cookie: ['a=1', `sid=s${i}`] }), user).toBe(h1);
      // Another user on the same session key hashes elsewhere in some cases: the header counts too.
      expect(await viaH2({ 'x-user': user, cookie: `sid=s${i}` }), user).toBe(await viaH1({ 'x-user': user, cookie: `sid=s${i}` }));
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(ringOf(proxy.app.upstreams.get('default')!).hashMissing).toBe(0);
  });
});

describe('ring hash through ringside (gRPC, one channel)', () => {
  let grpcReplicas: GrpcReplica[] = [];
  afterAll(async () => {
    await Promise.all(grpcReplicas.map((r) => r.close()));
  });

  it('calls stick per x-user-id over one channel; 20 users spread over at least 3 of 4 replicas', async () => {
    grpcReplicas = await Promise.all([0, 1, 2, 3].map((i) => startGrpcReplica(`g${i}`)));
    const proxy = await startProxy({ endpoints: grpcReplicas.map((r) => r.key), hashOn: [{ type: 'header', name: 'x-user-id', terminal: false }] });
    cleanups.push(() => stopWhenIdle(proxy.app));
    const client = createEchoClient(proxy.address);
    cleanups.push(() => client.close());

    const byUser = new Map<string, Set<string>>();
    // Interleave users so consecutive calls on the channel change keys.
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, u) => {
          const user = `user-${u}`;
          const reply = await unary(client, { message: round === 0 ? 'first' : 'again' }, { metadata: { 'x-user-id': user } });
          if (!byUser.has(user)) byUser.set(user, new Set());
          byUser.get(user)!.add(reply.replica);
        }),
      );
    }
    for (const [user, replicas] of byUser) expect([...replicas], user).toHaveLength(1);
    const used = new Set([...byUser.values()].map((s) => [...s][0]));
    expect(used.size).toBeGreaterThanOrEqual(3);
    expect(grpcReplicas.reduce((n, r) => n + r.calls, 0)).toBe(100);
    expect(ringOf(proxy.app.upstreams.get('default')!).hashMissing).toBe(0);
  });
});
