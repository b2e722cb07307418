// Sticky sessions to static endpoints named by a long host name (issue 20):
// `static:HOST:PORT` takes DNS names, and a StatefulSet pod's FQDN easily
// passes 64 characters (the first cut of the token format's limit, whose
// encoder then threw on the response path: on the lean engine an uncaught
// exception that ended the process at the first response). The endpoint's key
// here is such a name while its address is the loopback replica, as the
// resolver would make it.

import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { SessionCookieConfig } from '../lib/config/config.ts';
import { startHttpReplicas } from './support/http-replicas.ts';
import { ENGINES, startProxy } from './support/proxy.ts';
import { HttpSessionClient } from './support/session-clients.ts';

const NAME = 'rs_session';
const SESSION: SessionCookieConfig = { name: NAME, maxAgeSeconds: 0, path: '/', httpOnly: true, sameSite: null, secure: false };
const POD = 'postgrpc-replica-N.postgrpc-headless.production-eu-west.svc.cluster.local';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe.each(ENGINES)('session cookies naming long host-name endpoints (%s engine)', (engine) => {
  it('the first response issues a cookie naming the pod, and later calls stick to it', async () => {
    const replicas = await startHttpReplicas(2);
    cleanups.push(() => Promise.all(replicas.map((r) => r.close())));
    const endpoints = replicas.map((r, i) => ({ key: `${POD.replace('N', String(i))}:${r.port}`, host: '127.0.0.1', port: r.port, weight: 1 }));
    expect(endpoints[0].key.length).toBeGreaterThan(64);
    const proxy = await startProxy({ engine, target: { kind: 'static', endpoints }, upstream: { sessionCookie: SESSION } });
    cleanups.push(() => proxy.stop());
    const agent = new Agent({ connections: 4 });
    cleanups.push(() => agent.close());
    for (let s = 0; s < 4; s++) {
      const client = new HttpSessionClient(proxy.url, NAME, agent);
      const first = await client.call('/begin');
      expect(first.detail).toBe('');
      expect(first.setCookie).not.toBeNull();
      for (let i = 0; i < 5; i++) {
        const r = await client.call('/next');
        expect(r.ok).toBe(true);
        expect(r.replica).toBe(first.replica);
        expect(r.setCookie).toBeNull();
      }
    }
  });
});
