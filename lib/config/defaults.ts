// Complete configuration objects from the defaults, for embedding ringside
// (the demo, tests) without going through flags: only what differs is given.

import type { RingsideConfig, UpstreamConfig, UpstreamTarget } from './config.ts';
import { DEFAULTS } from './options.ts';

export function createUpstreamConfig(name: string, target: UpstreamTarget, overrides: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name,
    target,
    protocol: DEFAULTS.upstreamProtocol,
    lb: overrides.hashOn !== undefined && overrides.hashOn.length > 0 ? 'ring_hash' : 'least_request',
    hashOn: [],
    hashFallback: DEFAULTS.hashFallback,
    ringMode: DEFAULTS.ringMode,
    ringEntriesPerEndpoint: DEFAULTS.ringEntriesPerEndpoint,
    minRingSize: DEFAULTS.minRingSize,
    maxRingSize: DEFAULTS.maxRingSize,
    hashBalanceFactor: DEFAULTS.hashBalanceFactor,
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
    requestTimeoutMs: DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: DEFAULTS.idleTimeoutMs,
    h2KeepaliveIntervalMs: DEFAULTS.h2KeepaliveIntervalMs,
    h2PingTimeoutMs: DEFAULTS.h2PingTimeoutMs,
    retries: DEFAULTS.retries,
    retryBufferBytes: DEFAULTS.retryBufferBytes,
    ejection: {
      consecutiveFailures: DEFAULTS.ejectConsecutiveFailures,
      baseTimeMs: DEFAULTS.ejectBaseTimeMs,
      maxTimeMs: DEFAULTS.ejectMaxTimeMs,
      maxPercent: DEFAULTS.maxEjectionPercent,
    },
    dns: { refreshMs: DEFAULTS.dnsRefreshMs, respectTtl: DEFAULTS.dnsRespectTtl, family: DEFAULTS.dnsFamily, server: DEFAULTS.dnsServer },
    slowStart: { windowMs: DEFAULTS.slowStartMs, minWeightPercent: DEFAULTS.slowStartMinWeightPercent, aggression: DEFAULTS.slowStartAggression },
    ...overrides,
  };
}

export function createRingsideConfig(overrides: Partial<RingsideConfig> & Pick<RingsideConfig, 'listeners' | 'upstreams'>): RingsideConfig {
  return { logLevel: DEFAULTS.logLevel, admin: DEFAULTS.admin, drainTimeoutMs: DEFAULTS.drainTimeoutMs, ...overrides };
}
