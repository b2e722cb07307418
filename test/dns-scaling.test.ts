// Scaling a headless Service up and down through ringside, with a real DNS
// server (Debian's dnsmasq) and real gRPC replicas bound like pods: distinct
// loopback addresses 127.0.0.2..6, all on the same port, one name mapping to
// them. One long-lived gRPC client channel sees new pods get traffic within a
// refresh interval, and removed pods drain without a single failed call.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upstream } from '../lib/upstream/upstream.ts';
import { startDnsmasq, type DnsmasqServer } from './support/dnsmasq.ts';
import { createEchoClient, startGrpcReplica, unary, type EchoClient, type GrpcReplica } from './support/grpc-replicas.ts';
import { startLoad } from './support/load.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { sleep, waitFor } from './support/wait.ts';

const NAME = 'recs.svc.test';
const REFRESH_MS = 500;
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const FIRST = HOSTS.slice(0, 3);
const ADDED = HOSTS.slice(3);

let replicas: GrpcReplica[] = [];
let port = 0;
let dnsmasq: DnsmasqServer;
let proxy: TestProxy;
let upstream: Upstream;
let client: EchoClient;

/** Start one replica per address on one common port, like pods of a Service; retries when a port is taken. */
async function startPods(hosts: readonly string[]): Promise<GrpcReplica[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await startGrpcReplica(`pod-${hosts[0]}`, hosts[0], 0);
    const pods = [first];
    try {
      for (const host of hosts.slice(1)) pods.push(await startGrpcReplica(`pod-${host}`, host, first.port));
      return pods;
    } catch {
      await Promise.all(pods.map((p) => p.close()));
    }
  }
  throw new Error('no port free on every address');
}

const podsOf = (hosts: readonly string[]): GrpcReplica[] => replicas.filter((r) => hosts.includes(r.host));
const keysOf = (hosts: readonly string[]): string[] => hosts.map((h) => `${h}:${port}`).sort();

/**
 * TCP connections in ESTABLISHED state with `host:port` at either end, from
 * /proc/net/tcp (IPv4, addresses in little-endian hex on x86/arm). Proves an
 * endpoint's connections are really closed, not only dropped from a map.
 */
function establishedTo(host: string, p: number): number {
  const hex = Buffer.from(host.split('.').map(Number)).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0');
  const wanted = `${hex}:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    if (cols[3] === '01' && (cols[1] === wanted || cols[2] === wanted)) count++;
  }
  return count;
}

function proxyConnections(): Promise<number> {
  return new Promise((resolve, reject) => proxy.app.listeners[0].tcp.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

beforeAll(async () => {
  replicas = await startPods(HOSTS);
  port = replicas[0].port;
  dnsmasq = await startDnsmasq({ hosts: { [NAME]: FIRST }, domain: 'svc.test', localTtl: 1 });
  proxy = await startProxy({
    target: { kind: 'dns', name: NAME, port },
    upstream: { dns: { refreshMs: REFRESH_MS, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dnsmasq.port } } },
  });
  upstream = proxy.app.upstreams.get('default')!;
  client = createEchoClient(proxy.address);
});

afterAll(async () => {
  client?.close();
  // Every client connection must be gone before the proxy stops: a leak fails here, not silently.
  if (proxy) await waitForNoClientConnections();
  await proxy?.stop();
  await dnsmasq?.close();
  await Promise.all(replicas.map((r) => r.close()));
});

async function waitForNoClientConnections(ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  let open = await proxyConnections();
  while (open > 0 && Date.now() < end) {
    await sleep(20);
    open = await proxyConnections();
  }
  if (open > 0) throw new Error(`proxy still has ${open} client connections ${ms} ms after the client closed`);
}

describe('DNS scaling through ringside, one gRPC channel', () => {
  it('serves from the 3 pods DNS names, and only from them', async () => {
    expect([...upstream.endpoints.keys()].sort()).toEqual(keysOf(FIRST));
    const load = startLoad(async () => (await unary(client, { message: 'x' })).replica, { concurrency: 6, maxCalls: 120, maxMs: 5000 });
    const stats = await load.done;
    expect(stats.failures).toEqual([]);
    expect(stats.succeeded).toBe(120);
    for (const pod of podsOf(FIRST)) expect(pod.calls, pod.name).toBeGreaterThan(0);
    for (const pod of podsOf(ADDED)) expect(pod.calls, pod.name).toBe(0);
  });

  it('scale-up to 5: the new pods get traffic within one refresh interval', async () => {
    const newNames = new Set(podsOf(ADDED).map((p) => p.name));
    const firstNewAt = new Map<string, number>();
    // Light load on the same channel to notice the first call a new pod answers.
    const load = startLoad(
      async () => {
        const reply = await unary(client, { message: 'probe' });
        if (newNames.has(reply.replica) && !firstNewAt.has(reply.replica)) firstNewAt.set(reply.replica, performance.now());
        return reply.replica;
      },
      { concurrency: 4, maxCalls: 50_000, maxMs: 4000 },
    );
    const reloadAt = performance.now();
    await dnsmasq.reload({ [NAME]: HOSTS });
    const servedAt = performance.now();
    await waitFor(() => firstNewAt.size === ADDED.length, 3000, 'both new pods served a call');
    const stats = await load.stop();

    const first = Math.min(...firstNewAt.values()) - reloadAt;
    const both = Math.max(...firstNewAt.values()) - reloadAt;
    console.log(
      `DNS change -> first call served by a new pod: ${first.toFixed(0)} ms after the SIGHUP ` +
        `(dnsmasq served the new records after ${(servedAt - reloadAt).toFixed(0)} ms; both new pods by ${both.toFixed(0)} ms; refresh ${REFRESH_MS} ms)`,
    );
    expect(stats.failures).toEqual([]);
    // One refresh (500 ms, +10% jitter) plus slack for the query, the diff and the call itself.
    expect(first).toBeLessThan(REFRESH_MS * 1.1 + 400);
    expect(both).toBeLessThan(REFRESH_MS * 1.1 + 600);
    expect([...upstream.endpoints.keys()].sort()).toEqual(keysOf(HOSTS));
  });

  it('scale-down to 3 under load: zero failed calls, removed pods drain, get no new calls, and their connections close', async () => {
    const removedKeys = keysOf(ADDED);
    // Make sure the removed pods hold live connections and calls when the change lands.
    const load = startLoad(async () => (await unary(client, { message: 'slow', count: 20 })).replica, {
      concurrency: 20,
      maxCalls: 4000,
      maxMs: 6000,
    });
    await waitFor(() => podsOf(ADDED).every((p) => load.stats.byLabel.has(p.name)), 2000, 'load reaches the pods about to be removed');
    for (const host of ADDED) expect(establishedTo(host, port), host).toBeGreaterThan(0);
    // 20 long calls (1.2 s at the server) next to the short ones: least_request spreads them, so the pods
    // about to be removed hold some when the change lands (all 20 missing both of 2 of 5 pods is ~(3/5)^20).
    // They must still complete.
    const removedEndpoints = removedKeys.map((k) => upstream.endpoints.get(k)!);
    const longCalls: Promise<string>[] = [];
    // Bounded: start long calls (at least 20, at most 60) until both pods about to be removed hold one.
    for (let i = 0; i < 60 && (i < 20 || !removedEndpoints.every((e) => e.inFlight > 0)); i++) {
      longCalls.push(unary(client, { message: 'long', count: 1200 }).then((r) => r.replica));
      await sleep(2);
    }
    await sleep(50);
    expect(removedEndpoints.map((e) => e.inFlight > 0)).toEqual([true, true]);

    await dnsmasq.reload({ [NAME]: FIRST });
    await waitFor(() => removedKeys.every((k) => !upstream.endpoints.has(k)), REFRESH_MS * 3, 'removal applied');
    // Removed but not cut: draining, with their calls still in flight.
    expect([...upstream.draining].map((e) => e.key).sort()).toEqual(removedKeys);
    expect(removedEndpoints.every((e) => e.state === 'draining' && e.inFlight > 0)).toBe(true);
    // Drained: the in-flight calls finished and the endpoints left the draining set.
    await waitFor(() => upstream.draining.size === 0, 3000, 'removed endpoints drained');
    const longReplies = await Promise.all(longCalls);
    const callsAfterDrain = podsOf(ADDED).map((p) => p.calls);
    const callsOnKeptBefore = podsOf(FIRST).map((p) => p.calls);

    // Keep the load running for a while: none of it may reach the removed pods.
    await sleep(600);
    const stats = await load.stop();

    expect(stats.failures).toEqual([]);
    expect(stats.succeeded).toBeGreaterThan(200);
    // Every long call completed, some of them on the removed pods while those drained.
    expect(longReplies).toHaveLength(longCalls.length);
    expect(longReplies.some((r) => podsOf(ADDED).some((p) => p.name === r))).toBe(true);
    expect(podsOf(ADDED).map((p) => p.calls)).toEqual(callsAfterDrain);
    podsOf(FIRST).forEach((p, i) => expect(p.calls, p.name).toBeGreaterThan(callsOnKeptBefore[i]));
    expect([...upstream.endpoints.keys()].sort()).toEqual(keysOf(FIRST));
    expect([...upstream.draining]).toEqual([]);
    // Closed for real: no TCP connection to a removed pod is left open.
    await waitFor(() => ADDED.every((host) => establishedTo(host, port) === 0), 2000, 'connections to removed pods closed');
    for (const host of FIRST) expect(establishedTo(host, port), host).toBeGreaterThan(0);
  });
});
