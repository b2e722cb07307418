import { expect, test } from 'vitest';
import type { UpstreamConfig } from '../config/config.ts';
import { createDiscovery } from './create-discovery.ts';
import { createEndpointAddress } from './endpoint-address.ts';

const base = {
  name: 'recs',
  protocol: 'auto',
  lb: 'round_robin',
  hashOn: [],
  hashFallback: 'round_robin',
  ringMode: 'stable',
  ringEntriesPerEndpoint: 100,
  minRingSize: 1024,
  maxRingSize: 8_388_608,
  hashBalanceFactor: null,
  connectTimeoutMs: 1000,
  requestTimeoutMs: 0,
  idleTimeoutMs: 30_000,
  h2KeepaliveIntervalMs: 0,
  h2PingTimeoutMs: 20_000,
  retries: 2,
  retryBufferBytes: 65_536,
  ejection: { consecutiveFailures: 5, baseTimeMs: 30_000, maxTimeMs: 300_000, maxPercent: 50 },
  dns: { refreshMs: 5000, respectTtl: true, family: 'any', server: { host: '127.0.0.1', port: 53 } },
} satisfies Omit<UpstreamConfig, 'target'>;

test('the target kind chooses the source', () => {
  const endpoint = createEndpointAddress('127.0.0.1', 9000);
  expect(createDiscovery({ ...base, target: { kind: 'static', endpoints: [endpoint] } }).description).toBe('static:127.0.0.1:9000');
  expect(createDiscovery({ ...base, target: { kind: 'dns', name: 'recs.default.svc.cluster.local', port: 8080 } }).description).toBe(
    'dns:recs.default.svc.cluster.local:8080',
  );
  expect(createDiscovery({ ...base, target: { kind: 'srv', name: '_grpc._tcp.recs.default.svc.cluster.local' } }).description).toBe(
    'srv:_grpc._tcp.recs.default.svc.cluster.local',
  );
});
