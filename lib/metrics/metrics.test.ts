import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS_SECONDS, Protocol, createMetrics } from './metrics.ts';
import { renderOpenMetrics, renderPrometheusText } from './exposition.ts';
import { promtoolCheckMetrics } from '../../test/support/promtool.ts';

function family(registry: Registry, name: string): Promise<string> {
  return registry.getSingleMetricAsString(name);
}

describe('ringside_requests_total', () => {
  it('counts each request under its protocol and HTTP status class or gRPC status name', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const a = metrics.endpoint('egress', 'recs', '10.0.0.1:8080');
    const b = metrics.endpoint('egress', 'recs', '10.0.0.2:8080');
    for (const status of [200, 204, 201, 404, 499, 503]) {
      a.requestStarted();
      a.requestFinished(Protocol.http1, status, false, 0.001);
    }
    b.requestStarted();
    b.requestFinished(Protocol.http2, 0, true, 0.001);
    b.requestStarted();
    b.requestFinished(Protocol.http2, 14, true, 0.001);
    b.requestStarted();
    b.requestFinished(Protocol.http2, 99, true, 0.001); // out of range: UNKNOWN
    b.requestStarted();
    b.requestFinished(Protocol.http2, 200, false, 0.001);

    expect(await family(registry, 'ringside_requests_total')).toBe(
      [
        '# HELP ringside_requests_total Requests and gRPC streams proxied to an endpoint, by the protocol the client spoke and the HTTP status class or gRPC status name.',
        '# TYPE ringside_requests_total counter',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http1",code="2xx"} 3',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http1",code="4xx"} 2',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http1",code="5xx"} 1',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.2:8080",protocol="http2",code="2xx"} 1',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.2:8080",protocol="http2",code="OK"} 1',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.2:8080",protocol="http2",code="UNKNOWN"} 1',
        'ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.2:8080",protocol="http2",code="UNAVAILABLE"} 1',
      ].join('\n'),
    );
  });

  it('returns the same handle for the same endpoint, and tracks in-flight requests', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const handle = metrics.endpoint('egress', 'recs', '10.0.0.1:8080');
    expect(metrics.endpoint('egress', 'recs', '10.0.0.1:8080')).toBe(handle);
    handle.requestStarted();
    handle.requestStarted();
    handle.requestStarted();
    handle.requestFinished(Protocol.http1, 200, false, 0.01);
    expect(handle.inFlight).toBe(2);
    expect(await family(registry, 'ringside_requests_in_flight')).toContain(
      'ringside_requests_in_flight{listener="egress",upstream="recs",endpoint="10.0.0.1:8080"} 2',
    );
  });
});

describe('ringside_request_duration_seconds', () => {
  it('uses buckets from 100 µs to 30 s', () => {
    expect(DURATION_BUCKETS_SECONDS[0]).toBe(0.0001);
    expect(DURATION_BUCKETS_SECONDS.at(-1)).toBe(30);
    for (let i = 1; i < DURATION_BUCKETS_SECONDS.length; i++) {
      const step = DURATION_BUCKETS_SECONDS[i] / DURATION_BUCKETS_SECONDS[i - 1];
      expect(step).toBeGreaterThanOrEqual(2);
      expect(step).toBeLessThanOrEqual(3);
    }
  });

  it('puts each duration in the first bucket whose bound is >= it, cumulatively, with sum and count', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const e = metrics.endpoint('egress', 'recs', 'pod-a:80');
    for (const seconds of [0.00005, 0.0001, 0.0003, 0.004, 31]) {
      e.requestStarted();
      e.requestFinished(Protocol.http1, 200, false, seconds);
    }
    const text = await family(registry, 'ringside_request_duration_seconds');
    const bucket = (le: string) => {
      const line = text.split('\n').find((l) => l.includes(`protocol="http1",le="${le}"}`));
      return Number(line?.split(' ').at(-1));
    };
    expect(bucket('0.0001')).toBe(2); // 50 µs and exactly 100 µs (le is inclusive)
    expect(bucket('0.00025')).toBe(2);
    expect(bucket('0.0005')).toBe(3);
    expect(bucket('0.005')).toBe(4);
    expect(bucket('30')).toBe(4);
    expect(bucket('+Inf')).toBe(5);
    expect(text).toContain('ringside_request_duration_seconds_count{listener="egress",upstream="recs",endpoint="pod-a:80",protocol="http1"} 5');
    const sum = text.split('\n').find((l) => l.startsWith('ringside_request_duration_seconds_sum'));
    expect(Number(sum?.split(' ').at(-1))).toBeCloseTo(31.00445, 9);
    // No http2 traffic: no http2 series.
    expect(text).not.toContain('protocol="http2"');
  });
});

describe('remove()', () => {
  it('drops every series of that endpoint and no other', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const gone = metrics.endpoint('egress', 'recs', '10.0.0.9:8080');
    const kept = metrics.endpoint('egress', 'recs', '10.0.0.1:8080');
    for (const e of [gone, kept]) {
      e.requestStarted();
      e.requestFinished(Protocol.http2, 0, true, 0.002);
    }
    expect(await registry.metrics()).toContain('10.0.0.9:8080');
    gone.remove();
    const text = await registry.metrics();
    expect(text).not.toContain('10.0.0.9:8080');
    expect(text).toContain('ringside_requests_total{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http2",code="OK"} 1');
    expect(text).toContain('ringside_request_duration_seconds_count{listener="egress",upstream="recs",endpoint="10.0.0.1:8080",protocol="http2"} 1');
    expect(text).toContain('ringside_requests_in_flight{listener="egress",upstream="recs",endpoint="10.0.0.1:8080"} 0');

    // Late calls on a removed handle change nothing exported; asking again starts afresh.
    gone.requestStarted();
    expect(await registry.metrics()).not.toContain('10.0.0.9:8080');
    const again = metrics.endpoint('egress', 'recs', '10.0.0.9:8080');
    expect(again).not.toBe(gone);
    expect(again.inFlight).toBe(0);
    expect(await family(registry, 'ringside_requests_in_flight')).toContain('endpoint="10.0.0.9:8080"} 0');
    // A stale handle's second remove() leaves its successor alone.
    gone.remove();
    expect(await family(registry, 'ringside_requests_in_flight')).toContain('endpoint="10.0.0.9:8080"} 0');
  });

  it('drops an endpoint\'s connection series', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const upstream = metrics.upstream('recs');
    const a = upstream.connections('10.0.0.1:8080');
    expect(upstream.connections('10.0.0.1:8080')).toBe(a);
    a.opened(Protocol.http2);
    a.opened(Protocol.http1);
    a.opened(Protocol.http1);
    a.closed(Protocol.http1);
    upstream.connections('10.0.0.2:8080').opened(Protocol.http2);
    expect(await family(registry, 'ringside_upstream_connections')).toBe(
      [
        '# HELP ringside_upstream_connections Open connections from ringside to an endpoint, by the protocol spoken to it.',
        '# TYPE ringside_upstream_connections gauge',
        'ringside_upstream_connections{upstream="recs",endpoint="10.0.0.1:8080",protocol="http1"} 1',
        'ringside_upstream_connections{upstream="recs",endpoint="10.0.0.1:8080",protocol="http2"} 1',
        'ringside_upstream_connections{upstream="recs",endpoint="10.0.0.2:8080",protocol="http2"} 1',
      ].join('\n'),
    );
    a.remove();
    expect(await family(registry, 'ringside_upstream_connections')).not.toContain('10.0.0.1:8080');
  });
});

describe('upstream metrics', () => {
  it('exports errors, discovery, endpoint states and ring quality', async () => {
    const registry = new Registry();
    let nowMs = 1_700_000_000_500;
    const metrics = createMetrics(registry, { now: () => nowMs });
    const u = metrics.upstream('recs');
    expect(metrics.upstream('recs')).toBe(u);

    // Before the first ring() there is no ring to describe.
    expect(await family(registry, 'ringside_ring_entries')).not.toContain('upstream="recs"');
    expect(await family(registry, 'ringside_dns_last_success_timestamp_seconds')).not.toContain('upstream="recs"');

    u.proxyError('connect_failed');
    u.proxyError('connect_failed');
    u.proxyError('no_endpoints');
    u.dnsResolution('success');
    nowMs += 30_000;
    u.dnsResolution('servfail');
    u.endpointsByState(3, 1, 2);
    u.endpointChange('added', 4);
    u.endpointChange('removed', 1);
    u.ring(1024, 300, 380);
    u.ringRebuilt();
    u.ringRebuilt();
    u.hashKeyMissing();

    expect(u.dnsLastSuccess).toBe(1_700_000_000_500);
    expect(u.dnsLastResult).toBe('servfail');
    const text = await registry.metrics();
    const expected = [
      'ringside_proxy_errors_total{upstream="recs",reason="no_endpoints"} 1',
      'ringside_proxy_errors_total{upstream="recs",reason="connect_failed"} 2',
      'ringside_proxy_errors_total{upstream="recs",reason="timeout"} 0',
      'ringside_endpoints{upstream="recs",state="active"} 3',
      'ringside_endpoints{upstream="recs",state="draining"} 1',
      'ringside_endpoints{upstream="recs",state="ejected"} 2',
      'ringside_dns_resolutions_total{upstream="recs",result="success"} 1',
      'ringside_dns_resolutions_total{upstream="recs",result="servfail"} 1',
      'ringside_dns_resolutions_total{upstream="recs",result="nxdomain"} 0',
      'ringside_dns_last_success_timestamp_seconds{upstream="recs"} 1700000000.5',
      'ringside_endpoint_changes_total{upstream="recs",change="added"} 4',
      'ringside_endpoint_changes_total{upstream="recs",change="removed"} 1',
      'ringside_ring_entries{upstream="recs"} 1024',
      'ringside_ring_min_entries_per_endpoint{upstream="recs"} 300',
      'ringside_ring_max_entries_per_endpoint{upstream="recs"} 380',
      'ringside_ring_rebuilds_total{upstream="recs"} 2',
      'ringside_hash_key_missing_total{upstream="recs"} 1',
    ];
    for (const line of expected) expect(text.split('\n')).toContain(line);
  });
});

describe('rates for /status', () => {
  it('reports requests per second and the fraction of server-side failures', () => {
    const registry = new Registry();
    let nowMs = 1_000_000;
    const metrics = createMetrics(registry, { now: () => nowMs });
    const e = metrics.endpoint('egress', 'recs', 'pod-a:80');
    const finish = (code: number, grpc: boolean) => {
      e.requestStarted();
      e.requestFinished(Protocol.http2, code, grpc, 0.001);
    };
    nowMs += 59_000; // the endpoint is a minute old: rates are over 60 s
    for (let i = 0; i < 100; i++) finish(200, false);
    finish(503, false); // error
    finish(14, true); // UNAVAILABLE: error
    finish(5, true); // NOT_FOUND: an answer, not a failure
    finish(404, false); // likewise
    expect(e.requestRate()).toBeCloseTo(104 / 60, 9);
    expect(e.errorRate()).toBeCloseTo(2 / 104, 9);
  });
});

describe('exposition formats', () => {
  it('renders OpenMetrics through a view, leaving the Prometheus names intact', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const e = metrics.endpoint('egress', 'recs', 'pod-a:80');
    e.requestStarted();
    e.requestFinished(Protocol.http1, 200, false, 0.003);

    const om = await renderOpenMetrics(registry);
    expect(om).toContain('# TYPE ringside_requests counter\n');
    expect(om).toContain('ringside_requests_total{listener="egress",upstream="recs",endpoint="pod-a:80",protocol="http1",code="2xx"} 1\n');
    expect(om).toContain('# TYPE ringside_request_duration_seconds histogram\n');
    expect(om.endsWith('\n# EOF\n')).toBe(true);
    expect(om).not.toContain('ringside_requests_total_total');

    const text = await renderPrometheusText(registry);
    expect(text).toContain('# TYPE ringside_requests_total counter\n');
    expect(text).not.toContain('# EOF');
  });

  it('refuses a registry bound to OpenMetrics', () => {
    const registry = new Registry();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    expect(() => createMetrics(registry)).toThrow(/Prometheus text content type/);
  });
});

describe('promtool check metrics', () => {
  it('accepts the exposition without a single lint problem, hostile label values included', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry);
    const hostile = metrics.endpoint('egress "one"', 'recs\\ns', 'line\nbreak:80');
    const plain = metrics.endpoint('egress', 'recs', '[fd00::1]:8080');
    for (const e of [hostile, plain]) {
      e.requestStarted();
      e.requestFinished(Protocol.http1, 200, false, 0.0004);
      e.requestStarted();
      e.requestFinished(Protocol.http2, 4, true, 12);
    }
    const u = metrics.upstream('recs');
    u.ring(100, 40, 60);
    u.dnsResolution('success');
    u.connections('[fd00::1]:8080').opened(Protocol.http1);

    const result = await promtoolCheckMetrics(await registry.metrics());
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('accepts the exposition with the runtime metrics without a single lint problem', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { runtimeMetrics: true });
    metrics.upstream('recs').ringRebuilt();
    const text = await registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    const result = await promtoolCheckMetrics(text);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });
});
