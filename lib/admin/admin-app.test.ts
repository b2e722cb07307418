import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Protocol, createMetrics } from '../metrics/metrics.ts';
import type { RingsideMetrics } from '../metrics/metrics.ts';
import { createAdminApp, prefersOpenMetrics } from './admin-app.ts';
import { startAdminServer } from './admin-server.ts';
import type { AdminServer } from './admin-server.ts';
import type { Readiness, StatusSnapshot } from './status.ts';

const HOSTILE_UPSTREAM = '<script>alert("up")</script>';
const HOSTILE_ENDPOINT = '"><img src=x onerror=alert(1)>:80';

function snapshot(): StatusSnapshot {
  return {
    version: '0.1.0-test',
    startedAt: Date.now() - 90_000,
    ready: { ready: true, reasons: [] },
    upstreams: [
      {
        name: 'recs',
        target: 'dns:recs.default.svc.cluster.local:8080',
        lb: 'ring_hash',
        listeners: ['egress'],
        endpoints: [
          { key: '10.0.0.1:8080', state: 'active', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 2, requestRate: 12.5, errorRate: 0, ringShare: 0.5 },
          { key: '10.0.0.2:8080', state: 'draining', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 0, requestRate: 0.25, errorRate: 0.1, ringShare: 0.5 },
        ],
        ring: { entries: 1024, min: 500, max: 524 },
        slowStartMs: 0,
        dns: { lastSuccess: Date.now() - 3_000, lastResult: 'success' },
      },
      {
        name: HOSTILE_UPSTREAM,
        target: "static:'quoted'&<b>",
        lb: 'round_robin',
        listeners: ['<i>l</i>'],
        endpoints: [{ key: HOSTILE_ENDPOINT, state: 'ejected', protocol: 'unknown', weight: 1, slowStart: null, inFlight: 0, requestRate: 0, errorRate: 1, ringShare: null }],
        ring: null,
        slowStartMs: 0,
        dns: { lastSuccess: null, lastResult: null },
      },
    ],
  };
}

let registry: Registry;
let metrics: RingsideMetrics;
let readiness: Readiness;
let server: AdminServer;
let agent: Agent;
let base: string;

beforeEach(async () => {
  registry = new Registry();
  metrics = createMetrics(registry);
  readiness = { ready: true, reasons: [] };
  const app = createAdminApp({ registry, getStatus: snapshot, getReadiness: () => readiness });
  server = await startAdminServer(app, { host: '127.0.0.1', port: 0 });
  agent = new Agent();
  base = `http://127.0.0.1:${server.port}`;
});

afterEach(async () => {
  await agent.close();
  await server.close();
});

async function call(path: string, options: { method?: string; accept?: string } = {}) {
  const response = await request(`${base}${path}`, {
    dispatcher: agent,
    method: (options.method ?? 'GET') as 'GET',
    headers: options.accept ? { accept: options.accept } : {},
  });
  const body = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body };
}

describe('admin server', () => {
  it('binds port 0 to a real port and refuses connections after close()', async () => {
    expect(server.port).toBeGreaterThan(0);
    const other = await startAdminServer(createAdminApp({ registry, getStatus: snapshot, getReadiness: () => readiness }), {
      host: '127.0.0.1',
      port: 0,
    });
    const url = `http://127.0.0.1:${other.port}/healthz`;
    const client = new Agent();
    expect((await request(url, { dispatcher: client })).statusCode).toBe(200);
    await other.close(); // the client's keep-alive socket is idle: close() ends it and resolves
    await expect(request(url, { dispatcher: client })).rejects.toThrow();
    await client.close();
  });

  it('rejects when the port is taken', async () => {
    await expect(startAdminServer(createAdminApp({ registry, getStatus: snapshot, getReadiness: () => readiness }), {
      host: '127.0.0.1',
      port: server.port,
    })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('/healthz', () => {
  it('answers ok to GET and headers only to HEAD', async () => {
    const get = await call('/healthz');
    expect(get.status).toBe(200);
    expect(get.body).toBe('ok\n');
    const head = await call('/healthz', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/plain/);
    expect(head.body).toBe('');
  });
});

describe('method handling', () => {
  it.each([
    ['POST', '/metrics'],
    ['PUT', '/status'],
    ['DELETE', '/readyz'],
    ['PATCH', '/status.json'],
    ['OPTIONS', '/healthz'],
  ])('%s %s -> 405 with Allow: GET, HEAD', async (method, path) => {
    const response = await call(path, { method });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
  });

  it('404s unknown paths', async () => {
    expect((await call('/nope')).status).toBe(404);
    expect((await call('/nope', { method: 'POST' })).status).toBe(404);
  });
});

describe('/metrics', () => {
  beforeEach(() => {
    const e = metrics.endpoint('egress', 'recs', '10.0.0.1:8080');
    for (let i = 0; i < 3; i++) {
      e.requestStarted();
      e.requestFinished(Protocol.http1, 200, false, 0.002);
    }
  });

  it('serves the Prometheus text format 0.0.4 by default, with current values', async () => {
    const response = await call('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.body).toContain(
      'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http1",code="2xx"} 3\n',
    );
    expect(response.body).not.toContain('# EOF');
    metrics.endpoint('egress', 'recs', '10.0.0.1:8080').requestStarted();
    expect((await call('/metrics')).body).toContain(
      'ringside_requests_in_flight{listener="egress",upstream="recs",endpoint="10.0.0.1:8080"} 1\n',
    );
  });

  it('serves OpenMetrics when Accept asks for it, and text again afterwards', async () => {
    const prometheusAccept =
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const om = await call('/metrics', { accept: prometheusAccept });
    expect(om.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(om.headers.vary).toBe('Accept');
    expect(om.body).toContain('# TYPE ringside_requests counter\n');
    expect(om.body).toContain('ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http1",code="2xx"} 3\n');
    expect(om.body.endsWith('# EOF\n')).toBe(true);

    const text = await call('/metrics', { accept: 'text/plain;version=0.0.4' });
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text.body).toContain('# TYPE ringside_requests_total counter\n');
  });

  it('answers HEAD with the content type and no body', async () => {
    const head = await call('/metrics', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(head.body).toBe('');
  });
});

describe('prefersOpenMetrics', () => {
  it.each([
    [undefined, false],
    ['*/*', false],
    ['text/plain', false],
    ['application/openmetrics-text', true],
    ['application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['text/plain;q=1, application/openmetrics-text;q=0.5', false],
    ['application/openmetrics-text;q=0', false],
    ['Application/OpenMetrics-Text ; q=0.9, */*;q=0.1', true],
  ])('%s -> %s', (accept, expected) => {
    expect(prefersOpenMetrics(accept)).toBe(expected);
  });
});

describe('/readyz', () => {
  it('is 200 when ready and 503 with the reasons when not', async () => {
    const ready = await call('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true, reasons: [] });

    readiness = { ready: false, reasons: ['upstream recs: no endpoints yet', 'listener egress: not bound'] };
    const notReady = await call('/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(notReady.body)).toEqual({ ready: false, reasons: ['upstream recs: no endpoints yet', 'listener egress: not bound'] });

    const head = await call('/readyz', { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(head.body).toBe('');
  });
});

describe('/status.json', () => {
  it('is the snapshot, as JSON', async () => {
    const response = await call('/status.json');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(response.body) as StatusSnapshot;
    const expected = snapshot();
    expect(body.version).toBe(expected.version);
    expect(body.upstreams.map((u) => u.name)).toEqual(['recs', HOSTILE_UPSTREAM]);
    expect(body.upstreams[0].endpoints).toEqual(expected.upstreams[0].endpoints);
    expect(body.upstreams[0].ring).toEqual({ entries: 1024, min: 500, max: 524 });
    expect(body.upstreams[1].ring).toBeNull();
    expect(body.upstreams[1].endpoints[0].ringShare).toBeNull();
    expect(body.ready).toEqual({ ready: true, reasons: [] });
  });
});

describe('/status', () => {
  it('renders every upstream and endpoint, escaping everything interpolated', async () => {
    const response = await call('/status');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = response.body;
    expect(html).toContain('data-endpoint="10.0.0.1:8080"');
    expect(html).toContain('data-endpoint="10.0.0.2:8080"');
    expect(html).toContain('&lt;script&gt;alert(&quot;up&quot;)&lt;/script&gt;');
    expect(html).toContain('data-endpoint="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;:80"');
    expect(html).toContain('static:&#39;quoted&#39;&amp;&lt;b&gt;');
    expect(html).toContain('&lt;i&gt;l&lt;/i&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<i>');
    // Only our own script, and no external assets.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    // Ring share bars, sized by share.
    expect(html.match(/class="bar" data-share="0.5" style="width: 50.000%"/g)).toHaveLength(2);
  });

  it('escapes readiness reasons', async () => {
    readiness = { ready: false, reasons: [] };
    const app = createAdminApp({
      registry,
      getStatus: () => ({ ...snapshot(), ready: { ready: false, reasons: ['<svg onload=alert(1)>'] } }),
      getReadiness: () => readiness,
    });
    const response = await app.request('/status');
    const html = await response.text();
    expect(html).toContain('<li>&lt;svg onload=alert(1)&gt;</li>');
    expect(html).toContain('not ready');
  });
});
