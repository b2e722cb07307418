// One upstream endpoint (a pod: HOST:PORT) with its live state and its lazily
// created clients: a keep-alive undici Pool for HTTP/1.1, the lean engine's
// pool (../http1/), and for cleartext HTTP/2 either the lean client (../http2/,
// --engine lean) or node:http2's client session (./node-h2c-client.ts, --engine compat, the reference).

import { createRequire } from 'node:module';
import type { Dispatcher, Pool } from 'undici';
import type { BalancerEndpoint } from '../balancer/balancer.ts';
import type { EndpointAddress } from '../discovery/discovery.ts';
import type { ConnectionMetrics, EndpointMetrics } from '../metrics/metrics.ts';
import type { TunnelEndpointMetrics } from '../metrics/tunnel-metrics.ts';
import { Protocol } from '../metrics/metrics.ts';
import { UpstreamPool } from '../http1/upstream-pool.ts';
import { H2Client } from '../http2/h2-client.ts';
import { Http1Dispatcher } from '../http1/http1-dispatcher.ts';
import { UpgradeRequest } from '../http1/upgrade-request.ts';
import type { UpgradeAttempt, UpgradeHandler } from '../forwarding/upgrade-handler.ts';
import { NodeHttp1Client } from './node-http1-client.ts';
import { NodeH2cClient } from './node-h2c-client.ts';

// undici is loaded on first use: --engine compat needs it (its Pool for
// HTTP/1.1 upstreams; the lean engine has its own, ../http1/http1-dispatcher.ts).
// Importing it at start-up costs 3-6 MiB of RSS in a process that, serving
// HTTP/1.1 clients on the default engine, never calls it (deploy/README.md, "Sizing"). A CommonJS
// require, because undici is a CommonJS package and it is loaded synchronously
// from inside a request's dispatch.
let undiciModule: typeof import('undici') | null = null;
function undici(): typeof import('undici') {
  return (undiciModule ??= createRequire(import.meta.url)('undici') as typeof import('undici'));
}

/** What the listener's Exchange needs of an upstream client: undici's dispatch contract. */
export type UpstreamDispatcher = Pick<Dispatcher, 'dispatch'>;

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

  readonly #origin: string;
  readonly #options: EndpointOptions;
  #http1: Pool | null = null;
  #h2c: NodeH2cClient | null = null;
  #lean: UpstreamPool | null = null;
  #leanH2: H2Client | null = null;
  #leanHttp1: Http1Dispatcher | null = null;
  #nodeHttp1: NodeHttp1Client | null = null;

  constructor(address: EndpointAddress, options: EndpointOptions) {
    this.key = address.key;
    this.host = address.host;
    this.port = address.port;
    this.weight = address.weight;
    this.effectiveWeight = address.weight;
    this.#options = options;
    this.#origin = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  }

  /** Keep-alive HTTP/1.1 connection pool to this endpoint, created on first use. */
  http1(): Dispatcher {
    if (this.#http1 !== null) return this.#http1;
    this.#http1 = new (undici().Pool)(this.#origin, {
      connectTimeout: this.#options.connectTimeoutMs,
      // The proxy applies its own request timeout; streams (gRPC, downloads)
      // may legitimately be idle or long, so undici's own timers are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: this.#options.idleTimeoutMs,
      keepAliveMaxTimeout: this.#options.idleTimeoutMs,
      pipelining: 1,
    });
    this.#countConnections(this.#http1, Protocol.http1);
    return this.#http1;
  }

  /**
   * The compat h2c client (--engine compat): node:http2's client session, one
   * per endpoint, created on first use. Not undici's H2CClient, which drops
   * response DATA still buffered when trailers arrive and re-enters node:http2
   * when a stream is reset from the client's side (issue 18; ./node-h2c-client.ts).
   */
  h2c(): UpstreamDispatcher {
    if (this.#h2c !== null) return this.#h2c;
    const gauge = this.#options.connections;
    this.#h2c = new NodeH2cClient(this.host, this.port, {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      onOpen: gauge === undefined ? undefined : () => gauge.opened(Protocol.http2),
      onClose: gauge === undefined ? undefined : () => gauge.closed(Protocol.http2),
    });
    return this.#h2c;
  }

  /** The lean h2c client (../http2/, --engine lean), created on first use. */
  leanH2c(): UpstreamDispatcher {
    if (this.#leanH2 !== null) return this.#leanH2;
    const gauge = this.#options.connections;
    this.#leanH2 = new H2Client(this.host, this.port, {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      keepaliveIntervalMs: this.#options.h2KeepaliveIntervalMs,
      pingTimeoutMs: this.#options.h2PingTimeoutMs,
      onOpen: gauge === undefined ? undefined : () => gauge.opened(Protocol.http2),
      onClose: gauge === undefined ? undefined : () => gauge.closed(Protocol.http2),
    });
    return this.#leanH2;
  }

  /** Keep-alive HTTP/1.1 connections for the lean engine (../http1/), created on first use. */
  leanPool(): UpstreamPool {
    if (this.#lean !== null) return this.#lean;
    const gauge = this.#options.connections;
    this.#lean = new UpstreamPool(this.host, this.port, {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      onOpen: gauge === undefined ? undefined : () => gauge.opened(Protocol.http1),
      onClose: gauge === undefined ? undefined : () => gauge.closed(Protocol.http1),
    });
    return this.#lean;
  }

  /**
   * HTTP/1.1 requests of HTTP/2 clients on --engine lean: undici's dispatch
   * contract over leanPool() (../http1/http1-dispatcher.ts), which carries
   * request trailers and costs less than undici's Pool.
   */
  leanHttp1(): UpstreamDispatcher {
    const pool = this.leanPool();
    if (this.#leanHttp1 === null || this.#leanHttp1.pool !== pool) this.#leanHttp1 = new Http1Dispatcher(pool, this.key);
    return this.#leanHttp1;
  }

  /**
   * node:http's keep-alive client (./node-http1-client.ts), created on first
   * use: --engine compat sends it the requests whose body has no declared
   * length, because their trailers can follow and undici's Pool cannot send trailers.
   */
  nodeHttp1(): UpstreamDispatcher {
    if (this.#nodeHttp1 !== null) return this.#nodeHttp1;
    const gauge = this.#options.connections;
    this.#nodeHttp1 = new NodeHttp1Client(this.host, this.port, this.key, {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      onOpen: gauge === undefined ? undefined : () => gauge.opened(Protocol.http1),
      onClose: gauge === undefined ? undefined : () => gauge.closed(Protocol.http1),
    });
    return this.#nodeHttp1;
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
    for (const tunnel of [...this.tunnels]) tunnel.close();
  }

  #countConnections(dispatcher: Dispatcher, protocol: Protocol): void {
    const gauge = this.#options.connections;
    if (gauge === undefined) return;
    dispatcher.on('connect', () => gauge.opened(protocol));
    dispatcher.on('disconnect', () => gauge.closed(protocol));
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
    return {
      http1: (this.#http1 ? this.#http1.stats.connected : 0) + (this.#lean !== null ? this.#lean.size : 0) + (this.#nodeHttp1 !== null ? this.#nodeHttp1.size : 0),
      h2c:
        (this.#h2c !== null ? this.#h2c.connected : 0) +
        (this.#leanH2 !== null ? this.#leanH2.size : 0),
    };
  }

  /** Close the clients: graceful (waits for in-flight requests) unless `force`. */
  async close(force = false): Promise<void> {
    if (this.ejectionTimer !== null) clearTimeout(this.ejectionTimer);
    this.ejectionTimer = null;
    if (this.tunnelDrainTimer !== null) clearTimeout(this.tunnelDrainTimer);
    this.tunnelDrainTimer = null;
    const http1 = this.#http1;
    const h2c = this.#h2c;
    const lean = this.#lean;
    const leanH2 = this.#leanH2;
    const nodeHttp1 = this.#nodeHttp1;
    this.#http1 = null;
    this.#h2c = null;
    this.#lean = null;
    this.#leanH2 = null;
    this.#nodeHttp1 = null;
    await Promise.all([
      http1 === null ? undefined : (force ? http1.destroy() : http1.close()).catch(() => {}),
      h2c === null ? undefined : force ? h2c.destroy() : h2c.close(),
      lean?.close(force),
      nodeHttp1 === null ? undefined : force ? nodeHttp1.destroy() : nodeHttp1.close(),
      leanH2 === null ? undefined : force ? leanH2.destroy() : leanH2.close(),
    ]);
  }
}
