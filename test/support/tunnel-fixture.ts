// Shared set-up of the tunnel tests (issue 21): WebSocket replicas, a ringside
// in front of them (ring hash on ?room=), clients, all torn down after each test.

import { afterEach } from 'vitest';
import type { Engine } from '../../lib/config/config.ts';
import { startProxy, type TestProxy } from './proxy.ts';
import { startWsReplica, type WsClient, wsConnect, type WsReplica } from './websocket.ts';

export interface TunnelFixture {
  /** Run after the test, last registered first. */
  readonly cleanups: Array<() => Promise<unknown> | void>;
  replicas(n: number): Promise<WsReplica[]>;
  proxyFor(engine: Engine, rs: readonly WsReplica[], extra?: Partial<Parameters<typeof startProxy>[0]>): Promise<TestProxy>;
  open(proxy: TestProxy, path: string, options?: Parameters<typeof wsConnect>[2]): Promise<WsClient>;
}

/** Call at the top level of a test file: registers the teardown. */
export function useTunnelFixture(): TunnelFixture {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return {
    cleanups,
    async replicas(n) {
      const rs = await Promise.all(Array.from({ length: n }, (_, i) => startWsReplica(`r${i}`)));
      for (const r of rs) cleanups.push(() => r.close());
      return rs;
    },
    async proxyFor(engine, rs, extra = {}) {
      const proxy = await startProxy({ engine, endpoints: rs.map((r) => r.key), hashOn: [{ type: 'query', name: 'room', terminal: false }], ...extra });
      cleanups.push(() => proxy.stop());
      return proxy;
    },
    async open(proxy, path, options) {
      const c = await wsConnect(proxy.port, path, options);
      cleanups.push(() => {
        c.socket.destroy();
      });
      return c;
    },
  };
}

/** Poll `cond` every 10 ms for up to `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
