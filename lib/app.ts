// The composition root: the one place that wires ringside together. Read it
// as a description of the sidecar:
//   for every upstream:  discovery -> endpoints -> balancer (ring hash, least request, ...)
//   for every listener:  port -> HTTP/1.1 or h2c -> hash policy -> upstream -> endpoint client
//   around them:         metrics, and the admin server (/metrics, /healthz, /readyz, /status)

import { Registry } from './metrics/registry.ts';
import { createAdminApp } from './admin/admin-app.ts';
import { startAdminServer, type AdminServer } from './admin/admin-server.ts';
import type { RateLimitStatusView, Readiness, SessionCookieStatusView, StatusSnapshot } from './admin/status.ts';
import { createBalancer } from './balancer/create-balancer.ts';
import type { RingsideConfig } from './config/config.ts';
import { createDiscovery } from './discovery/create-discovery.ts';
import { createHashPolicy } from './hash/hash-policy.ts';
import { createHash64 } from './hash/hash64.ts';
import { initXxhash64 } from './hash/xxhash64.ts';
import { leanSocketIo } from './io/stream-handle.ts';
import { Listener } from './listener/listener.ts';
import { createMetricsObserver } from './forwarding/metrics-observer.ts';
import { SessionCookie } from './forwarding/session-cookie.ts';
import { TunnelRegistry } from './forwarding/tunnel-registry.ts';
import { DEFAULTS } from './config/options.ts';
import type { Logger } from './log/logger.ts';
import { createMetrics, type RingsideMetrics } from './metrics/metrics.ts';
import { registerRateLimitRedisMetrics } from './metrics/rate-limit-metrics.ts';
import { registerSessionCookieMetrics } from './metrics/session-cookie-metrics.ts';
import { registerH2DefenceMetrics } from './metrics/h2-defence-metrics.ts';
import { DEFENCE_FRAME_NAMES, DEFENCE_NAMES } from './http2/defences.ts';
import { createLocalBuckets } from './rate-limit/local-buckets.ts';
import { RateLimiter } from './rate-limit/rate-limiter.ts';
import { RedisBudget } from './rate-limit/redis-budget.ts';
import type { Endpoint } from './upstream/endpoint.ts';
import { endpointClientsFor } from './upstream/endpoint-clients.ts';
import { createUpstreamMetricsObserver } from './upstream/upstream-metrics.ts';
import { Upstream } from './upstream/upstream.ts';

export interface AppOptions {
  readonly logger: Logger;
  readonly version: string;
  /** Serve the admin port (default true; tests of the data plane alone may turn it off). */
  readonly admin?: boolean;
  /** Register the process and Node.js runtime metrics, lib/metrics/runtime-metrics.ts (default true). */
  readonly runtimeMetrics?: boolean;
}

export interface RunningApp {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly listeners: readonly Listener[];
  readonly metrics: RingsideMetrics;
  /** The admin server's bound port, or 0 when it is off. */
  readonly adminPort: number;
  /** The lean engine's socket I/O path (lib/io/stream-handle.ts). */
  readonly socketIo: 'direct' | 'plain';
  readiness(): Readiness;
  status(): StatusSnapshot;
  /** Begin shutdown: /readyz turns 503, listeners stop accepting, in-flight requests get up to `graceMs`, then everything closes. */
  stop(graceMs?: number): Promise<void>;
}

export async function startApp(config: RingsideConfig, options: AppOptions): Promise<RunningApp> {
  const { logger, version } = options;
  const startedAt = Date.now();
  await initXxhash64();
  const registry = new Registry();
  const metrics = createMetrics(registry, { runtimeMetrics: options.runtimeMetrics ?? true });

  // Upstreams: discovery feeds endpoints to a balancer.
  const listenersOf = (upstream: string): string[] => config.listeners.filter((l) => l.upstream === upstream).map((l) => l.name);
  const upstreams = new Map<string, Upstream>();
  for (const uc of config.upstreams) {
    upstreams.set(
      uc.name,
      new Upstream({
        config: uc,
        balancer: createBalancer<Endpoint>(uc),
        discovery: createDiscovery(uc, logger),
        logger,
        observer: createUpstreamMetricsObserver(metrics, uc.name, listenersOf(uc.name)),
        // A removed endpoint's tunnels (WebSockets) run on for the drain timeout, then close.
        tunnelDrainMs: config.drainTimeoutMs,
        // --engine picks the upstream clients once, for every endpoint: ours, or the reference ones.
        clients: endpointClientsFor(config.engine),
      }),
    );
  }

  // Rate limits: a token bucket per upstream (or per key), local or leased from a shared Redis.
  const redis = config.rateLimitRedis == null ? null : await RedisBudget.connect(config.rateLimitRedis, logger, registerRateLimitRedisMetrics(registry));
  const limiters = new Map<string, RateLimiter>();
  for (const u of upstreams.values()) {
    const rl = u.config.rateLimit;
    if (rl == null) continue;
    limiters.set(u.name, new RateLimiter(u.name, rl, redis === null ? createLocalBuckets(rl) : redis.buckets(u.discovery.description, rl), performance.now()));
  }

  // Tunnels (WebSocket) of every listener: one cap and one idle sweep for the process.
  const tunnels = new TunnelRegistry({ maxTunnels: config.maxTunnels ?? DEFAULTS.maxTunnels, idleTimeoutMs: config.tunnelIdleTimeoutMs ?? DEFAULTS.tunnelIdleTimeoutMs });

  // Sticky sessions: the cookie an upstream issues, one object shared by its listeners.
  const sessionCookies = new Map<string, SessionCookie>();
  for (const u of upstreams.values()) {
    if (u.config.sessionCookie != null) sessionCookies.set(u.name, new SessionCookie(u.name, u.config.sessionCookie, config.sessionCookieSecret ?? null));
  }
  registerSessionCookieMetrics(registry, [...sessionCookies].map(([upstream, counts]) => ({ upstream, counts })));

  // Our HTTP/2 server's defensive GOAWAY and RST_STREAM frames, per listener.
  const h2Defences = registerH2DefenceMetrics(registry, DEFENCE_FRAME_NAMES, DEFENCE_NAMES);

  // Listeners: each port forwards to one upstream.
  const listeners = config.listeners.map((lc) => {
    const upstream = upstreams.get(lc.upstream)!;
    return new Listener({
      listen: lc.listen,
      engine: config.engine,
      h2Defences: h2Defences.listener(lc.name),
      h2IdleTimeoutMs: config.h2IdleTimeoutMs ?? DEFAULTS.h2IdleTimeoutMs,
      route: {
        listenerName: lc.name,
        slot: listenersOf(lc.upstream).indexOf(lc.name),
        upstream,
        hashPolicy: createHashPolicy(upstream.config.hashOn),
        rateLimiter: limiters.get(upstream.name) ?? null,
        sessionCookie: sessionCookies.get(upstream.name) ?? null,
        tunnels,
        protocol: upstream.config.protocol,
        requestTimeoutMs: upstream.config.requestTimeoutMs,
        logger,
        observer: createMetricsObserver(metrics.upstream(upstream.name)),
        hash: createHash64(),
      },
    });
  });

  let shuttingDown = false;
  let bound = false;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (shuttingDown) reasons.push('shutting down');
    if (!bound) reasons.push('listeners are not bound yet');
    for (const u of upstreams.values()) {
      if (!u.resolved) reasons.push(`upstream "${u.name}" (${u.discovery.description}) has not been resolved yet`);
      else if (u.endpoints.size === 0) reasons.push(`upstream "${u.name}" (${u.discovery.description}) has no endpoints${u.emptyReason ? `: ${u.emptyReason}` : ''}`);
    }
    return { ready: reasons.length === 0, reasons };
  };
  const status = (): StatusSnapshot => ({
    version,
    startedAt,
    ready: readiness(),
    upstreams: [...upstreams.values()].map((u) => {
      const ring = u.balancer.stats?.() ?? null;
      const shares = new Map(ring?.endpoints.map((e) => [e.key, e.share]) ?? []);
      const um = metrics.upstream(u.name);
      return {
        name: u.name,
        target: u.discovery.description,
        lb: u.config.lb,
        listeners: listenersOf(u.name),
        endpoints: [...u.endpoints.values(), ...u.draining].map((e) => ({
          key: e.key,
          state: e.state,
          protocol: e.protocolName,
          weight: e.weight,
          slowStart: u.slowStart.startedAt(e) >= 0 ? e.effectiveWeight / e.weight : null,
          // Requests apart from tunnels: Endpoint.inFlight carries both (the load balancers read).
          inFlight: e.inFlight - e.tunnels.size,
          tunnels: e.tunnels.size,
          requestRate: e.metrics.reduce((sum, m) => sum + m.requestRate(), 0),
          errorRate: e.metrics.length === 0 ? 0 : Math.max(...e.metrics.map((m) => m.errorRate())),
          ringShare: shares.get(e.key) ?? null,
        })),
        ring: ring && ring.entries > 0 ? { entries: ring.entries, min: ring.minEntriesPerEndpoint, max: ring.maxEntriesPerEndpoint } : null,
        slowStartMs: u.slowStart.config.windowMs,
        rateLimit: rateLimitStatus(limiters.get(u.name), redis),
        sessionCookie: sessionCookieStatus(sessionCookies.get(u.name)),
        dns: { lastSuccess: um.dnsLastSuccess, lastResult: um.dnsLastResult },
      };
    }),
  });

  let admin: AdminServer | null = null;
  try {
    for (const listener of listeners) {
      await listener.listen();
      logger.info('listening', { listener: listener.route.listenerName, address: `${listener.options.listen.host}:${listener.port}`, upstream: listener.route.upstream.name });
    }
    // The admin port comes last, so a passing /healthz (a startup probe) means the data plane is bound.
    if (options.admin ?? true) {
      admin = await startAdminServer(createAdminApp({ registry, getStatus: status, getReadiness: readiness }), config.admin);
      logger.info('admin listening', { address: `${config.admin.host}:${admin.port}` });
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await admin?.close();
    redis?.close();
    throw err;
  }
  bound = true;
  // Discovery starts once the ports are bound: until the first answer the
  // listener answers 503 / UNAVAILABLE and /readyz says why.
  for (const upstream of upstreams.values()) upstream.start();

  let stopping: Promise<void> | null = null;
  return {
    upstreams,
    listeners,
    metrics,
    adminPort: admin?.port ?? 0,
    socketIo: leanSocketIo,
    readiness,
    status,
    stop(graceMs = 0) {
      shuttingDown = true;
      stopping ??= (async () => {
        await Promise.all(listeners.map((l) => l.close(graceMs)));
        // Whatever outlived the drain is cut now; idle connections close cleanly.
        await Promise.all([...upstreams.values()].map((u) => u.close(u.inFlight() > 0)));
        await admin?.close();
        redis?.close();
      })();
      return stopping;
    },
  };
}

/** What /status shows of an upstream's session cookie: its name, signed or not, its Max-Age and its counts. */
function sessionCookieStatus(sc: SessionCookie | undefined): SessionCookieStatusView | null {
  if (sc === undefined) return null;
  return { name: sc.name, signed: sc.signed, maxAgeSeconds: sc.config.maxAgeSeconds, started: sc.started, reissued: sc.reissued, rejected: sc.rejected };
}

/** What /status shows of an upstream's rate limit: rate, burst, key, and local or Redis with its state. */
function rateLimitStatus(limiter: RateLimiter | undefined, redis: RedisBudget | null): RateLimitStatusView | null {
  if (limiter === undefined) return null;
  const s = limiter.status();
  if (redis === null) return { ...s, redis: null };
  const { host, port } = redis.config.address;
  return { ...s, redis: { address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, state: redis.state, fail: redis.config.fail, lastError: redis.lastError } };
}
