// Discovery is a stream of updates about one upstream's endpoints, in the
// spirit of linkerd2-proxy's resolver: a full reset, incremental adds and
// removes, or "this name does not exist". Consumers apply them as diffs.

/** One discovered endpoint. `key` is `HOST:PORT` (IPv6 as `[ADDR]:PORT`). */
export interface EndpointAddress {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** Integer >= 1; 1 unless the source (SRV) says otherwise. */
  readonly weight: number;
}

export type DiscoveryUpdate =
  /** The complete current set: replaces whatever the consumer had. */
  | { readonly type: 'reset'; readonly endpoints: readonly EndpointAddress[] }
  /** New endpoints, or endpoints whose weight changed. */
  | { readonly type: 'add'; readonly endpoints: readonly EndpointAddress[] }
  /** Endpoints that are gone, by key. */
  | { readonly type: 'remove'; readonly keys: readonly string[] }
  /** An authoritative answer says there is nothing (NXDOMAIN / NODATA): the set is empty. */
  | { readonly type: 'does-not-exist'; readonly reason: string };

/** What a resolution attempt ended as; exported as ringside_dns_resolutions_total{result}. */
export type ResolutionResult = 'success' | 'nxdomain' | 'nodata' | 'servfail' | 'timeout' | 'error';

export interface DiscoveryListener {
  onUpdate(update: DiscoveryUpdate): void;
  /** Called after every resolution attempt (DNS); static discovery calls it once with 'success'. */
  onResolution?(result: ResolutionResult, error?: Error): void;
}

export interface Discovery {
  /** Human-readable description of the source, e.g. `dns:recs.default.svc.cluster.local:8080`. */
  readonly description: string;
  /** Start delivering updates. The first update comes asynchronously. */
  start(listener: DiscoveryListener): void;
  /** Stop timers and sockets; no update is delivered after this returns. */
  stop(): void;
}
