// What DNS failures look like through ringside: an outage of the DNS server
// under load costs nothing (last known good endpoints), NXDOMAIN empties the
// set and requests fail fast naming the service, SERVFAIL keeps serving,
// start-up does not wait for DNS, big answers come over TCP, reordered answers
// do not rebuild the ring, and one upstream's broken name leaves another alone.

import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startApp, type RunningApp } from '../lib/app.ts';
import { RingHashBalancer } from '../lib/balancer/ring-hash/ring-hash-balancer.ts';
import type { RingsideConfig, UpstreamConfig } from '../lib/config/config.ts';
import { silentLogger } from '../lib/log/logger.ts';
import type { Upstream } from '../lib/upstream/upstream.ts';
import { startDnsServer, type TestDnsServer } from './support/dns-server.ts';
import { startDnsmasq } from './support/dnsmasq.ts';
import { createEchoClient, grpc, unary } from './support/grpc-replicas.ts';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startLoad } from './support/load.ts';
import { startProxy, stopWhenIdle, upstreamConfig, type TestProxy } from './support/proxy.ts';
import { sleep, waitFor } from './support/wait.ts';

const NAME = 'recs.svc.test';
const REFRESH_MS = 200;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
/** Our own HTTP client connections, closed after each test so the proxy must end with none open. */
let agent = new Agent();
afterEach(async () => {
  await agent.close();
  agent = new Agent();
  while (cleanups.length) await cleanups.pop()!();
});


function ringOf(upstream: Upstream): RingHashBalancer {
  const balancer: unknown = upstream.balancer;
  if (!(balancer instanceof RingHashBalancer)) throw new Error('expected a ring hash balancer');
  return balancer;
}

/** HTTP/1.1 replicas like pods: one per loopback address, all on the same port (retries when a port is taken). */
async function startPods(hosts: readonly string[]): Promise<{ pods: Replica[]; port: number }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await startHttpReplica(`pod-${hosts[0]}`, { host: hosts[0] });
    const pods = [first];
    try {
      for (const host of hosts.slice(1)) pods.push(await startHttpReplica(`pod-${host}`, { host, port: first.port }));
      cleanups.push(() => Promise.all(pods.map((p) => p.close())));
      return { pods, port: first.port };
    } catch {
      await Promise.all(pods.map((p) => p.close()));
    }
  }
  throw new Error('no port free on every address');
}

async function dnsServer(): Promise<TestDnsServer> {
  const dns = await startDnsServer();
  cleanups.push(() => dns.close());
  return dns;
}

function dnsUpstream(server: { port: number }, port: number, extra: Partial<UpstreamConfig> = {}): Partial<UpstreamConfig> {
  return { dns: { refreshMs: REFRESH_MS, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: server.port } }, ...extra };
}

async function proxyFor(server: { port: number }, port: number, extra: Partial<UpstreamConfig> = {}, name = NAME): Promise<TestProxy> {
  const proxy = await startProxy({ target: { kind: 'dns', name, port }, upstream: dnsUpstream(server, port, extra) });
  cleanups.push(() => stopWhenIdle(proxy.app));
  return proxy;
}

/** GET through the proxy: status, body and the x-ringside-error header. */
async function get(url: string): Promise<{ status: number; body: string; error: string | undefined }> {
  const res = await request(url, { dispatcher: agent });
  const body = await res.body.text();
  return { status: res.statusCode, body, error: res.headers['x-ringside-error'] as string | undefined };
}

/** The error of a gRPC call that must fail. */
async function failedCall(call: Promise<unknown>): Promise<grpc.ServiceError> {
  const outcome = await call.then(
    () => null,
    (err: grpc.ServiceError) => err,
  );
  if (outcome === null) throw new Error('the call succeeded, expected a failure');
  return outcome;
}

const keys = (u: Upstream): string[] => [...u.endpoints.keys()].sort();

describe('DNS failures through ringside', () => {
  it('dnsmasq down for 3 s under load, restarted on the same port: zero failed requests, then fresh answers again', async () => {
    const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    // 127.0.0.5 runs from the start but is named by DNS only after the restart.
    const { pods, port } = await startPods([...hosts, '127.0.0.5']);
    const dnsmasq = await startDnsmasq({ hosts: { [NAME]: hosts }, localTtl: 1 });
    cleanups.push(() => dnsmasq.close());
    const proxy = await proxyFor(dnsmasq, port);
    const upstream = proxy.app.upstreams.get('default')!;
    expect(keys(upstream)).toEqual(hosts.map((h) => `${h}:${port}`));

    // Bounded by time rather than count: a fast run once made 20,000 calls before the pod named after the restart was in the set.
    const load = startLoad(async (i) => {
      const res = await get(`${proxy.url}/call/${i}`);
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body}`);
      return res.body.split(' ')[0];
    }, { concurrency: 8, maxCalls: 500_000, maxMs: 15_000 });

    await sleep(300);
    await dnsmasq.stop();
    const downAt = Date.now();
    const succeededBeforeOutage = load.stats.succeeded;
    await waitFor(() => (upstream.lastResolution?.at ?? 0) > downAt && upstream.lastResolution?.result !== 'success', 2000, 'a failed resolution');
    await sleep(3000 - (Date.now() - downAt));
    const succeededDuringOutage = load.stats.succeeded - succeededBeforeOutage;
    // Still the last known good set after 3 s without DNS.
    expect(keys(upstream)).toEqual(hosts.map((h) => `${h}:${port}`));
    expect(upstream.lastResolution?.result).not.toBe('success');

    // The port is free while dnsmasq is down, and it is in the ephemeral range: on a busy machine another
    // process's socket can hold it for a moment (dnsmasq then exits with "Address already in use"). Retry briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await dnsmasq.start({ [NAME]: [...hosts, '127.0.0.5'] });
        break;
      } catch (err) {
        if (attempt === 5) throw err;
        console.log(`dnsmasq restart attempt ${attempt} failed (${(err as Error).message}); retrying`);
        await sleep(200);
      }
    }
    const upAt = Date.now();
    // The next retry (backoff is capped at the refresh interval) picks up the new answer.
    await waitFor(() => upstream.endpoints.has(`127.0.0.5:${port}`), REFRESH_MS * 3 + 500, 'the answer after the restart');
    const recoveredMs = Date.now() - upAt;
    await waitFor(() => load.stats.byLabel.has(pods[3].name), 2000, 'the pod named after the restart serves');
    const stats = await load.stop();

    console.log(`dnsmasq outage: ${stats.succeeded} requests, ${stats.failed} failed; new answer applied ${recoveredMs} ms after the restart`);
    expect(stats.failures).toEqual([]);
    // Requests kept being served while DNS was down (not merely before and after).
    expect(succeededDuringOutage).toBeGreaterThan(50);
    expect(upstream.lastResolution?.result).toBe('success');
    for (const pod of pods) expect(stats.byLabel.get(pod.name), pod.name).toBeGreaterThan(0);
  });

  it('NXDOMAIN empties the set: fast 503 over HTTP/1.1 and UNAVAILABLE over gRPC, naming the service; then it serves again', async () => {
    const { pods, port } = await startPods(['127.0.0.2', '127.0.0.3']);
    const dns = await dnsServer();
    dns.setA(NAME, ['127.0.0.2', '127.0.0.3'], 30);
    const proxy = await proxyFor(dns, port);
    const upstream = proxy.app.upstreams.get('default')!;
    expect((await get(`${proxy.url}/a`)).status).toBe(200);

    dns.remove(NAME);
    await waitFor(() => upstream.endpoints.size === 0, REFRESH_MS * 3, 'the set emptied');
    const started = performance.now();
    const res = await get(`${proxy.url}/a`);
    const elapsed = performance.now() - started;
    expect(res.status).toBe(503);
    expect(res.error).toBe('RS_ERR_NO_ENDPOINTS');
    expect(res.body).toContain(NAME);
    expect(res.body).toContain('NXDOMAIN');
    // Fast: no connect attempt, no waiting for DNS.
    expect(elapsed).toBeLessThan(100);

    const client = createEchoClient(proxy.address);
    cleanups.push(() => client.close());
    const err = await failedCall(unary(client, { message: 'x' }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(NAME);
    expect(err.details).toContain('NXDOMAIN');

    dns.setA(NAME, ['127.0.0.3'], 30);
    await waitFor(() => upstream.endpoints.size === 1, REFRESH_MS * 3, 'the name back');
    const back = await get(`${proxy.url}/a`);
    expect(back.status).toBe(200);
    expect(back.body.startsWith(pods[1].name)).toBe(true);
  });

  it('SERVFAIL keeps the last good endpoints and requests keep succeeding', async () => {
    const { pods, port } = await startPods(['127.0.0.2', '127.0.0.3']);
    const dns = await dnsServer();
    dns.setA(NAME, ['127.0.0.2', '127.0.0.3'], 30);
    const proxy = await proxyFor(dns, port);
    const upstream = proxy.app.upstreams.get('default')!;
    const before = keys(upstream);

    dns.setMode(NAME, 'servfail');
    const queriesAtFailure = dns.queryCount(NAME, 'A');
    await waitFor(() => upstream.lastResolution?.result === 'servfail', REFRESH_MS * 3, 'a SERVFAIL resolution');
    // Several failed refreshes in a row, not just one.
    await waitFor(() => dns.queryCount(NAME, 'A') >= queriesAtFailure + 3, REFRESH_MS * 6, 'repeated SERVFAIL queries');
    expect(keys(upstream)).toEqual(before);
    const served = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await get(`${proxy.url}/s${i}`);
      expect(res.status).toBe(200);
      served.add(res.body.split(' ')[0]);
    }
    expect(served).toEqual(new Set(pods.map((p) => p.name)));
  });

  it('start-up with an unreachable DNS server does not block: 503 / UNAVAILABLE naming the source until the first answer, then serves', async () => {
    const { pods, port } = await startPods(['127.0.0.2']);
    const dns = await dnsServer();
    // The server never answers: every query times out (c-ares timeout x tries).
    dns.setMode(NAME, 'drop');
    const config: RingsideConfig = {
      logLevel: 'error',
      drainTimeoutMs: 0,
      admin: { host: '127.0.0.1', port: 0 },
      listeners: [{ name: 'default', listen: { host: '127.0.0.1', port: 0 }, upstream: 'default' }],
      upstreams: [upstreamConfig({ target: { kind: 'dns', name: NAME, port }, upstream: dnsUpstream(dns, port) })],
    };
    const started = performance.now();
    const app = await startApp(config, { logger: silentLogger, version: 'test' });
    cleanups.push(() => stopWhenIdle(app));
    const startMs = performance.now() - started;
    expect(startMs).toBeLessThan(500);
    const upstream = app.upstreams.get('default')!;
    const url = `http://127.0.0.1:${app.listeners[0].port}`;

    const res = await get(`${url}/early`);
    expect(upstream.resolved).toBe(false);
    expect(res.status).toBe(503);
    expect(res.error).toBe('RS_ERR_NO_ENDPOINTS');
    expect(res.body).toContain(`dns:${NAME}:${port}`);

    const client = createEchoClient(`127.0.0.1:${app.listeners[0].port}`);
    cleanups.push(() => client.close());
    const err = await failedCall(unary(client, { message: 'x' }));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(NAME);

    // Once a query timed out, the message says so. (c-ares: 1 s, then 2 s on the second try; more on a busy machine.)
    await waitFor(() => upstream.lastResolution !== null, 8000, 'a timed-out resolution');
    expect(upstream.lastResolution!.result).toBe('timeout');
    expect((await get(`${url}/timeout`)).body).toContain('timeout');

    dns.setMode(NAME, 'normal');
    dns.setA(NAME, ['127.0.0.2'], 30);
    await waitFor(() => upstream.endpoints.size === 1, 4000, 'the first successful resolution');
    const ok = await get(`${url}/late`);
    expect(ok.status).toBe(200);
    expect(ok.body.startsWith(pods[0].name)).toBe(true);
  });

  it('150 A records (too big for UDP, fetched over TCP) all become endpoints', async () => {
    const dns = await dnsServer();
    const ips = Array.from({ length: 150 }, (_, i) => `127.0.${1 + Math.floor(i / 100)}.${1 + (i % 100)}`);
    dns.setA(NAME, ips, 30);
    const proxy = await proxyFor(dns, 9, { lb: 'ring_hash', hashOn: [{ type: 'header', name: 'x-user-id', terminal: false }] });
    const upstream = proxy.app.upstreams.get('default')!;
    await waitFor(() => upstream.endpoints.size === 150, 2000, '150 endpoints');
    expect(keys(upstream)).toEqual(ips.map((ip) => `${ip}:9`).sort());
    expect(dns.log.some((q) => q.name === NAME && q.transport === 'udp' && q.truncated)).toBe(true);
    expect(dns.log.some((q) => q.name === NAME && q.transport === 'tcp')).toBe(true);
    const ring = ringOf(upstream).stats();
    expect(ring.endpoints).toHaveLength(150);
    expect(ring.minEntriesPerEndpoint).toBeGreaterThan(0);
  });

  it('answers in a different order every time cause no ring rebuild; a real change does', async () => {
    const dns = await dnsServer();
    dns.setShuffle(true);
    const ips = Array.from({ length: 12 }, (_, i) => `127.0.3.${i + 1}`);
    dns.setA(NAME, ips, 30);
    const proxy = await proxyFor(dns, 9, { lb: 'ring_hash', hashOn: [{ type: 'header', name: 'x-user-id', terminal: false }] });
    const upstream = proxy.app.upstreams.get('default')!;
    const balancer = ringOf(upstream);
    await waitFor(() => upstream.endpoints.size === 12, 2000, 'the initial set');
    const rebuilds = balancer.rebuilds;
    const ring = balancer.ring;
    const queries = dns.queryCount(NAME, 'A');
    await waitFor(() => dns.queryCount(NAME, 'A') >= queries + 6, REFRESH_MS * 10, 'six more shuffled answers');
    expect(balancer.rebuilds).toBe(rebuilds);
    expect(balancer.ring).toBe(ring);

    dns.setA(NAME, ips.slice(1), 30);
    await waitFor(() => upstream.endpoints.size === 11, REFRESH_MS * 3, 'one endpoint removed');
    expect(balancer.rebuilds).toBe(rebuilds + 1);
  });

  it('two upstreams: one name failing (NXDOMAIN, then timeouts) leaves the other serving and refreshing', async () => {
    const { pods, port } = await startPods(['127.0.0.2', '127.0.0.3']);
    const dns = await dnsServer();
    const GOOD = 'good.svc.test';
    const BAD = 'bad.svc.test';
    dns.setA(GOOD, ['127.0.0.2'], 30);
    const server = { port: dns.port };
    const config: RingsideConfig = {
      logLevel: 'error',
      drainTimeoutMs: 0,
      admin: { host: '127.0.0.1', port: 0 },
      listeners: [
        { name: 'good', listen: { host: '127.0.0.1', port: 0 }, upstream: 'good' },
        { name: 'bad', listen: { host: '127.0.0.1', port: 0 }, upstream: 'bad' },
      ],
      upstreams: [
        { ...upstreamConfig({ target: { kind: 'dns', name: GOOD, port }, upstream: dnsUpstream(server, port) }), name: 'good' },
        { ...upstreamConfig({ target: { kind: 'dns', name: BAD, port }, upstream: dnsUpstream(server, port) }), name: 'bad' },
      ],
    };
    const app: RunningApp = await startApp(config, { logger: silentLogger, version: 'test' });
    cleanups.push(() => stopWhenIdle(app));
    const good = app.upstreams.get('good')!;
    const bad = app.upstreams.get('bad')!;
    const goodUrl = `http://127.0.0.1:${app.listeners[0].port}`;
    const badUrl = `http://127.0.0.1:${app.listeners[1].port}`;
    await waitFor(() => good.endpoints.size === 1 && bad.resolved, 2000, 'both resolved');

    const badRes = await get(`${badUrl}/x`);
    expect(badRes.status).toBe(503);
    expect(badRes.body).toContain(BAD);
    expect((await get(`${goodUrl}/x`)).status).toBe(200);

    // Now the bad name's queries hang (the server drops them; c-ares waits seconds before giving up):
    // while one is pending, the good upstream still refreshes on time.
    dns.setMode(BAD, 'drop');
    const droppedBefore = dns.log.length;
    await waitFor(() => dns.log.slice(droppedBefore).some((q) => q.name === BAD), REFRESH_MS * 3, 'a dropped query for the bad name');
    const badResolutionBefore = bad.lastResolution;
    dns.setA(GOOD, ['127.0.0.2', '127.0.0.3'], 30);
    const changedAt = performance.now();
    await waitFor(() => good.endpoints.size === 2, REFRESH_MS * 3, 'the good name refreshed');
    expect(performance.now() - changedAt).toBeLessThan(REFRESH_MS * 1.1 + 300);
    // The bad name's query was still pending all along.
    expect(bad.lastResolution).toBe(badResolutionBefore);
    const served = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await get(`${goodUrl}/g${i}`);
      expect(res.status).toBe(200);
      served.add(res.body.split(' ')[0]);
    }
    expect(served).toEqual(new Set(pods.map((p) => p.name)));
    expect((await get(`${badUrl}/x`)).status).toBe(503);
  });
});
