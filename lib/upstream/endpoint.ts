// One upstream endpoint (a pod: HOST:PORT) with its live state and its
// clients: the engine's set (./endpoint-clients.ts, chosen once for the
// process and handed in), each created on first use.

import type { BalancerEndpoint } from '../balancer/balancer.ts';
import type { EndpointAddress } from '../discovery/discovery.ts';
import type { ConnectionMetrics, EndpointMetrics } from '../metrics/metrics.ts';
import type { TunnelEndpointMetrics } from '../metrics/tunnel-metrics.ts';
import { UpgradeRequest } from '../http1/upgrade-request.ts';
import type { UpgradeAttempt, UpgradeHandler } from '../forwarding/upgrade-handler.ts';
import { createLeanClients, type EndpointClients, type EndpointClientsFactory } from './endpoint-clients.ts';

export type { UpstreamDispatcher } from './endpoint-clients.ts';

export type EndpointState = 'active' | 'draining' | 'ejected';

/** An open tunnel on an endpoint (../forwarding/tunnel.ts), as the endpoint can end it. */
export interface OpenTunnel {
  /** Close both sides now (the endpoint left the set and --drain-timeout passed). */
  close(): void;
}

/**
 * What `--upstream-protocol auto` learned an endpoint speaks (Endpoint.protocol):
 * UNKNOWN until it answered one protocol in the other. HTTP1: it answered our
 * HTTP/2 connection preface with an HTTP/1.x status line. H2C: it answered an
 * HTTP/1.1 request with HTTP/2 frames (SETTINGS or GOAWAY).
 */
export const LearnedProtocol = { UNKNOWN: 0, HTTP1: 1, H2C: 2 } as const;
export type LearnedProtocol = (typeof LearnedProtocol)[keyof typeof LearnedProtocol];
const LEARNED_NAMES = ['unknown', 'http1', 'h2c'] as const;

/**
 * How long a learned protocol is trusted before the next request tries the
 * client's protocol again on a new connection. A replica's protocol changes
 * only with a redeploy, which usually brings new addresses (a new endpoint,
 * learned afresh); 5 minutes lets an in-place upgrade (same pod IP, a new
 * image that now speaks h2c) be noticed soon, at the cost of one re-sent
 * request per endpoint per 5 minutes.
 */
export const PROTOCOL_RECHECK_MS = 5 * 60_000;

export interface EndpointOptions {
  readonly connectTimeoutMs: number;
  /** Idle upstream connections close after this long. */
  readonly idleTimeoutMs: number;
  /** Keepalive PINGs of the lean h2c client (see H2ClientOptions); absent: off, and the default ack timeout. */
  readonly h2KeepaliveIntervalMs?: number;
  readonly h2PingTimeoutMs?: number;
  /** Gauges of open connections to this endpoint, when metrics are on. */
  readonly connections?: ConnectionMetrics;
  /** The clients of the process's engine (./endpoint-clients.ts, chosen once in lib/app.ts); absent: ours. */
  readonly clients?: EndpointClientsFactory;
}

export class Endpoint implements BalancerEndpoint {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  weight: number;
  /** The weight picks use now: `weight`, scaled down during slow start (./slow-start.ts). */
  effectiveWeight: number;
  /**
   * The load least request and bounded load read: requests in flight plus
   * open tunnels (a WebSocket is work on its replica for as long as it is open).
   */
  inFlight = 0;
  /** Open tunnels (each also counted in inFlight); /status and metrics show them apart from requests. */
  readonly tunnels = new Set<OpenTunnel>();
  /** Tunnel counters of this endpoint, when metrics are on (set by ./upstream-metrics.ts). */
  tunnelMetrics: TunnelEndpointMetrics | null = null;
  /** Closes the tunnels of a removed endpoint once --drain-timeout has passed (./upstream.ts). */
  tunnelDrainTimer: NodeJS.Timeout | null = null;
  /**
   * The removed endpoint's --drain-timeout passed and its tunnels were closed:
   * a handshake that was still on its way then gets no tunnel that outlives it.
   */
  tunnelsDue = false;
  /** Mirrors `state === 'active'`; a plain field so balancers read it without a getter call. */
  available = true;
  state: EndpointState = 'active';
  /**
   * Metric handles, one per listener that routes to this endpoint's upstream,
   * indexed by Route.slot: the request path reaches them without a lookup.
   */
  metrics: EndpointMetrics[] = [];
  /** Consecutive failed requests (connect errors, resets, timeouts, 5xx, gRPC UNAVAILABLE). */
  consecutiveFailures = 0;
  /** How many times outlier detection ejected this endpoint. */
  ejections = 0;
  ejectionTimer: NodeJS.Timeout | null = null;
  /** Eject after this many consecutive failures; 0 = never. */
  ejectAfter = 0;
  /** Called when consecutiveFailures reaches ejectAfter. */
  onFailureStreak: ((endpoint: Endpoint) => void) | null = null;
  /** Called once when a draining endpoint's last in-flight request finishes. */
  onDrained: ((endpoint: Endpoint) => void) | null = null;
  /** What `auto` learned this endpoint speaks (kept while it stays in the set; see PROTOCOL_RECHECK_MS). */
  protocol: LearnedProtocol = LearnedProtocol.UNKNOWN;
  /** performance.now() after which `protocol` is checked again (0 while UNKNOWN). */
  protocolRecheckAt = 0;
  /** performance.now() before which no new protocol probe is made (./protocol-probe.ts). */
  probeAfter = 0;
  /** The protocol probe in flight: requests failing meanwhile wait for its answer instead of probing again. */
  probe: Promise<LearnedProtocol> | null = null;
  /** The question `probe` asked: the HTTP/2 preface (true) or an HTTP/1.1 request. */
  probeAsH2 = false;

  /** The clients this endpoint is reached through (the engine's, chosen once; each created on first use). */
  readonly clients: EndpointClients;
  readonly #options: EndpointOptions;

  constructor(address: EndpointAddress, options: EndpointOptions) {
    this.key = address.key;
    this.host = address.host;
    this.port = address.port;
    this.weight = address.weight;
    this.effectiveWeight = address.weight;
    this.#options = options;
    const target = { key: address.key, host: address.host, port: address.port, ...options };
    this.clients = (options.clients ?? createLeanClients)(target);
  }

  /**
   * Send an HTTP/1.1 protocol-switch handshake (WebSocket) on a connection of
   * its own, whatever --upstream-protocol says: Upgrade does not exist in
   * HTTP/2 (RFC 9113 section 8.6). See ../http1/upgrade-request.ts.
   */
  upgrade(head: string, handler: UpgradeHandler): UpgradeAttempt {
    return new UpgradeRequest(this.host, this.port, this.#options.connectTimeoutMs, head, handler);
  }

  /** A handshake on this endpoint (counted by requestStarted) became a tunnel: it stays load until tunnelClosed. */
  tunnelOpened(tunnel: OpenTunnel): void {
    this.tunnels.add(tunnel);
    this.inFlight++;
  }

  tunnelClosed(tunnel: OpenTunnel): void {
    if (!this.tunnels.delete(tunnel)) return;
    if (--this.inFlight === 0 && this.state === 'draining') this.onDrained?.(this);
  }

  /** Close every open tunnel (the endpoint was removed and --drain-timeout passed). */
  closeTunnels(): void {
    this.tunnelsDue = true;
    for (const tunnel of [...this.tunnels]) tunnel.close();
  }

  /**
   * The learned protocol, for `auto`: UNKNOWN once the mark is older than
   * PROTOCOL_RECHECK_MS (the next request then tries the client's protocol on
   * a new connection, and learns again if it still fails the same way).
   * `mayRecheck`: the caller's request may be that one. A request with a body
   * may not: if the endpoint still speaks only the learned protocol, a body
   * that was not kept (--retries 0, over --retry-buffer) cannot be sent again
   * and the request would fail for nothing; it keeps the mark instead.
   */
  learnedProtocol(mayRecheck: boolean): LearnedProtocol {
    const p = this.protocol;
    if (p !== LearnedProtocol.UNKNOWN && mayRecheck && performance.now() >= this.protocolRecheckAt) {
      this.protocol = LearnedProtocol.UNKNOWN;
      this.protocolRecheckAt = 0;
      return LearnedProtocol.UNKNOWN;
    }
    return p;
  }

  /** Record what the endpoint answered in; true when this changed what was known (log it once). */
  learnProtocol(protocol: LearnedProtocol): boolean {
    const changed = this.protocol !== protocol;
    this.protocol = protocol;
    this.protocolRecheckAt = performance.now() + PROTOCOL_RECHECK_MS;
    return changed;
  }

  /** `protocol` as shown on /status: 'unknown', 'http1' or 'h2c'. */
  get protocolName(): (typeof LEARNED_NAMES)[number] {
    return LEARNED_NAMES[this.protocol];
  }

  /** A request started with requestStarted() that is sent again on this endpoint in the other protocol: not a finish, not a failure. */
  requestResent(): void {
    if (--this.inFlight === 0 && this.state === 'draining') this.onDrained?.(this);
  }

  setState(state: EndpointState): void {
    this.state = state;
    this.available = state === 'active';
    if (state === 'draining' && this.inFlight === 0) this.onDrained?.(this);
  }

  requestStarted(): void {
    this.inFlight++;
  }

  requestFinished(failed: boolean): void {
    if (failed) {
      if (++this.consecutiveFailures === this.ejectAfter) this.onFailureStreak?.(this);
    } else {
      this.consecutiveFailures = 0;
    }
    if (--this.inFlight === 0 && this.state === 'draining') this.onDrained?.(this);
  }

  /** Number of open upstream connections per protocol (for metrics and status). */
  connections(): { http1: number; h2c: number } {
    return this.clients.connections();
  }

  /** Close the clients: graceful (waits for in-flight requests) unless `force`. */
  async close(force = false): Promise<void> {
    if (this.ejectionTimer !== null) clearTimeout(this.ejectionTimer);
    this.ejectionTimer = null;
    if (this.tunnelDrainTimer !== null) clearTimeout(this.tunnelDrainTimer);
    this.tunnelDrainTimer = null;
    await this.clients.close(force);
  }
}
