// Tunnels (WebSocket and other HTTP/1.1 protocol switches, lib/forwarding/tunnel.ts),
// counted apart from requests: opened, open now, and bytes each way, per
// upstream and endpoint. One handle per endpoint, created when the endpoint
// appears and removed once it has drained (lib/upstream/upstream-metrics.ts),
// so a tunnel only adds to numbers in fields it already holds.

import type { Registry } from './registry.ts';
import { registerCollectedMetric } from './collected-metric.ts';

/** One endpoint's tunnel counters; the tunnel core updates the fields directly. */
export interface TunnelEndpointMetrics {
  /** Tunnels that got their 101 on this endpoint. */
  opened: number;
  /** Tunnels open now. */
  open: number;
  /** Bytes from the client to the endpoint, after the handshake. */
  bytesToUpstream: number;
  /** Bytes from the endpoint to the client, after the handshake. */
  bytesToClient: number;
  /** Drop this endpoint's series (it drained). */
  remove(): void;
}

export interface TunnelMetrics {
  /** The handle of one endpoint: the same object until it is removed. */
  endpoint(upstream: string, endpoint: string): TunnelEndpointMetrics;
}

class Handle implements TunnelEndpointMetrics {
  opened = 0;
  open = 0;
  bytesToUpstream = 0;
  bytesToClient = 0;
  readonly labels: Readonly<Record<string, string>>;
  readonly toUpstreamLabels: Readonly<Record<string, string>>;
  readonly toClientLabels: Readonly<Record<string, string>>;
  readonly #onRemove: (h: Handle) => void;

  constructor(upstream: string, endpoint: string, onRemove: (h: Handle) => void) {
    this.labels = { upstream, endpoint };
    this.toUpstreamLabels = { upstream, endpoint, direction: 'to_upstream' };
    this.toClientLabels = { upstream, endpoint, direction: 'to_client' };
    this.#onRemove = onRemove;
  }

  remove(): void {
    this.#onRemove(this);
  }
}

export function registerTunnelMetrics(registry: Registry): TunnelMetrics {
  const handles = new Map<string, Handle>();
  registerCollectedMetric(registry, {
    name: 'ringside_tunnels_opened_total',
    help: 'Tunnels (WebSocket and other HTTP/1.1 protocol switches) opened to an endpoint: handshakes it answered with 101.',
    type: 'counter',
    collect(out) {
      for (const h of handles.values()) out.push({ labels: h.labels, value: h.opened });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_tunnels_open',
    help: 'Tunnels open to an endpoint now (each also counts as load for least request and bounded load).',
    type: 'gauge',
    collect(out) {
      for (const h of handles.values()) out.push({ labels: h.labels, value: h.open });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_tunnel_bytes_total',
    help: 'Bytes carried through tunnels after the handshake, by direction (to_upstream: from the client; to_client: from the endpoint).',
    type: 'counter',
    collect(out) {
      for (const h of handles.values()) {
        out.push({ labels: h.toUpstreamLabels, value: h.bytesToUpstream });
        out.push({ labels: h.toClientLabels, value: h.bytesToClient });
      }
    },
  });
  return {
    endpoint(upstream, endpoint) {
      const key = `${upstream}\u0000${endpoint}`;
      let handle = handles.get(key);
      if (handle === undefined) {
        handle = new Handle(upstream, endpoint, (h) => {
          if (handles.get(key) === h) handles.delete(key);
        });
        handles.set(key, handle);
      }
      return handle;
    },
  };
}
