// An upstream: one named service, its endpoints as discovery reports them,
// and the balancer that picks among them. Discovery updates are applied as a
// diff: new endpoints get traffic from the next pick on; removed endpoints
// stop getting picks, finish their in-flight requests (drain) and only then
// have their connections closed.

import type { Balancer } from '../balancer/balancer.ts';
import type { UpstreamConfig } from '../config/config.ts';
import type { Discovery, DiscoveryUpdate, EndpointAddress, ResolutionResult } from '../discovery/discovery.ts';
import type { Hash64 } from '../hash/hash64.ts';
import type { Logger } from '../log/logger.ts';
import type { ConnectionMetrics } from '../metrics/metrics.ts';
import { Endpoint } from './endpoint.ts';
import type { EndpointClientsFactory } from './endpoint-clients.ts';
import { RetryBudget } from './retry-budget.ts';
import { SlowStart } from './slow-start.ts';

const SLOW_START_OFF = { windowMs: 0, minWeightPercent: 100, aggression: 1 } as const;

/** Hooks for metrics; every one is optional and called off the request path. */
export interface UpstreamObserver {
  endpointAdded?(upstream: Upstream, endpoint: Endpoint): void;
  /** Connection gauges for a new endpoint. */
  connectionMetrics?(endpointKey: string): ConnectionMetrics;
  /** The endpoint drained and its clients are closing: drop its series. */
  endpointRemoved?(upstream: Upstream, endpoint: Endpoint): void;
  /** Outlier detection ejected an endpoint (true) or let it back (false). */
  endpointEjected?(upstream: Upstream, endpoint: Endpoint, ejected: boolean): void;
  /** The endpoint set changed: `added` new endpoints, `removed` started draining. */
  endpointsChanged?(upstream: Upstream, added: number, removed: number): void;
  resolution?(result: ResolutionResult, error?: Error): void;
  /** Endpoints began, stepped through or ended slow start (weights changed). */
  slowStartChanged?(upstream: Upstream): void;
}

export interface UpstreamOptions {
  readonly config: UpstreamConfig;
  readonly balancer: Balancer<Endpoint>;
  readonly discovery: Discovery;
  readonly logger: Logger;
  readonly observer?: UpstreamObserver;
  /** --drain-timeout: how long the tunnels of a removed endpoint may run on; absent: until they end. */
  readonly tunnelDrainMs?: number;
  /** The clients of the process's engine, chosen once (./endpoint-clients.ts endpointClientsFor); absent: ours. */
  readonly clients?: EndpointClientsFactory;
}

export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly balancer: Balancer<Endpoint>;
  readonly discovery: Discovery;
  /** Current endpoints by key (active or ejected; not draining). */
  readonly endpoints = new Map<string, Endpoint>();
  /** Removed endpoints still finishing in-flight requests. */
  readonly draining = new Set<Endpoint>();
  /** True once discovery delivered a first answer (even an empty one). */
  resolved = false;
  /**
   * Why the set is empty: discovery said the name does not exist, or it has not
   * answered yet (then naming the source and the last failure). Requests that
   * find no endpoint carry this text to the client (503 / UNAVAILABLE).
   */
  emptyReason: string | null = null;
  lastResolution: { result: ResolutionResult; at: number } | null = null;
  lastSuccessAt: number | null = null;
  /** Shared by every request of this upstream: retries add at most ~20% load. */
  readonly retryBudget = new RetryBudget();
  /** Endpoints ramping up to their weight (./slow-start.ts). */
  readonly slowStart: SlowStart;

  readonly #logger: Logger;
  readonly #observer: UpstreamObserver;
  readonly #tunnelDrainMs: number;
  readonly #clients: EndpointClientsFactory | undefined;
  #closed = false;
  /**
   * Discovery has answered before: endpoints added from now on are new pods
   * and start slow. The first answer's endpoints start at full weight, as in
   * Envoy: at start-up there is nobody to protect them from.
   */
  #answered = false;
  /** Endpoints added / removed by the update being applied. */
  #added = 0;
  #removed = 0;

  constructor(options: UpstreamOptions) {
    this.name = options.config.name;
    this.config = options.config;
    this.balancer = options.balancer;
    this.discovery = options.discovery;
    this.#logger = options.logger;
    this.#observer = options.observer ?? {};
    this.#tunnelDrainMs = options.tunnelDrainMs ?? -1;
    this.#clients = options.clients;
    this.slowStart = new SlowStart(options.config.slowStart ?? SLOW_START_OFF, () => {
      this.balancer.reweight?.();
      this.#observer.slowStartChanged?.(this);
    });
  }

  start(): void {
    // Until the first answer, a request that finds no endpoint should say what we are waiting for,
    // not only "no endpoints": the listener is up before discovery has answered (see app.ts).
    this.emptyReason = `waiting for the first answer of ${this.discovery.description}`;
    this.discovery.start({
      onUpdate: (update) => this.#apply(update),
      onResolution: (result, error) => {
        const now = Date.now();
        const previous = this.lastResolution?.result;
        this.lastResolution = { result, at: now };
        if (result === 'success') this.lastSuccessAt = now;
        else {
          if (!this.resolved) this.emptyReason = `${this.discovery.description} has not answered yet: ${result}${error ? ` (${error.message})` : ''}`;
          // Warn when the outcome changes; repeats (every backoff step of an outage) go to debug.
          const fields = { upstream: this.name, source: this.discovery.description, result, error };
          if (previous !== result) this.#logger.warn('discovery failed', fields);
          else this.#logger.debug('discovery failed again', fields);
        }
        this.#observer.resolution?.(result, error);
      },
    });
  }

  /**
   * Pick an endpoint for one request; null when none is available. `override`:
   * an endpoint of this set the request names (a session cookie), which wins
   * while it is available and not excluded (Balancer.pick).
   */
  pick(hash: Hash64 | null, exclude: readonly Endpoint[] | null, override: Endpoint | null = null): Endpoint | null {
    return this.balancer.pick(hash, exclude, override);
  }

  #apply(update: DiscoveryUpdate): void {
    if (this.#closed) return;
    this.resolved = true;
    let changed = false;
    this.#added = 0;
    this.#removed = 0;
    switch (update.type) {
      case 'reset': {
        const keep = new Set(update.endpoints.map((e) => e.key));
        for (const key of [...this.endpoints.keys()]) if (!keep.has(key)) changed = this.#remove(key) || changed;
        for (const address of update.endpoints) changed = this.#add(address) || changed;
        this.emptyReason = null;
        break;
      }
      case 'add':
        for (const address of update.endpoints) changed = this.#add(address) || changed;
        this.emptyReason = null;
        break;
      case 'remove':
        for (const key of update.keys) changed = this.#remove(key) || changed;
        break;
      case 'does-not-exist':
        for (const key of [...this.endpoints.keys()]) changed = this.#remove(key) || changed;
        this.emptyReason = update.reason;
        break;
    }
    this.#answered = true;
    if (!changed) return;
    // Rebuild the balancer's view once per update, off the request path.
    this.balancer.update([...this.endpoints.values()]);
    this.#logger.info('endpoints changed', { upstream: this.name, endpoints: [...this.endpoints.keys()] });
    this.#observer.endpointsChanged?.(this, this.#added, this.#removed);
    if (this.slowStart.enabled) this.#observer.slowStartChanged?.(this);
  }

  #add(address: EndpointAddress): boolean {
    const existing = this.endpoints.get(address.key);
    if (existing) {
      if (existing.weight === address.weight) return false;
      existing.weight = address.weight;
      this.slowStart.weightChanged(existing);
      return true;
    }
    // An endpoint that comes back while still draining is revived rather than duplicated.
    for (const old of this.draining) {
      if (old.key === address.key) {
        this.draining.delete(old);
        old.onDrained = null;
        if (old.tunnelDrainTimer !== null) clearTimeout(old.tunnelDrainTimer);
        old.tunnelDrainTimer = null;
        old.tunnelsDue = false;
        old.weight = address.weight;
        old.effectiveWeight = address.weight;
        old.setState('active');
        if (this.#answered) this.slowStart.begin(old);
        this.endpoints.set(old.key, old);
        this.#added++;
        return true;
      }
    }
    const endpoint = new Endpoint(address, {
      connectTimeoutMs: this.config.connectTimeoutMs,
      idleTimeoutMs: this.config.idleTimeoutMs,
      h2KeepaliveIntervalMs: this.config.h2KeepaliveIntervalMs,
      h2PingTimeoutMs: this.config.h2PingTimeoutMs,
      connections: this.#observer.connectionMetrics?.(address.key),
      clients: this.#clients,
    });
    endpoint.ejectAfter = this.config.ejection.consecutiveFailures;
    endpoint.onFailureStreak = this.#onFailureStreak;
    if (this.#answered) this.slowStart.begin(endpoint);
    this.endpoints.set(address.key, endpoint);
    this.#added++;
    this.#observer.endpointAdded?.(this, endpoint);
    return true;
  }

  #remove(key: string): boolean {
    const endpoint = this.endpoints.get(key);
    if (!endpoint) return false;
    this.endpoints.delete(key);
    this.slowStart.end(endpoint);
    if (endpoint.ejectionTimer !== null) clearTimeout(endpoint.ejectionTimer);
    endpoint.ejectionTimer = null;
    this.draining.add(endpoint);
    this.#removed++;
    endpoint.onDrained = (ep) => this.#finishDrain(ep);
    endpoint.setState('draining');
    // Tunnels (WebSockets) may never end by themselves: they get --drain-timeout from now, then close,
    // and the endpoint drains (its series go) when the last one has. A handshake still on its way
    // (in inFlight, not yet in tunnels) may become one of them: armed for it too.
    if (endpoint.inFlight > 0 && this.#tunnelDrainMs >= 0) {
      endpoint.tunnelDrainTimer = setTimeout(closeTunnels, this.#tunnelDrainMs, endpoint);
      endpoint.tunnelDrainTimer.unref();
    }
    return true;
  }

  // Passive outlier detection, after Envoy's consecutive_5xx: an endpoint
  // with N consecutive failures is ejected for base time x (times ejected),
  // capped; never more than max-ejection-percent of the endpoints at once
  // (but one may always go when there are two or more). Ejected endpoints stay
  // in the ring, so only their own keys move, and come back when they return.
  // https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier
  readonly #onFailureStreak = (endpoint: Endpoint): void => {
    if (endpoint.state !== 'active' || this.endpoints.get(endpoint.key) !== endpoint) return;
    const { maxPercent, baseTimeMs, maxTimeMs } = this.config.ejection;
    let ejected = 0;
    for (const e of this.endpoints.values()) if (e.state === 'ejected') ejected++;
    const total = this.endpoints.size;
    const allowed = total < 2 || maxPercent === 0 ? 0 : Math.max(1, Math.floor((total * maxPercent) / 100));
    if (ejected >= allowed) return;
    endpoint.ejections++;
    const durationMs = Math.min(baseTimeMs * endpoint.ejections, maxTimeMs);
    endpoint.consecutiveFailures = 0;
    endpoint.setState('ejected');
    endpoint.ejectionTimer = setTimeout(() => this.#return(endpoint), durationMs);
    endpoint.ejectionTimer.unref();
    this.#logger.warn('endpoint ejected', { upstream: this.name, endpoint: endpoint.key, ms: durationMs, times: endpoint.ejections });
    this.#observer.endpointEjected?.(this, endpoint, true);
  };

  #return(endpoint: Endpoint): void {
    endpoint.ejectionTimer = null;
    if (endpoint.state !== 'ejected' || this.endpoints.get(endpoint.key) !== endpoint) return;
    endpoint.setState('active');
    // Back from ejection: it may have restarted cold, so it ramps up like a new endpoint.
    if (this.slowStart.enabled) {
      this.slowStart.begin(endpoint);
      this.balancer.reweight?.();
      this.#observer.slowStartChanged?.(this);
    }
    this.#logger.info('endpoint returned from ejection', { upstream: this.name, endpoint: endpoint.key });
    this.#observer.endpointEjected?.(this, endpoint, false);
  }

  #finishDrain(endpoint: Endpoint): void {
    if (!this.draining.delete(endpoint)) return;
    endpoint.onDrained = null;
    if (endpoint.tunnelDrainTimer !== null) clearTimeout(endpoint.tunnelDrainTimer);
    endpoint.tunnelDrainTimer = null;
    this.#logger.debug('endpoint drained', { upstream: this.name, endpoint: endpoint.key });
    this.#observer.endpointRemoved?.(this, endpoint);
    void endpoint.close();
  }

  /** Requests in flight on every endpoint, draining ones included. */
  inFlight(): number {
    let n = 0;
    for (const e of this.endpoints.values()) n += e.inFlight;
    for (const e of this.draining) n += e.inFlight;
    return n;
  }

  /** Stop discovery and close every client; `force` destroys in-flight requests. */
  async close(force = false): Promise<void> {
    this.#closed = true;
    this.discovery.stop();
    this.slowStart.stop();
    const all = [...this.endpoints.values(), ...this.draining];
    this.endpoints.clear();
    this.draining.clear();
    await Promise.all(all.map((e) => e.close(force)));
  }
}

function closeTunnels(endpoint: Endpoint): void {
  endpoint.tunnelDrainTimer = null;
  endpoint.closeTunnels();
}
