// The typed, validated, frozen configuration ringside runs on. Produced by
// ./load-config.ts from flags, RINGSIDE_* environment variables and an
// optional YAML/JSON file (flags > environment > file > defaults).

import type { EndpointAddress } from '../discovery/discovery.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type UpstreamProtocol = 'auto' | 'http1' | 'h2c';
export type LbPolicy = 'round_robin' | 'random' | 'least_request' | 'ring_hash';
export type FallbackPolicy = 'round_robin' | 'random' | 'least_request';
export type RingMode = 'stable' | 'envoy';
export type DnsFamily = 'any' | 'ipv4' | 'ipv6';
/**
 * Which code frames HTTP on raw sockets: `lean` serves HTTP/1.1 clients with
 * the lean engine (lib/http1/) and speaks to h2c upstreams with the lean HTTP/2
 * client (lib/http2/); `compat` uses node:http + undici, and node:http2's client
 * for h2c upstreams (lib/upstream/node-h2c-client.ts): the reference both are tested against.
 */
export type Engine = 'lean' | 'compat';

export type UpstreamTarget =
  | { readonly kind: 'static'; readonly endpoints: readonly EndpointAddress[] }
  /** A/AAAA records of `name`, each address with `port`. */
  | { readonly kind: 'dns'; readonly name: string; readonly port: number }
  /** SRV records of `name` (e.g. `_grpc._tcp.recs.default.svc.cluster.local`). */
  | { readonly kind: 'srv'; readonly name: string };

/** One source of a request's hash key, in the order configured (Envoy's hash_policy list). */
export type HashSource =
  | { readonly type: 'header'; readonly name: string; readonly terminal: boolean }
  | { readonly type: 'query'; readonly name: string; readonly terminal: boolean }
  | { readonly type: 'cookie'; readonly name: string; readonly terminal: boolean }
  | { readonly type: 'source_ip'; readonly terminal: boolean };

export interface DnsConfig {
  readonly refreshMs: number;
  readonly respectTtl: boolean;
  readonly family: DnsFamily;
  /** Ask this server instead of the system resolver; null = system configuration. */
  readonly server: HostPort | null;
}

export interface UpstreamConfig {
  readonly name: string;
  readonly target: UpstreamTarget;
  readonly protocol: UpstreamProtocol;
  readonly lb: LbPolicy;
  /** Empty unless lb is ring_hash. */
  readonly hashOn: readonly HashSource[];
  readonly hashFallback: FallbackPolicy;
  readonly ringMode: RingMode;
  readonly ringEntriesPerEndpoint: number;
  readonly minRingSize: number;
  readonly maxRingSize: number;
  /** Bounded-load factor (> 1), or null when off. */
  readonly hashBalanceFactor: number | null;
  readonly connectTimeoutMs: number;
  /** Until the response head arrives; 0 = no per-request timeout. */
  readonly requestTimeoutMs: number;
  /** Idle upstream connections are closed after this long. */
  readonly idleTimeoutMs: number;
  /** h2c upstream connections with open streams are PINGed after this long without a frame from the upstream; 0 = never. */
  readonly h2KeepaliveIntervalMs: number;
  /** How long an h2c upstream may take to acknowledge a PING or our SETTINGS before its connection is closed. */
  readonly h2PingTimeoutMs: number;
  /** Retries on other endpoints for requests that never reached an upstream. */
  readonly retries: number;
  /** Request body bytes kept to replay an idempotent request on a retry. */
  readonly retryBufferBytes: number;
  readonly ejection: EjectionConfig;
  readonly dns: DnsConfig;
  /** Absent in configs built in code: off. The loader always sets it. */
  readonly slowStart?: SlowStartConfig;
  /** The upstream's rate limit (lib/rate-limit/); absent or null: none. */
  readonly rateLimit?: RateLimitConfig | null;
  /** Sticky sessions by a cookie ringside issues (lib/forwarding/session-cookie.ts); absent or null: off. */
  readonly sessionCookie?: SessionCookieConfig | null;
}

/** RFC 6265bis SameSite values, as they are written in the attribute. */
export type SameSite = 'Strict' | 'Lax' | 'None';

/** The session cookie an upstream issues, and its attributes (RFC 6265 section 4.1). */
export interface SessionCookieConfig {
  readonly name: string;
  /** Max-Age in seconds; 0: no Max-Age (the client keeps it until it drops it). */
  readonly maxAgeSeconds: number;
  readonly path: string;
  readonly httpOnly: boolean;
  /** Null: no SameSite attribute. */
  readonly sameSite: SameSite | null;
  readonly secure: boolean;
}

/** A rate as configured (`100/s`, `6000/m`) and in requests per second. */
export interface Rate {
  readonly perSecond: number;
  readonly text: string;
}

/** Where a per-key limit reads its key: the hash policy's sources, without source_ip. */
export type RateLimitKey = { readonly type: 'header' | 'query' | 'cookie'; readonly name: string };

/** A token bucket per upstream, or per key of it (lib/rate-limit/). */
export interface RateLimitConfig {
  readonly rate: Rate;
  /** Tokens the bucket holds at most: the requests allowed at once after a quiet spell. */
  readonly burst: number;
  /** Null: one bucket for the upstream. Else one per key value; requests without the key share one. */
  readonly key: RateLimitKey | null;
  /** The most key buckets kept (least recently used go first). */
  readonly maxKeys: number;
}

/** The Redis every sidecar shares for global limits (lib/rate-limit/redis-budget.ts). */
export interface RateLimitRedisConfig {
  readonly address: HostPort;
  readonly tls: boolean;
  /** ACL user name, or null for the default user. */
  readonly user: string | null;
  /** From --rate-limit-redis-password-file or RINGSIDE_RATE_LIMIT_REDIS_PASSWORD; null: none. */
  readonly password: string | null;
  /** What a request meets when Redis cannot be reached: `open` lets it through, `closed` refuses it. */
  readonly fail: 'open' | 'closed';
}

/**
 * Slow start (Envoy's slow_start_config, HAProxy's slowstart): an endpoint
 * that joins after the first answer, or returns from ejection, starts at
 * minWeightPercent of its weight and ramps up over windowMs.
 */
export interface SlowStartConfig {
  /** 0 = off. */
  readonly windowMs: number;
  /** The share of its weight a new endpoint starts with, 1..100. */
  readonly minWeightPercent: number;
  /** The ramp's shape: weight x (elapsed / window)^(1 / aggression); 1 is linear, larger rises faster at first (Envoy). */
  readonly aggression: number;
}

/** Passive outlier detection (Envoy's consecutive_5xx with base_ejection_time). */
export interface EjectionConfig {
  /** 0 = ejection off. */
  readonly consecutiveFailures: number;
  readonly baseTimeMs: number;
  readonly maxTimeMs: number;
  readonly maxPercent: number;
}

export interface ListenerConfig {
  readonly name: string;
  readonly listen: HostPort;
  /** Name of an entry in RingsideConfig.upstreams. */
  readonly upstream: string;
}

export interface RingsideConfig {
  readonly logLevel: LogLevel;
  /** How long in-flight requests may take to finish after SIGTERM/SIGINT. */
  readonly drainTimeoutMs: number;
  /** --max-tunnels: open tunnels (WebSocket) and handshakes at once. The loader always sets it; absent: the default. */
  readonly maxTunnels?: number;
  /** --tunnel-idle-timeout in ms (0 = off). The loader always sets it; absent: the default. */
  readonly tunnelIdleTimeoutMs?: number;
  /** --h2-idle-timeout in ms (0 = off): an HTTP/2 client connection without streams is closed. The loader always sets it; absent: the default. */
  readonly h2IdleTimeoutMs?: number;
  /**
   * The engine of every listener: the server side for HTTP/1.1 and HTTP/2
   * clients (lean: ours; compat: node:http and node:http2) and the h2c upstream client.
   * The loader always sets it; configs built in code may leave it out for the default.
   */
  readonly engine?: Engine;
  readonly admin: HostPort;
  readonly listeners: readonly ListenerConfig[];
  readonly upstreams: readonly UpstreamConfig[];
  /** Share the rate limits of every upstream through this Redis; absent or null: local limits only. */
  readonly rateLimitRedis?: RateLimitRedisConfig | null;
  /** From --session-cookie-secret-file: session cookies carry a MAC keyed by it; absent or null: unsigned. */
  readonly sessionCookieSecret?: string | null;
}
