// Discovery for a fixed list of endpoints (`--upstream static:host:port,...`):
// one `reset`, delivered asynchronously like every other source, and nothing after.

import type { Discovery, DiscoveryListener, EndpointAddress } from '../discovery.ts';

export function createStaticDiscovery(endpoints: readonly EndpointAddress[]): Discovery {
  const snapshot = Object.freeze(endpoints.map((e) => Object.freeze({ ...e })));
  let started = false;
  let stopped = false;
  return {
    description: `static:${snapshot.map((e) => e.key).join(',')}`,
    start(listener: DiscoveryListener) {
      if (started) throw new Error('static discovery already started');
      started = true;
      // The contract says the first update is asynchronous: callers may finish wiring after start().
      queueMicrotask(() => {
        if (stopped) return;
        listener.onUpdate({ type: 'reset', endpoints: snapshot });
        listener.onResolution?.('success');
      });
    },
    stop() {
      stopped = true;
    },
  };
}
