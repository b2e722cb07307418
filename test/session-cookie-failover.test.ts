// Sticky sessions through replica failures (issue 20), the PostgRPC shape:
// replicas hold sessions (transactions), every call of a session must reach
// the replica that began it, and a session whose replica died must go on
// elsewhere without a failed call. Five replica processes bound like pods
// (127.0.0.2..6, one port) behind one DNS name (the in-process DNS server),
// round robin for first requests, on both engines, with HTTP/1.1 clients (a
// cookie jar each) and gRPC clients (the cookie as metadata, one channel).
//   1. 20 sessions begin: round robin spreads them, each gets a cookie.
//   2. 5 follow-ups each: all on their owner, no Set-Cookie.
//   3. One owner is SIGKILLed (its address stays in DNS), another owner is
//      removed from DNS (it keeps running: draining).
//   4. 10 follow-ups each, started once the proxy has seen both: none fails;
//      an orphaned session gets a new cookie on its first follow-up, naming a
//      live replica, and sticks to it after; the other sessions never move.
// The counts are printed for the closing note.

import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { SessionCookieConfig } from '../lib/config/config.ts';
import type { Upstream } from '../lib/upstream/upstream.ts';
import { startDnsServer } from './support/dns-server.ts';
import { createEchoClient } from './support/grpc-replicas.ts';
import { ENGINES, startProxy, type TestProxy } from './support/proxy.ts';
import { startReplicaProcess, type ReplicaProcess } from './support/replica-process.ts';
import { GrpcSessionClient, HttpSessionClient, type SessionCall } from './support/session-clients.ts';
import { waitFor } from './support/wait.ts';

const NAME = 'pgrpc.svc.test';
const COOKIE = 'pgrpc_session';
const SESSION: SessionCookieConfig = { name: COOKIE, maxAgeSeconds: 3600, path: '/', httpOnly: true, sameSite: null, secure: false };
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const SESSIONS = 20;
const BEFORE = 5;
const AFTER = 10;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** One replica process per address on one common port, like the pods of a Service; retries when a port is taken. */
async function startPods(grpc: boolean): Promise<ReplicaProcess[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await startReplicaProcess(`pod-${HOSTS[0]}`, { grpc, host: HOSTS[0] });
    const pods = [first];
    try {
      for (const host of HOSTS.slice(1)) pods.push(await startReplicaProcess(`pod-${host}`, { grpc, host, port: first.port }));
      return pods;
    } catch {
      await Promise.all(pods.map((p) => p.stop()));
    }
  }
  throw new Error('no port free on every address');
}

async function counter(proxy: TestProxy, name: string): Promise<number> {
  const text = await (await request(`${proxy.adminUrl}/metrics`)).body.text();
  const m = new RegExp(`^${name}\\{upstream="default"\\} (\\d+)`, 'm').exec(text);
  return m === null ? -1 : Number(m[1]);
}

interface Session {
  call(i: number): Promise<SessionCall>;
}

const CASES = ENGINES.flatMap((engine) => (['http1', 'grpc'] as const).map((client) => ({ engine, client })));

describe.each(CASES)('sticky sessions through a killed and a removed replica ($client clients, $engine engine)', ({ engine, client }) => {
  it('no call started after the failures fails; orphaned sessions move once and stick; the others never move', { timeout: 60_000 }, async () => {
    const pods = await startPods(client === 'grpc');
    for (const p of pods) cleanups.push(() => p.stop());
    const dns = await startDnsServer();
    cleanups.push(() => dns.close());
    dns.setA(NAME, HOSTS, 1);
    const proxy = await startProxy({
      target: { kind: 'dns', name: NAME, port: pods[0].port },
      engine,
      upstream: {
        protocol: client === 'grpc' ? 'h2c' : 'http1',
        lb: 'round_robin',
        sessionCookie: SESSION,
        dns: { refreshMs: 250, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } },
      },
    });
    cleanups.push(() => proxy.stop());
    const upstream: Upstream = proxy.app.upstreams.get('default')!;
    await waitFor(() => upstream.endpoints.size === HOSTS.length, 5000, 'five endpoints');

    let sessions: Session[];
    if (client === 'grpc') {
      const channel = createEchoClient(proxy.address);
      cleanups.push(() => channel.close());
      sessions = Array.from({ length: SESSIONS }, () => {
        const s = new GrpcSessionClient(channel, COOKIE);
        return { call: (i: number) => s.call({ message: i === 0 ? 'BEGIN' : `SELECT ${i}` }) };
      });
    } else {
      const agent = new Agent({ connections: 32 });
      cleanups.push(() => agent.close());
      sessions = Array.from({ length: SESSIONS }, () => {
        const s = new HttpSessionClient(proxy.url, COOKIE, agent);
        return { call: (i: number) => s.call(i === 0 ? '/begin' : `/select/${i}`) };
      });
    }

    // 1. Begin: round robin spreads the sessions, each response starts one.
    const owner: string[] = [];
    for (const s of sessions) {
      const begin = await s.call(0);
      expect(begin.ok, begin.detail).toBe(true);
      expect(begin.setCookie).not.toBeNull();
      owner.push(begin.replica);
    }
    const perReplica = new Map<string, number>();
    for (const o of owner) perReplica.set(o, (perReplica.get(o) ?? 0) + 1);
    expect(perReplica.size).toBe(HOSTS.length);
    for (const n of perReplica.values()) expect(n).toBeGreaterThanOrEqual(2);

    // 2. Follow-ups stick, sessions side by side.
    await Promise.all(
      sessions.map(async (s, k) => {
        for (let i = 1; i <= BEFORE; i++) expect(await s.call(i)).toMatchObject({ ok: true, replica: owner[k], setCookie: null });
      }),
    );

    // 3. SIGKILL one owner (its address stays in DNS), remove another from DNS.
    const killed = pods[1];
    const removed = pods[3];
    const reissuedBefore = await counter(proxy, 'ringside_sessions_reissued_total');
    dns.setA(NAME, HOSTS.filter((h) => h !== removed.host), 1);
    killed.kill('SIGKILL');
    await killed.exited;
    const killedEndpoint = upstream.endpoints.get(killed.key)!;
    // Calls start once the proxy can know: the dead replica's connections closed, the removed one left the set.
    await waitFor(() => killedEndpoint.connections().http1 + killedEndpoint.connections().h2c === 0, 5000, 'connections to the killed replica closed');
    await waitFor(() => !upstream.endpoints.has(removed.key), 5000, 'the removed replica left the set');
    expect(upstream.endpoints.has(killed.key)).toBe(true);

    // 4. Follow-ups after the failures.
    const orphaned = new Set<number>();
    owner.forEach((o, k) => {
      if (o === killed.name || o === removed.name) orphaned.add(k);
    });
    const after: SessionCall[][] = await Promise.all(
      sessions.map(async (s) => {
        const calls: SessionCall[] = [];
        for (let i = 1; i <= AFTER; i++) calls.push(await s.call(BEFORE + i));
        return calls;
      }),
    );
    const failed = after.flat().filter((c) => !c.ok);
    const summary = {
      engine,
      client,
      sessions: SESSIONS,
      followUps: SESSIONS * (BEFORE + AFTER),
      orphaned: orphaned.size,
      callsAfterFailures: SESSIONS * AFTER,
      failedAfterFailures: failed.length,
      reissued: (await counter(proxy, 'ringside_sessions_reissued_total')) - reissuedBefore,
      failures: failed.map((c) => c.detail),
    };
    console.log(`session-cookie failover: ${JSON.stringify(summary)}`);
    expect(failed.map((c) => c.detail)).toEqual([]);
    expect(orphaned.size).toBeGreaterThanOrEqual(4);
    after.forEach((calls, k) => {
      if (!orphaned.has(k)) {
        // A live session never moves and is never given another cookie.
        for (const c of calls) expect(c).toMatchObject({ replica: owner[k], setCookie: null });
        return;
      }
      // An orphaned session: a new cookie on its first follow-up, for a live replica, then it sticks there.
      const moved = calls[0].replica;
      expect(calls[0].setCookie).not.toBeNull();
      expect([killed.name, removed.name]).not.toContain(moved);
      for (const c of calls.slice(1)) expect(c).toMatchObject({ replica: moved, setCookie: null });
    });
    expect(summary.reissued).toBe(orphaned.size);
  });
});
