// Metrics after real traffic through the proxy: exact counters per endpoint
// and code, proxy errors by reason, ring gauges, a valid exposition
// (promtool), and readiness across start-up, resolution and shutdown.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createEchoClient, grpc, startGrpcReplica, unary, type GrpcReplica } from './support/grpc-replicas.ts';
import { startHttpReplicas, type Replica } from './support/http-replicas.ts';
import { promtoolCheckMetrics } from './support/promtool.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { startDnsServer } from './support/dns-server.ts';
import { unusedPort, waitFor } from './support/wait.ts';

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && line !== name && !line.startsWith(name + ' ')) continue;
    const brace = line.indexOf('{');
    const labelText = brace >= 0 ? line.slice(brace + 1, line.lastIndexOf('}')) : '';
    const got = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && (brace >= 0 ? line.slice(0, brace) : line.split(' ')[0]) === name) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

async function scrape(proxy: TestProxy): Promise<string> {
  const res = await request(`${proxy.adminUrl}/metrics`);
  expect(res.statusCode).toBe(200);
  return res.body.text();
}

describe('metrics after real traffic', () => {
  let replicas: Replica[];
  let grpcReplica: GrpcReplica;
  let proxy: TestProxy;
  let gproxy: TestProxy;

  beforeAll(async () => {
    replicas = await startHttpReplicas(2, {
      handler: (req, res) => {
        const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
        (res as import('node:http').ServerResponse).writeHead(status);
        res.end();
      },
    });
    proxy = await startProxy({ endpoints: replicas.map((r) => r.key), hashOn: [{ type: 'query', name: 'user', terminal: false }] });
    grpcReplica = await startGrpcReplica('g0');
    gproxy = await startProxy({ endpoints: [grpcReplica.key] });
  });
  afterAll(async () => {
    await proxy.stop();
    await gproxy.stop();
    await Promise.all([...replicas.map((r) => r.close()), grpcReplica.close()]);
  });

  it('counts HTTP/1.1 requests per endpoint and status class, and missing hash keys', async () => {
    // user=a always goes to the same endpoint: find which.
    for (let i = 0; i < 7; i++) await (await request(`${proxy.url}/x?user=a`)).body.text();
    for (let i = 0; i < 3; i++) await (await request(`${proxy.url}/x?user=a&status=404`)).body.text();
    for (let i = 0; i < 2; i++) await (await request(`${proxy.url}/x?user=a&status=503`)).body.text();
    for (let i = 0; i < 4; i++) await (await request(`${proxy.url}/nokey`)).body.text();
    const owner = replicas.find((r) => r.requests >= 12)!;
    expect(owner).toBeDefined();
    const text = await scrape(proxy);
    const labels = { listener: 'default', upstream: 'default', endpoint: owner.key, protocol: 'http1' };
    // The 4 key-less requests may land anywhere (least_request fallback); count them apart.
    const ownerFallback = owner.requests - 12;
    expect(sample(text, 'ringside_requests_total', { ...labels, code: '2xx' })).toBe(7 + ownerFallback);
    expect(sample(text, 'ringside_requests_total', { ...labels, code: '4xx' })).toBe(3);
    expect(sample(text, 'ringside_requests_total', { ...labels, code: '5xx' })).toBe(2);
    expect(sample(text, 'ringside_hash_key_missing_total', { upstream: 'default' })).toBe(4);
    expect(sample(text, 'ringside_request_duration_seconds_count', labels)).toBe(owner.requests);
    expect(sample(text, 'ringside_ring_entries', { upstream: 'default' })).toBe(512);
    expect(sample(text, 'ringside_ring_min_entries_per_endpoint', { upstream: 'default' })).toBe(256);
    expect(sample(text, 'ringside_endpoints', { upstream: 'default', state: 'active' })).toBe(2);
    expect(sample(text, 'ringside_requests_in_flight', { listener: 'default', upstream: 'default', endpoint: owner.key })).toBe(0);
    const lint = await promtoolCheckMetrics(text.split('\n').filter((l) => !/nodejs_|process_/.test(l)).join('\n'));
    expect(lint.output).toBe('');
    expect(lint.code).toBe(0);
  });

  it('counts gRPC calls by status name', async () => {
    const client = createEchoClient(gproxy.address);
    try {
      for (let i = 0; i < 5; i++) await unary(client, { message: 'ok' });
      for (let i = 0; i < 2; i++) await unary(client, { message: 'nf', failCode: grpc.status.NOT_FOUND }).catch(() => {});
    } finally {
      client.close();
    }
    const text = await scrape(gproxy);
    const labels = { listener: 'default', upstream: 'default', endpoint: grpcReplica.key, protocol: 'http2' };
    expect(sample(text, 'ringside_requests_total', { ...labels, code: 'OK' })).toBe(5);
    expect(sample(text, 'ringside_requests_total', { ...labels, code: 'NOT_FOUND' })).toBe(2);
  });

  it('counts proxy errors by reason', async () => {
    const port = await unusedPort();
    const broken = await startProxy({ endpoints: [`127.0.0.1:${port}`] });
    try {
      for (let i = 0; i < 3; i++) expect((await request(`${broken.url}/x`)).statusCode).toBe(502);
      const text = await scrape(broken);
      expect(sample(text, 'ringside_proxy_errors_total', { upstream: 'default', reason: 'connect_failed' })).toBe(3);
      expect(sample(text, 'ringside_proxy_errors_total', { upstream: 'default', reason: 'no_endpoints' })).toBe(0);
      expect(sample(text, 'ringside_requests_total', { listener: 'default', upstream: 'default', endpoint: `127.0.0.1:${port}`, protocol: 'http1', code: '5xx' })).toBe(3);
    } finally {
      await broken.stop();
    }
  });
});

describe('readiness', () => {
  it('is 503 before the first resolution, 200 after, and 503 again once shutdown begins', async () => {
    const dns = await startDnsServer();
    const replicas = await startHttpReplicas(1);
    dns.setMode('svc.test', 'drop');
    dns.setA('svc.test', ['127.0.0.1'], 1);
    const proxy = await startProxy({
      target: { kind: 'dns', name: 'svc.test', port: replicas[0].port },
      upstream: { dns: { refreshMs: 300, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } } },
    });
    try {
      let res = await request(`${proxy.adminUrl}/readyz`);
      expect(res.statusCode).toBe(503);
      expect(JSON.stringify(await res.body.json())).toContain('has not been resolved yet');
      // The data plane is up but has nowhere to send traffic yet.
      expect((await request(`${proxy.url}/x`)).statusCode).toBe(503);

      dns.setMode('svc.test', 'normal');
      await waitFor(() => proxy.app.readiness().ready, 5000, 'readiness');
      res = await request(`${proxy.adminUrl}/readyz`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
      expect((await request(`${proxy.url}/x`)).statusCode).toBe(200);

      const stopping = proxy.stop(500);
      expect(proxy.app.readiness()).toEqual({ ready: false, reasons: ['shutting down'] });
      await stopping;
    } finally {
      await proxy.stop();
      await replicas[0].close();
      await dns.close();
    }
  });
});
