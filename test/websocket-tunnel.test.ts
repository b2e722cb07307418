// WebSockets through ringside (issue 21), on both HTTP/1.1 engines: the
// handshake is balanced like any request (ring hash on ?room= keeps a room on
// one replica, a session cookie wins, open tunnels are load), a 101 turns both
// connections into a tunnel that carries bytes both ways with backpressure,
// passes half-close on and resets with its peer; any other answer is an
// ordinary response. Limits and lifecycle: ./websocket-tunnel-lifecycle.test.ts.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ENGINES, stopWhenIdle } from './support/proxy.ts';
import { useTunnelFixture, waitFor } from './support/tunnel-fixture.ts';
import { encodeFrame, OP_BINARY, OP_TEXT } from './support/websocket.ts';

const { replicas, proxyFor, open } = useTunnelFixture();

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
