// The read-only view of a running sidecar that the admin server shows on
// /status and /status.json. The composition root (lib/app.ts) builds it from
// the upstreams, balancers and metric handles; the admin never reaches into
// the data plane itself.

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, one human-readable sentence each; empty when ready. */
  readonly reasons: readonly string[];
}

export type EndpointState = 'active' | 'draining' | 'ejected';

/** What `--upstream-protocol auto` learned the endpoint speaks: `unknown` until it answered one protocol in the other. */
export type EndpointProtocol = 'unknown' | 'http1' | 'h2c';

export interface EndpointStatus {
  /** `HOST:PORT` (IPv6 as `[ADDR]:PORT`), as in EndpointAddress.key. */
  readonly key: string;
  readonly state: EndpointState;
  /** Learned by `auto` (lib/upstream/endpoint.ts LearnedProtocol); always `unknown` with an explicit --upstream-protocol. */
  readonly protocol: EndpointProtocol;
  /** Its weight (SRV weight; 1 otherwise). */
  readonly weight: number;
  /** While it ramps up (slow start): the fraction 0..1 of its weight picks use now; null at full weight. */
  readonly slowStart: number | null;
  /** Requests / gRPC streams dispatched to it and not finished. */
  readonly inFlight: number;
  /** Open tunnels (WebSocket) to it, apart from requests; they count as load for least request and bounded load (absent from views built before they existed). */
  readonly tunnels?: number;
  /** Requests per second over the last minute (EndpointMetrics.requestRate()). */
  readonly requestRate: number;
  /** Fraction 0..1 of the last minute's requests that failed (EndpointMetrics.errorRate()). */
  readonly errorRate: number;
  /** Fraction 0..1 of the hash ring it owns; null when the upstream does not use ring hashing or it is off the ring. */
  readonly ringShare: number | null;
}

export interface RingStatus {
  readonly entries: number;
  readonly min: number;
  readonly max: number;
}

export interface DnsStatus {
  /** Epoch milliseconds of the last successful resolution, or null. */
  readonly lastSuccess: number | null;
  /** The last ResolutionResult ('success', 'nxdomain', ...), or null before the first attempt. */
  readonly lastResult: string | null;
}

export interface UpstreamStatus {
  readonly name: string;
  /** Discovery description, e.g. `dns:recs.default.svc.cluster.local:8080`. */
  readonly target: string;
  /** The load-balancing policy, e.g. `ring_hash`. */
  readonly lb: string;
  /** Names of the listeners that send to this upstream. */
  readonly listeners: readonly string[];
  readonly endpoints: readonly EndpointStatus[];
  /** Null unless lb is ring_hash and a ring has been built. */
  readonly ring: RingStatus | null;
  /** The slow-start window in ms, 0 when slow start is off. */
  readonly slowStartMs: number;
  readonly dns: DnsStatus;
  /** The upstream's rate limit, or null when it has none (absent from views built before it existed). */
  readonly rateLimit?: RateLimitStatusView | null;
  /** The session cookie it issues (--session-cookie), or null when it issues none. */
  readonly sessionCookie?: SessionCookieStatusView | null;
}

/** An upstream's sticky-session cookie (lib/forwarding/session-cookie.ts) and what it counted. */
export interface SessionCookieStatusView {
  readonly name: string;
  /** Tokens carry a MAC (--session-cookie-secret-file). */
  readonly signed: boolean;
  /** Max-Age in seconds; 0: none. */
  readonly maxAgeSeconds: number;
  readonly started: number;
  readonly reissued: number;
  readonly rejected: number;
}

/** An upstream's rate limit (lib/rate-limit/): one bucket, or one per key; held here or leased from a shared Redis. */
export interface RateLimitStatusView {
  /** As configured: `100/s`, `6000/m`. */
  readonly rate: string;
  readonly burst: number;
  /** `header:x-api-key`, or null for one bucket per upstream. */
  readonly key: string | null;
  /** Key buckets held now, and at most. */
  readonly keys: number;
  readonly maxKeys: number;
  readonly scope: 'local' | 'redis';
  /** With scope redis: the server, `connecting` / `up` / `down`, the fail mode, and the last error. */
  readonly redis: { readonly address: string; readonly state: string; readonly fail: string; readonly lastError: string | null } | null;
}

export interface StatusSnapshot {
  readonly version: string;
  /** Epoch milliseconds when the process started. */
  readonly startedAt: number;
  readonly ready: Readiness;
  readonly upstreams: readonly UpstreamStatus[];
}
