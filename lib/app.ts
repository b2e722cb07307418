// The composition root: the one place that wires ringside together. Read it
// as a description of the sidecar:
//   for every upstream:  discovery -> endpoints -> balancer (ring hash, least request, ...)
//   for every listener:  port -> HTTP/1.1 or h2c -> hash policy -> upstream -> endpoint client
//   around them:         metrics, admin server (/metrics, /healthz, /readyz, /status)

import type { RingsideConfig } from './config/config.ts';
import { createBalancer } from './balancer/create-balancer.ts';
import { createDiscovery } from './discovery/create-discovery.ts';
import { createHashPolicy } from './hash/hash-policy.ts';
import { createHash64 } from './hash/hash64.ts';
import { initXxhash64 } from './hash/xxhash64.ts';
import { Listener } from './listener/listener.ts';
import { type RequestObserver, nullObserver } from './listener/route.ts';
import type { Logger } from './log/logger.ts';
import type { Endpoint } from './upstream/endpoint.ts';
import { Upstream, type UpstreamObserver } from './upstream/upstream.ts';

export interface AppOptions {
  readonly logger: Logger;
  readonly version: string;
  /** Observers for requests and upstream changes (metrics). */
  readonly requestObserver?: RequestObserver;
  readonly upstreamObserver?: (upstream: string) => UpstreamObserver;
}

export interface RunningApp {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly listeners: readonly Listener[];
  /** Stop accepting, let in-flight requests finish for up to `graceMs`, close everything. */
  stop(graceMs?: number): Promise<void>;
}

export async function startApp(config: RingsideConfig, options: AppOptions): Promise<RunningApp> {
  const { logger } = options;
  await initXxhash64();

  const upstreams = new Map<string, Upstream>();
  for (const uc of config.upstreams) {
    const upstream = new Upstream({
      config: uc,
      balancer: createBalancer<Endpoint>(uc),
      discovery: createDiscovery(uc, logger),
      logger,
      observer: options.upstreamObserver?.(uc.name),
    });
    upstreams.set(uc.name, upstream);
  }

  const listeners: Listener[] = [];
  for (const lc of config.listeners) {
    const upstream = upstreams.get(lc.upstream);
    if (upstream === undefined) throw new Error(`listener ${lc.name} names unknown upstream ${lc.upstream}`);
    listeners.push(
      new Listener({
        listen: lc.listen,
        route: {
          listenerName: lc.name,
          upstream,
          hashPolicy: createHashPolicy(upstream.config.hashOn),
          protocol: upstream.config.protocol,
          requestTimeoutMs: upstream.config.requestTimeoutMs,
          logger,
          observer: options.requestObserver ?? nullObserver,
          hash: createHash64(),
        },
      }),
    );
  }

  try {
    for (const listener of listeners) {
      await listener.listen();
      logger.info('listening', { listener: listener.route.listenerName, address: `${listener.options.listen.host}:${listener.port}`, upstream: listener.route.upstream.name });
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  // Discovery starts after the ports are bound: the listener answers 503 until the first resolution.
  for (const upstream of upstreams.values()) upstream.start();

  let stopping: Promise<void> | null = null;
  return {
    upstreams,
    listeners,
    stop(graceMs = 0) {
      stopping ??= (async () => {
        await Promise.all(listeners.map((l) => l.close(graceMs)));
        await Promise.all([...upstreams.values()].map((u) => u.close(true)));
      })();
      return stopping;
    },
  };
}
