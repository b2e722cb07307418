// Feeds an upstream's changes into its metric handles: endpoint handles are
// created when an endpoint appears (one per listener routing to it) and
// removed once it has drained, so label cardinality follows the live set.

import type { RingsideMetrics } from '../metrics/metrics.ts';
import type { Endpoint } from './endpoint.ts';
import type { Upstream, UpstreamObserver } from './upstream.ts';

export function createUpstreamMetricsObserver(metrics: RingsideMetrics, upstreamName: string, listenerNames: readonly string[]): UpstreamObserver {
  const um = metrics.upstream(upstreamName);
  let rebuildsSeen = 0;
  return {
    connectionMetrics: (key) => um.connections(key),
    endpointAdded(_upstream: Upstream, endpoint: Endpoint) {
      // Slot i belongs to the i-th listener of this upstream (Route.slot).
      endpoint.metrics = listenerNames.map((listener) => metrics.endpoint(listener, upstreamName, endpoint.key));
      endpoint.tunnelMetrics = metrics.tunnels.endpoint(upstreamName, endpoint.key);
    },
    endpointRemoved(upstream: Upstream, endpoint: Endpoint) {
      for (const m of endpoint.metrics) m.remove();
      um.connections(endpoint.key).remove();
      endpoint.tunnelMetrics?.remove();
      countStates(upstream);
    },
    endpointsChanged(upstream: Upstream, added: number, removed: number) {
      if (added > 0) um.endpointChange('added', added);
      if (removed > 0) um.endpointChange('removed', removed);
      countStates(upstream);
      const stats = upstream.balancer.stats?.();
      if (stats !== undefined) {
        um.ring(stats.entries, stats.minEntriesPerEndpoint, stats.maxEntriesPerEndpoint);
        for (; rebuildsSeen < stats.rebuilds; rebuildsSeen++) um.ringRebuilt();
      }
    },
    endpointEjected(upstream: Upstream, _endpoint: Endpoint, ejected: boolean) {
      if (ejected) um.ejection();
      countStates(upstream);
    },
    resolution(result) {
      um.dnsResolution(result);
    },
    slowStartChanged(upstream: Upstream) {
      um.endpointsInSlowStart(upstream.slowStart.size);
    },
  };

  function countStates(upstream: Upstream): void {
    let active = 0;
    let ejected = 0;
    for (const e of upstream.endpoints.values()) {
      if (e.state === 'ejected') ejected++;
      else active++;
    }
    um.endpointsByState(active, upstream.draining.size, ejected);
  }
}
