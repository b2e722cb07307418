// Every ringside metric, declared in this one file on a Registry passed in (never
// prom-client's global one), and the handles the data plane updates per request.
//
// Hot path: the listener asks `metrics.endpoint(listener, upstream, endpoint)`
// once when an endpoint appears and keeps the handle; `requestStarted()` and
// `requestFinished(...)` then only index typed arrays (no strings, no objects,
// no Map lookups). Series are exported by CollectedMetric at scrape time, and
// `remove()` drops a handle so its series vanish from the next scrape, which
// keeps label cardinality bounded to the endpoints that exist.
//
// Naming follows https://prometheus.io/docs/practices/naming/ : prefix
// `ringside_`, base units, `_total` counters, `_seconds` durations.

import { Registry } from './registry.ts';
import type { ErrorStatus } from '../errors/status.ts';
import type { ResolutionResult } from '../discovery/discovery.ts';
import { registerCollectedMetric } from './collected-metric.ts';
import type { Sample } from './collected-metric.ts';
import { createRateWindow } from './rate-window.ts';
import { registerRuntimeMetrics } from './runtime-metrics.ts';
import { registerTunnelMetrics, type TunnelMetrics } from './tunnel-metrics.ts';
import type { RateWindow } from './rate-window.ts';

/**
 * The HTTP version on a connection, as array index. For requests it is what the
 * client spoke to ringside (`http1` = HTTP/1.x, `http2` = h2c, which includes
 * gRPC; a gRPC request is recognisable by its gRPC status name in `code`); for
 * upstream connections it is what ringside speaks to the endpoint.
 */
export const Protocol = { http1: 0, http2: 1 } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];
const PROTOCOL_NAMES = ['http1', 'http2'] as const;

export type ProxyErrorReason = ErrorStatus['reason'];
export type EndpointChange = 'added' | 'removed';

/** The `code` label: HTTP status class for plain HTTP, then gRPC status names by number. */
const HTTP_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
// https://grpc.github.io/grpc/core/md_doc_statuscodes.html, indexed by number.
const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION',
  'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;
const GRPC_UNKNOWN = 2;
const CODE_NAMES: readonly string[] = [...HTTP_CLASSES, ...GRPC_STATUS_NAMES];
const CODE_COUNT = CODE_NAMES.length;

/**
 * Which codes count as errors for the status page's error rate: HTTP 5xx, and
 * the gRPC codes that google.rpc.Code maps to a 5xx HTTP status (UNKNOWN,
 * INTERNAL, DATA_LOSS -> 500, UNIMPLEMENTED -> 501, UNAVAILABLE -> 503,
 * DEADLINE_EXCEEDED -> 504): failures of the server or the path to it, not
 * answers like NOT_FOUND.
 * https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
 */
const CODE_IS_ERROR = new Uint8Array(CODE_COUNT);
CODE_IS_ERROR[4] = 1;
for (const name of ['UNKNOWN', 'DEADLINE_EXCEEDED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS']) {
  CODE_IS_ERROR[HTTP_CLASSES.length + GRPC_STATUS_NAMES.indexOf(name as (typeof GRPC_STATUS_NAMES)[number])] = 1;
}

/**
 * Request duration buckets, 100 µs to 30 s in 1-2.5-5 steps (x2 to x2.5): a
 * sidecar adds well under a millisecond, so the low end needs resolution that
 * prom-client's defaults (from 5 ms) lack.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);
/** Bucket slots per protocol: one per bound plus the implicit +Inf. */
const BUCKET_SLOTS = DURATION_BUCKETS_SECONDS.length + 1;
const BUCKET_LE = [...DURATION_BUCKETS_SECONDS.map(String), '+Inf'];

const PROXY_ERROR_REASONS: readonly ProxyErrorReason[] = [
  'no_endpoints', 'connect_failed', 'upstream_reset', 'timeout', 'client_cancelled', 'bad_request', 'upstream_protocol', 'upstream_truncated', 'rate_limited', 'tunnel_limit', 'internal',
];
const DNS_RESULTS: readonly ResolutionResult[] = ['success', 'nxdomain', 'nodata', 'servfail', 'timeout', 'error'];
const ENDPOINT_STATES = ['active', 'draining', 'ejected'] as const;
const ENDPOINT_CHANGES: readonly EndpointChange[] = ['added', 'removed'];

/** Per (listener, upstream, endpoint): request counts, durations, in-flight, and the last minute's rates. */
export interface EndpointMetrics {
  readonly listener: string;
  readonly upstream: string;
  readonly endpoint: string;
  /** Requests sent to this endpoint and not finished yet. */
  readonly inFlight: number;
  /** A request (or gRPC stream) was dispatched to this endpoint. */
  requestStarted(): void;
  /**
   * It finished. `code` is the HTTP status (counted by class) or, when `isGrpc`,
   * the gRPC status number (unknown numbers count as UNKNOWN). A response that
   * ringside generated itself (e.g. 502 after a failed connect) counts too.
   */
  requestFinished(protocol: Protocol, code: number, isGrpc: boolean, durationSeconds: number): void;
  /** Requests per second over the last minute, for /status. */
  requestRate(): number;
  /** Fraction of the last minute's requests that failed (HTTP 5xx, server-side gRPC codes). */
  errorRate(): number;
  /** Drop every series of this endpoint from the exposition (call once it has drained). */
  remove(): void;
}

/** Open connections from ringside to one endpoint of an upstream. */
export interface ConnectionMetrics {
  opened(protocol: Protocol): void;
  closed(protocol: Protocol): void;
  /** Drop this endpoint's connection series. */
  remove(): void;
}

/** Per upstream: errors, discovery, endpoint states and ring quality. */
export interface UpstreamMetrics {
  readonly upstream: string;
  /** Epoch milliseconds of the last successful resolution, or null. */
  readonly dnsLastSuccess: number | null;
  readonly dnsLastResult: ResolutionResult | null;
  proxyError(reason: ProxyErrorReason): void;
  /** Counts the attempt; a success also stamps ringside_dns_last_success_timestamp_seconds. */
  dnsResolution(result: ResolutionResult): void;
  endpointsByState(active: number, draining: number, ejected: number): void;
  /** Endpoints ramping up to their weight (slow start) now. */
  endpointsInSlowStart(count: number): void;
  endpointChange(change: EndpointChange, count: number): void;
  /** Ring size and min/max entries per endpoint (Envoy's ring gauges); ring series appear after the first call. */
  ring(entries: number, minEntriesPerEndpoint: number, maxEntriesPerEndpoint: number): void;
  ringRebuilt(): void;
  /** A ring-hash request carried no hash key and went to the fallback policy. */
  hashKeyMissing(): void;
  /** A request was retried on another endpoint. */
  retry(): void;
  /** Request trailers could not be forwarded (the request declared content-length to an HTTP/1.1 upstream) and were dropped. */
  requestTrailersDropped(): void;
  /** An endpoint was ejected by outlier detection. */
  ejection(): void;
  /** The connection gauges of one endpoint; created once per endpoint and cached. */
  connections(endpoint: string): ConnectionMetrics;
}

export interface RingsideMetrics {
  readonly registry: Registry;
  /** The handle for this (listener, upstream, endpoint); the same object until it is removed. */
  endpoint(listener: string, upstream: string, endpoint: string): EndpointMetrics;
  /** The handle for this upstream; the same object on every call. */
  upstream(name: string): UpstreamMetrics;
  /** Tunnels (WebSocket), per upstream and endpoint (./tunnel-metrics.ts). */
  readonly tunnels: TunnelMetrics;
}

export interface MetricsOptions {
  /** Also register the process_* and nodejs_* runtime metrics (./runtime-metrics.ts) on the registry. */
  readonly runtimeMetrics?: boolean;
  /** Clock in milliseconds (DNS timestamps, rate windows). Default Date.now. */
  readonly now?: () => number;
}

export function createMetrics(registry: Registry, options: MetricsOptions = {}): RingsideMetrics {
  // lib/metrics/exposition.ts renders OpenMetrics through a per-scrape view; an
  // OpenMetrics registry would rename our counters in place on every scrape.
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
    throw new TypeError('createMetrics needs a registry with the Prometheus text content type; OpenMetrics is negotiated at scrape time');
  }
  const now = options.now ?? Date.now;
  const endpoints = new Map<string, EndpointHandle>();
  const upstreams = new Map<string, UpstreamHandle>();

  // ---- per endpoint ----
  registerCollectedMetric(registry, {
    name: 'ringside_requests_total',
    help: 'Requests and gRPC streams proxied to an endpoint, by the protocol the client spoke and the HTTP status class or gRPC status name.',
    type: 'counter',
    collect(out) {
      for (const e of endpoints.values()) {
        for (let slot = 0; slot < e.requestCounts.length; slot++) {
          // Only codes that happened: 22 codes x 2 protocols of zeros per endpoint would be noise.
          if (e.requestCounts[slot] > 0) out.push({ labels: e.requestLabels(slot), value: e.requestCounts[slot] });
        }
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_request_duration_seconds',
    help: 'Time from dispatching a request to an endpoint until its response (or stream) ended.',
    type: 'histogram',
    collect(out) {
      for (const e of endpoints.values()) {
        for (let p = 0; p < PROTOCOL_NAMES.length; p++) {
          if (e.durationCount[p] === 0) continue;
          const labels = e.durationLabels(p);
          let cumulative = 0;
          for (let b = 0; b < BUCKET_SLOTS; b++) {
            cumulative += e.bucketCounts[p * BUCKET_SLOTS + b];
            out.push({ metricName: 'ringside_request_duration_seconds_bucket', labels: labels.buckets[b], value: cumulative });
          }
          out.push({ metricName: 'ringside_request_duration_seconds_sum', labels: labels.base, value: e.durationSum[p] });
          out.push({ metricName: 'ringside_request_duration_seconds_count', labels: labels.base, value: e.durationCount[p] });
        }
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_requests_in_flight',
    help: 'Requests and gRPC streams dispatched to an endpoint that have not finished.',
    type: 'gauge',
    collect(out) {
      for (const e of endpoints.values()) out.push({ labels: e.baseLabels, value: e.inFlight });
    },
  });

  // ---- per upstream ----
  registerCollectedMetric(registry, {
    name: 'ringside_proxy_errors_total',
    help: 'Requests that ringside answered with an error of its own, by reason.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) {
        for (let i = 0; i < PROXY_ERROR_REASONS.length; i++) out.push({ labels: u.reasonLabels[i], value: u.proxyErrors[i] });
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_endpoints',
    help: 'Endpoints of an upstream by state.',
    type: 'gauge',
    collect(out) {
      for (const u of upstreams.values()) {
        for (let i = 0; i < ENDPOINT_STATES.length; i++) out.push({ labels: u.stateLabels[i], value: u.endpointStates[i] });
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_endpoints_slow_start',
    help: 'Endpoints of an upstream still ramping up to their weight (slow start); they count as active in ringside_endpoints.',
    type: 'gauge',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.slowStartCount });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_upstream_connections',
    help: 'Open connections from ringside to an endpoint, by the protocol spoken to it.',
    type: 'gauge',
    collect(out) {
      for (const u of upstreams.values()) {
        for (const c of u.connectionsByEndpoint.values()) {
          for (let p = 0; p < PROTOCOL_NAMES.length; p++) {
            if (c.used[p]) out.push({ labels: c.labels[p], value: c.open[p] });
          }
        }
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_dns_resolutions_total',
    help: 'Discovery resolution attempts by result.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) {
        for (let i = 0; i < DNS_RESULTS.length; i++) out.push({ labels: u.dnsLabels[i], value: u.dnsResults[i] });
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_dns_last_success_timestamp_seconds',
    help: 'Unix time of the last successful discovery resolution.',
    type: 'gauge',
    collect(out) {
      for (const u of upstreams.values()) {
        if (u.dnsLastSuccess !== null) out.push({ labels: u.upstreamLabels, value: u.dnsLastSuccess / 1000 });
      }
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_endpoint_changes_total',
    help: 'Endpoints added to or removed from an upstream by discovery.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) {
        for (let i = 0; i < ENDPOINT_CHANGES.length; i++) out.push({ labels: u.changeLabels[i], value: u.endpointChanges[i] });
      }
    },
  });

  // ---- ring quality, after Envoy's ring_hash gauges ----
  // https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#ring-hash
  const ringGauge = (name: string, help: string, read: (u: UpstreamHandle) => number) =>
    registerCollectedMetric(registry, {
      name,
      help,
      type: 'gauge',
      collect(out) {
        for (const u of upstreams.values()) if (u.hasRing) out.push({ labels: u.upstreamLabels, value: read(u) });
      },
    });
  ringGauge('ringside_ring_entries', 'Entries on the hash ring.', (u) => u.ringEntries);
  ringGauge('ringside_ring_min_entries_per_endpoint', 'Fewest ring entries held by one endpoint.', (u) => u.ringMin);
  ringGauge('ringside_ring_max_entries_per_endpoint', 'Most ring entries held by one endpoint.', (u) => u.ringMax);
  registerCollectedMetric(registry, {
    name: 'ringside_ring_rebuilds_total',
    help: 'Times the hash ring was rebuilt after the endpoint set changed.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.ringRebuilds });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_hash_key_missing_total',
    help: 'Ring-hash requests without a hash key, sent by the fallback policy instead.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.hashKeyMissingCount });
    },
  });

  registerCollectedMetric(registry, {
    name: 'ringside_request_trailers_dropped_total',
    help: 'Requests whose trailers were dropped: they declared content-length and went to an HTTP/1.1 upstream, where only a chunked body carries trailers.',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.trailersDroppedCount });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_retries_total',
    help: 'Requests retried on another endpoint because the previous attempt never reached an upstream (or was idempotent and replayable).',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.retryCount });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_ejections_total',
    help: 'Endpoints ejected by passive outlier detection (consecutive failures).',
    type: 'counter',
    collect(out) {
      for (const u of upstreams.values()) out.push({ labels: u.upstreamLabels, value: u.ejectionCount });
    },
  });

  if (options.runtimeMetrics) registerRuntimeMetrics(registry);
  const tunnels = registerTunnelMetrics(registry);

  return {
    registry,
    tunnels,
    endpoint(listener, upstream, endpoint) {
      const key = `${listener}\u0000${upstream}\u0000${endpoint}`;
      let handle = endpoints.get(key);
      if (handle === undefined) {
        handle = new EndpointHandle(listener, upstream, endpoint, now, () => {
          if (endpoints.get(key) === handle) endpoints.delete(key);
        });
        endpoints.set(key, handle);
      }
      return handle;
    },
    upstream(name) {
      let handle = upstreams.get(name);
      if (handle === undefined) {
        handle = new UpstreamHandle(name, now);
        upstreams.set(name, handle);
      }
      return handle;
    },
  };
}

interface DurationLabels {
  readonly base: Readonly<Record<string, string>>;
  readonly buckets: readonly Readonly<Record<string, string>>[];
}

class EndpointHandle implements EndpointMetrics {
  readonly listener: string;
  readonly upstream: string;
  readonly endpoint: string;
  inFlight = 0;
  /** [protocol * CODE_COUNT + codeIndex] */
  readonly requestCounts = new Float64Array(PROTOCOL_NAMES.length * CODE_COUNT);
  /** [protocol * BUCKET_SLOTS + bucket], not cumulative; cumulated at scrape time. */
  readonly bucketCounts = new Float64Array(PROTOCOL_NAMES.length * BUCKET_SLOTS);
  readonly durationSum = new Float64Array(PROTOCOL_NAMES.length);
  readonly durationCount = new Float64Array(PROTOCOL_NAMES.length);
  readonly baseLabels: Readonly<Record<string, string>>;
  readonly #window: RateWindow;
  readonly #onRemove: () => void;
  // Label objects for exported series, built the first time each is exported.
  readonly #requestLabels: (Readonly<Record<string, string>> | undefined)[] = [];
  readonly #durationLabels: (DurationLabels | undefined)[] = [];

  constructor(listener: string, upstream: string, endpoint: string, now: () => number, onRemove: () => void) {
    this.listener = listener;
    this.upstream = upstream;
    this.endpoint = endpoint;
    this.baseLabels = { listener, upstream, endpoint };
    this.#window = createRateWindow({ now });
    this.#onRemove = onRemove;
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(protocol: Protocol, code: number, isGrpc: boolean, durationSeconds: number): void {
    this.inFlight--;
    let codeIndex: number;
    if (isGrpc) {
      // Out-of-range gRPC codes are UNKNOWN, as the gRPC spec tells clients to treat them.
      codeIndex = HTTP_CLASSES.length + (code >= 0 && code < GRPC_STATUS_NAMES.length ? code | 0 : GRPC_UNKNOWN);
    } else {
      const statusClass = (code / 100) | 0;
      codeIndex = statusClass >= 1 && statusClass <= 5 ? statusClass - 1 : 4;
    }
    this.requestCounts[protocol * CODE_COUNT + codeIndex]++;
    // Linear scan: proxy latencies sit in the first handful of buckets.
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && durationSeconds > DURATION_BUCKETS_SECONDS[bucket]) bucket++;
    this.bucketCounts[protocol * BUCKET_SLOTS + bucket]++;
    this.durationSum[protocol] += durationSeconds;
    this.durationCount[protocol]++;
    this.#window.record(CODE_IS_ERROR[codeIndex] === 1);
  }

  requestRate(): number {
    return this.#window.requestRate();
  }

  errorRate(): number {
    return this.#window.errorRate();
  }

  remove(): void {
    this.#onRemove();
  }

  requestLabels(slot: number): Readonly<Record<string, string>> {
    let labels = this.#requestLabels[slot];
    if (labels === undefined) {
      labels = {
        ...this.baseLabels,
        protocol: PROTOCOL_NAMES[(slot / CODE_COUNT) | 0],
        code: CODE_NAMES[slot % CODE_COUNT],
      };
      this.#requestLabels[slot] = labels;
    }
    return labels;
  }

  durationLabels(protocol: number): DurationLabels {
    let labels = this.#durationLabels[protocol];
    if (labels === undefined) {
      const base = { ...this.baseLabels, protocol: PROTOCOL_NAMES[protocol] };
      labels = { base, buckets: BUCKET_LE.map((le) => ({ ...base, le })) };
      this.#durationLabels[protocol] = labels;
    }
    return labels;
  }
}

class ConnectionHandle implements ConnectionMetrics {
  readonly open = new Float64Array(PROTOCOL_NAMES.length);
  /** A protocol's series is exported once a connection of it was seen, then kept (at 0) until remove(). */
  readonly used = new Uint8Array(PROTOCOL_NAMES.length);
  readonly labels: readonly Readonly<Record<string, string>>[];
  readonly #onRemove: () => void;

  constructor(upstream: string, endpoint: string, onRemove: () => void) {
    this.labels = PROTOCOL_NAMES.map((protocol) => ({ upstream, endpoint, protocol }));
    this.#onRemove = onRemove;
  }

  opened(protocol: Protocol): void {
    this.used[protocol] = 1;
    this.open[protocol]++;
  }

  closed(protocol: Protocol): void {
    if (this.open[protocol] > 0) this.open[protocol]--;
  }

  remove(): void {
    this.#onRemove();
  }
}

class UpstreamHandle implements UpstreamMetrics {
  readonly upstream: string;
  dnsLastSuccess: number | null = null;
  dnsLastResult: ResolutionResult | null = null;
  readonly proxyErrors = new Float64Array(PROXY_ERROR_REASONS.length);
  readonly dnsResults = new Float64Array(DNS_RESULTS.length);
  readonly endpointStates = new Float64Array(ENDPOINT_STATES.length);
  readonly endpointChanges = new Float64Array(ENDPOINT_CHANGES.length);
  slowStartCount = 0;
  hasRing = false;
  ringEntries = 0;
  ringMin = 0;
  ringMax = 0;
  ringRebuilds = 0;
  hashKeyMissingCount = 0;
  retryCount = 0;
  trailersDroppedCount = 0;
  ejectionCount = 0;
  readonly connectionsByEndpoint = new Map<string, ConnectionHandle>();
  readonly upstreamLabels: Readonly<Record<string, string>>;
  readonly reasonLabels: readonly Readonly<Record<string, string>>[];
  readonly dnsLabels: readonly Readonly<Record<string, string>>[];
  readonly stateLabels: readonly Readonly<Record<string, string>>[];
  readonly changeLabels: readonly Readonly<Record<string, string>>[];
  readonly #now: () => number;

  constructor(upstream: string, now: () => number) {
    this.upstream = upstream;
    this.#now = now;
    this.upstreamLabels = { upstream };
    this.reasonLabels = PROXY_ERROR_REASONS.map((reason) => ({ upstream, reason }));
    this.dnsLabels = DNS_RESULTS.map((result) => ({ upstream, result }));
    this.stateLabels = ENDPOINT_STATES.map((state) => ({ upstream, state }));
    this.changeLabels = ENDPOINT_CHANGES.map((change) => ({ upstream, change }));
  }

  proxyError(reason: ProxyErrorReason): void {
    // indexOf over 7 interned strings: cheaper than a Map, and error paths are not the hot path.
    const index = PROXY_ERROR_REASONS.indexOf(reason);
    this.proxyErrors[index === -1 ? PROXY_ERROR_REASONS.length - 1 : index]++;
  }

  dnsResolution(result: ResolutionResult): void {
    const index = DNS_RESULTS.indexOf(result);
    this.dnsResults[index === -1 ? DNS_RESULTS.length - 1 : index]++;
    this.dnsLastResult = result;
    if (result === 'success') this.dnsLastSuccess = this.#now();
  }

  endpointsByState(active: number, draining: number, ejected: number): void {
    this.endpointStates[0] = active;
    this.endpointStates[1] = draining;
    this.endpointStates[2] = ejected;
  }

  endpointsInSlowStart(count: number): void {
    this.slowStartCount = count;
  }

  endpointChange(change: EndpointChange, count: number): void {
    this.endpointChanges[change === 'added' ? 0 : 1] += count;
  }

  ring(entries: number, minEntriesPerEndpoint: number, maxEntriesPerEndpoint: number): void {
    this.hasRing = true;
    this.ringEntries = entries;
    this.ringMin = minEntriesPerEndpoint;
    this.ringMax = maxEntriesPerEndpoint;
  }

  ringRebuilt(): void {
    this.ringRebuilds++;
  }

  retry(): void {
    this.retryCount++;
  }

  requestTrailersDropped(): void {
    this.trailersDroppedCount++;
  }

  ejection(): void {
    this.ejectionCount++;
  }

  hashKeyMissing(): void {
    this.hashKeyMissingCount++;
  }

  connections(endpoint: string): ConnectionMetrics {
    let handle = this.connectionsByEndpoint.get(endpoint);
    if (handle === undefined) {
      const created: ConnectionHandle = new ConnectionHandle(this.upstream, endpoint, () => {
        if (this.connectionsByEndpoint.get(endpoint) === created) this.connectionsByEndpoint.delete(endpoint);
      });
      this.connectionsByEndpoint.set(endpoint, created);
      handle = created;
    }
    return handle;
  }
}
