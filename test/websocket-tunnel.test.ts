// WebSockets through ringside (issue 21), on both HTTP/1.1 engines: the
// handshake is balanced like any request (ring hash on ?room= keeps a room on
// one replica), a 101 turns both connections into a tunnel that carries bytes
// both ways with backpressure, passes half-close on and resets with its peer;
// any other answer is an ordinary response.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ENGINES, startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';
import { encodeFrame, OP_BINARY, OP_PING, OP_TEXT, startWsReplica, type WsReplica, wsConnect, type WsClient } from './support/websocket.ts';
import type { Engine } from '../lib/config/config.ts';
import { startDnsServer } from './support/dns-server.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function replicas(n: number): Promise<WsReplica[]> {
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => startWsReplica(`r${i}`)));
  for (const r of rs) cleanups.push(() => r.close());
  return rs;
}

async function proxyFor(engine: Engine, rs: readonly WsReplica[], extra: Partial<Parameters<typeof startProxy>[0]> = {}): Promise<TestProxy> {
  const proxy = await startProxy({ engine, endpoints: rs.map((r) => r.key), hashOn: [{ type: 'query', name: 'room', terminal: false }], ...extra });
  cleanups.push(() => proxy.stop());
  return proxy;
}

async function open(proxy: TestProxy, path: string, options?: Parameters<typeof wsConnect>[2]): Promise<WsClient> {
  const c = await wsConnect(proxy.port, path, options);
  cleanups.push(() => {
    c.socket.destroy();
  });
  return c;
}

const waitFor = async (what: string, cond: () => boolean, ms = 3000): Promise<void> => {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.each(ENGINES)('WebSocket tunnels (%s engine)', (engine) => {
  it('30 clients in 6 rooms: all 101, echoes intact, each room on one replica, rooms over several replicas', async () => {
    const rs = await replicas(3);
    const proxy = await proxyFor(engine, rs);
    const rooms = ['jazz', 'blues', 'rock', 'folk', 'soul', 'funk'];
    const clients = await Promise.all(Array.from({ length: 30 }, (_, i) => open(proxy, `/chat?room=${rooms[i % 6]}`)));
    const replicaOfRoom = new Map<string, Set<string>>();
    await Promise.all(
      clients.map(async (c, i) => {
        expect(c.status).toBe(101);
        expect(c.head.toLowerCase()).toContain('upgrade: websocket');
        const hello = await c.next();
        const room = rooms[i % 6];
        const set = replicaOfRoom.get(room) ?? new Set<string>();
        set.add(hello.payload.toString());
        replicaOfRoom.set(room, set);
        const text = `message ${i} in ${room} \u00e9\u00e8`;
        c.send(OP_TEXT, text);
        const echo = await c.next();
        expect(echo.opcode).toBe(OP_TEXT);
        expect(echo.payload.toString()).toBe(text);
      }),
    );
    for (const [room, set] of replicaOfRoom) expect([room, set.size]).toEqual([room, 1]);
    const used = new Set([...replicaOfRoom.values()].map((s) => [...s][0]));
    expect(used.size).toBeGreaterThan(1);
    // Open tunnels are load on their endpoints and reported apart from requests.
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const openNow = [...metrics.matchAll(/^ringside_tunnels_open\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(openNow).toBe(30);
    expect(metrics).toMatch(/^ringside_tunnel_bytes_total\{upstream="default",endpoint="[^"]+",direction="to_upstream"\} [1-9]/m);
    const status = (await (await fetch(`${proxy.adminUrl}/status.json`)).json()) as { upstreams: { endpoints: unknown[] }[] };
    const endpoints = status.upstreams[0].endpoints as { tunnels: number; inFlight: number }[];
    expect(endpoints.reduce((n, e) => n + e.tunnels, 0)).toBe(30);
    expect(endpoints.reduce((n, e) => n + e.inFlight, 0)).toBe(0);
    expect([...proxy.app.upstreams.get('default')!.endpoints.values()].reduce((n, e) => n + e.inFlight, 0)).toBe(30);
    for (const c of clients) c.socket.end();
    await waitFor('every replica socket closed', () => rs.every((r) => r.open.size === 0));
    await stopWhenIdle(proxy.app);
  });

  it('open tunnels are load for bounded load: one hot room spills over to other replicas', async () => {
    const rs = await replicas(3);
    const proxy = await proxyFor(engine, rs, { upstream: { hashBalanceFactor: 1.25 } });
    const perReplica = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const c = await open(proxy, '/chat?room=hot');
      const replica = (await c.next()).payload.toString();
      perReplica.set(replica, (perReplica.get(replica) ?? 0) + 1);
    }
    // Each handshake has ended (101) before the next starts: only the open tunnels make a replica look busy.
    expect(perReplica.size).toBeGreaterThan(1);
    expect(Math.max(...perReplica.values())).toBeLessThanOrEqual(6);
  });

  it("a client closing its side closes the upstream's within a second, and the tunnel ends cleanly", async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/chat?room=a');
    await c.next();
    const closedAt = performance.now();
    c.socket.end();
    await waitFor('the replica socket closed', () => r.accepted[0].closedAt !== null, 1000);
    expect(r.accepted[0].closedAt! - closedAt).toBeLessThan(1000);
    // The replica answered our FIN with its own: the client sees an orderly end, not a reset.
    expect(await c.closed).toEqual({ error: undefined });
  });

  it("a replica killed mid-tunnel resets the client's tunnel", async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/chat?room=a');
    await c.next();
    r.kill();
    const { error } = await c.closed;
    expect(error).toBe('ECONNRESET');
  });

  it("a client's reset resets the replica's side", async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/chat?room=a');
    await c.next();
    c.socket.resetAndDestroy();
    await waitFor('the replica socket closed', () => r.accepted[0].closedAt !== null, 1000);
    expect(r.accepted[0].error).toBe('ECONNRESET');
  });

  it('large messages under backpressure with a slow client arrive intact, without ringside buffering them', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/chat?room=big', { manualRead: true });
    const messages = Array.from({ length: 8 }, (_, i) => Buffer.alloc(4 * 1024 * 1024, i + 1));
    for (const m of messages) c.send(OP_BINARY, m);
    // The client does not read: the echo must back up into the replica (its writes wait), not into ringside.
    await waitFor('the replica to feel backpressure', () => r.accepted[0]?.socket.writableLength > 0 || r.accepted[0]?.socket.isPaused(), 5000);
    await new Promise((res) => setTimeout(res, 500));
    expect(r.accepted[0].socket.writableLength).toBeGreaterThan(0);
    // What ringside took from the replica for the client stays bounded by socket buffers (a few MiB), far below the 32 MiB echoed.
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const toClient = Number(/^ringside_tunnel_bytes_total\{[^}]*direction="to_client"\} (\d+)/m.exec(metrics)![1]);
    expect(toClient).toBeGreaterThan(0);
    expect(toClient).toBeLessThan(12 * 1024 * 1024);
    // And the replica, not reading while its echoes wait, holds the client back through ringside too.
    const toUpstream = Number(/^ringside_tunnel_bytes_total\{[^}]*direction="to_upstream"\} (\d+)/m.exec(metrics)![1]);
    console.log(`backpressure: ${toClient} bytes to the client, ${toUpstream} to the replica, of ${32 * 1024 * 1024}`);
    expect(toUpstream).toBeLessThan(28 * 1024 * 1024);
    // Now read, slowly at first.
    c.socket.resume();
    expect((await c.next()).payload.toString()).toBe('replica:r0');
    for (const m of messages) {
      const f = await c.next(10_000);
      expect(f.opcode).toBe(OP_BINARY);
      expect(createHash('sha1').update(f.payload).digest('hex')).toBe(createHash('sha1').update(m).digest('hex'));
    }
  });

  it('a handshake whose endpoint refuses connections is sent to another one (never sent: retried)', async () => {
    const [r] = await replicas(1);
    const dead = net.createServer();
    await new Promise<void>((res) => dead.listen(0, '127.0.0.1', res));
    const deadKey = `127.0.0.1:${(dead.address() as net.AddressInfo).port}`;
    await new Promise((res) => dead.close(res));
    const proxy = await proxyFor(engine, [r], { endpoints: [deadKey, r.key], upstream: { ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } } });
    for (let i = 0; i < 10; i++) {
      const c = await open(proxy, `/chat?room=room-${i}`);
      expect(c.status).toBe(101);
      expect((await c.next()).payload.toString()).toBe('replica:r0');
      c.socket.end();
    }
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(Number(/^ringside_retries_total\{upstream="default"\} (\d+)/m.exec(metrics)![1])).toBeGreaterThan(0);
  });

  it('a non-101 answer to the handshake passes through as an ordinary response', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/deny?room=a');
    expect(c.status).toBe(403);
    expect(c.head).toContain('x-replica: r0');
    expect(c.head.toLowerCase()).toContain('connection: close');
    expect(await c.body()).toBe('forbidden');
  });

  it('bytes the client sends right behind its handshake reach the replica', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const early = Buffer.concat([encodeFrame(OP_TEXT, 'first', true), encodeFrame(OP_TEXT, 'second', true)]);
    const c = await open(proxy, '/chat?room=a', { early });
    expect(c.status).toBe(101);
    expect((await c.next()).payload.toString()).toBe('replica:r0');
    expect((await c.next()).payload.toString()).toBe('first');
    expect((await c.next()).payload.toString()).toBe('second');
  });

  it('over --max-tunnels the handshake gets 503; a closed tunnel frees its slot', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r], { global: { maxTunnels: 2 } });
    const registry = proxy.app.listeners[0].route.tunnels!;
    const a = await open(proxy, '/chat?room=a');
    await open(proxy, '/chat?room=b');
    const refused = await open(proxy, '/chat?room=c');
    expect(refused.status).toBe(503);
    expect(refused.head).toContain('x-ringside-error: RS_ERR_TUNNEL_LIMIT');
    a.socket.end();
    await a.closed;
    await waitFor('the slot to be freed', () => registry.count < 2);
    const again = await open(proxy, '/chat?room=c');
    expect(again.status).toBe(101);
  });

  it('a session cookie wins over the hash for tunnels too, and the 101 issues it', async () => {
    const rs = await replicas(3);
    const sessionCookie = { name: 'rs_ws', maxAgeSeconds: 0, path: '/', httpOnly: true, sameSite: null, secure: false };
    const proxy = await proxyFor(engine, rs, { upstream: { sessionCookie } });
    const first = await open(proxy, '/chat?room=r0');
    expect(first.status).toBe(101);
    const setCookie = /^set-cookie: (rs_ws=[^;\r]+)/im.exec(first.head);
    expect(setCookie).not.toBeNull();
    const home = (await first.next()).payload.toString();
    // Rooms that hash all over the ring: with the cookie, every tunnel lands where the session lives.
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const c = await open(proxy, `/chat?room=other-${i}`, { extraHeaders: `cookie: a=b; ${setCookie![1]}\r\n` });
      expect(c.status).toBe(101);
      expect(c.head.toLowerCase()).not.toContain('set-cookie');
      seen.add((await c.next()).payload.toString());
      c.socket.end();
    }
    expect([...seen]).toEqual([home]);
  });

  it('the handshake and the tunnel speak HTTP/1.1 to the endpoint whatever --upstream-protocol says', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r], { upstream: { protocol: 'h2c' } });
    const c = await open(proxy, '/chat?room=a');
    expect(c.status).toBe(101);
    expect((await c.next()).payload.toString()).toBe('replica:r0');
    c.send(OP_TEXT, 'over http/1.1');
    expect((await c.next()).payload.toString()).toBe('over http/1.1');
  });

  it('h2c upgrades are not tunnelled: 501 as before', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const h2c = await new Promise<string>((resolve) => {
      let got = '';
      const s = net.connect(proxy.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n'));
      s.on('data', (d: Buffer) => (got += d));
      s.on('close', () => resolve(got));
    });
    expect(h2c.slice(0, 12)).toBe('HTTP/1.1 501');
  });
});

describe.each(ENGINES)('WebSocket tunnel lifecycle (%s engine)', (engine) => {
  it('--tunnel-idle-timeout closes a quiet tunnel; pings keep another open', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r], { global: { tunnelIdleTimeoutMs: 300 } });
    const quiet = await open(proxy, '/chat?room=a');
    const busy = await open(proxy, '/chat?room=a');
    await quiet.next();
    await busy.next();
    const t0 = performance.now();
    let quietClosedAt = 0;
    void quiet.closed.then(() => (quietClosedAt = performance.now() - t0));
    // Ping every 100 ms for 900 ms: the busy tunnel must survive three idle timeouts.
    for (let i = 0; i < 9; i++) {
      busy.send(OP_PING, 'p');
      expect((await busy.next()).opcode).toBe(10);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(quietClosedAt).toBeGreaterThanOrEqual(280);
    expect(quietClosedAt).toBeLessThan(800);
    expect(busy.socket.destroyed).toBe(false);
    busy.send(OP_TEXT, 'still here');
    expect((await busy.next()).payload.toString()).toBe('still here');
    // Then quiet too: it goes.
    const { error } = await busy.closed;
    expect(error).toBeUndefined();
  });

  it('an endpoint that never answers the handshake gets 504 after the idle timeout, and frees its slot', async () => {
    const silent = net.createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    cleanups.push(() => {
      silent.close();
    });
    const key = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const proxy = await startProxy({ engine, endpoints: [key], global: { tunnelIdleTimeoutMs: 300, maxTunnels: 1 } });
    cleanups.push(() => proxy.stop());
    const t0 = performance.now();
    const c = await open(proxy, '/chat');
    expect(c.status).toBe(504);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    await waitFor('the slot to be freed', () => proxy.app.listeners[0].route.tunnels!.count === 0);
  });

  it('on shutdown tunnels run until the drain timeout, then close', async () => {
    const [r] = await replicas(1);
    const proxy = await proxyFor(engine, [r]);
    const c = await open(proxy, '/chat?room=a');
    await c.next();
    const t0 = performance.now();
    const stopped = proxy.app.stop(600);
    await new Promise((res) => setTimeout(res, 300));
    c.send(OP_TEXT, 'during the drain');
    expect((await c.next()).payload.toString()).toBe('during the drain');
    await c.closed;
    const closedAfter = performance.now() - t0;
    expect(closedAfter).toBeGreaterThanOrEqual(550);
    expect(closedAfter).toBeLessThan(2000);
    await stopped;
    await waitFor('the replica socket closed', () => r.open.size === 0, 1000);
    // Closed, not reset: the replica sees an orderly end.
    expect(r.accepted[0].error).toBeNull();
  });

  it('an endpoint that leaves the set keeps its tunnels for --drain-timeout, then closes them and its series go', async () => {
    const NAME = 'ws.svc.test';
    let pods: WsReplica[] = [];
    for (let attempt = 0; attempt < 10 && pods.length === 0; attempt++) {
      const first = await startWsReplica('a', '127.0.0.2');
      try {
        pods = [first, await startWsReplica('b', '127.0.0.3', first.port)];
      } catch {
        await first.close();
      }
    }
    for (const p of pods) cleanups.push(() => p.close());
    const dns = await startDnsServer();
    cleanups.push(() => dns.close());
    dns.setA(NAME, ['127.0.0.2', '127.0.0.3'], 1);
    const proxy = await startProxy({
      engine,
      target: { kind: 'dns', name: NAME, port: pods[0].port },
      upstream: { dns: { refreshMs: 250, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } } },
      global: { drainTimeoutMs: 700 },
    });
    cleanups.push(() => proxy.stop());
    const upstream = proxy.app.upstreams.get('default')!;
    await waitFor('both endpoints', () => upstream.endpoints.size === 2);
    // Least request: tunnels are load, so six of them spread three and three.
    const clients: { c: WsClient; replica: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await open(proxy, `/chat?n=${i}`);
      clients.push({ c, replica: (await c.next()).payload.toString() });
    }
    expect(clients.filter((x) => x.replica === 'replica:b').length).toBe(3);
    const leaving = clients.filter((x) => x.replica === 'replica:b').map((x) => x.c);
    const staying = clients.filter((x) => x.replica === 'replica:a').map((x) => x.c);
    dns.setA(NAME, ['127.0.0.2'], 1);
    await waitFor('b to drain', () => upstream.draining.size === 1, 3000);
    const t0 = performance.now();
    // Still carried while the drain timeout runs.
    await new Promise((res) => setTimeout(res, 300));
    for (const c of leaving) {
      c.send(OP_TEXT, 'still there');
      expect((await c.next()).payload.toString()).toBe('still there');
    }
    await Promise.all(leaving.map((c) => c.closed));
    const closedAfter = performance.now() - t0;
    expect(closedAfter).toBeGreaterThan(600);
    expect(closedAfter).toBeLessThan(2000);
    await waitFor('the endpoint to finish draining', () => upstream.draining.size === 0, 1000);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).not.toContain(`endpoint="127.0.0.3:${pods[0].port}"`);
    expect(metrics).toContain(`ringside_tunnels_open{upstream="default",endpoint="127.0.0.2:${pods[0].port}"} 3`);
    for (const c of staying) {
      c.send(OP_TEXT, 'unaffected');
      expect((await c.next()).payload.toString()).toBe('unaffected');
    }
  });
});
