// WebSocket tunnels' limits and lifecycle (issue 21), on both HTTP/1.1
// engines: --max-tunnels, --tunnel-idle-timeout (and the handshake nobody
// answers), shutdown, and an endpoint leaving the set while tunnels are open.

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ENGINES, startProxy } from './support/proxy.ts';
import { startDnsServer } from './support/dns-server.ts';
import { useTunnelFixture, waitFor } from './support/tunnel-fixture.ts';
import { OP_PING, OP_TEXT, startWsReplica, type WsClient, type WsReplica } from './support/websocket.ts';

const { cleanups, replicas, proxyFor, open } = useTunnelFixture();

describe.each(ENGINES)('WebSocket tunnel limits and lifecycle (%s engine)', (engine) => {
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
    // Ping every 100 ms for 1.2 s: the busy tunnel must survive four idle timeouts.
    for (let i = 0; i < 12; i++) {
      busy.send(OP_PING, 'p');
      expect((await busy.next()).opcode).toBe(10);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(quietClosedAt).toBeGreaterThanOrEqual(280);
    expect(quietClosedAt).toBeLessThan(1100); // 300 ms + a sweep (75 ms), with room for a loaded machine
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

  it('a non-101 answer whose body stalls is cut after the idle timeout, and frees its slot', async () => {
    // The replica refuses the switch with a 403 that promises 100 bytes and sends 7, then nothing.
    const stalling = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 100\r\n\r\npartial'));
    });
    await new Promise<void>((res) => stalling.listen(0, '127.0.0.1', res));
    cleanups.push(() => {
      stalling.close();
    });
    const key = `127.0.0.1:${(stalling.address() as net.AddressInfo).port}`;
    const proxy = await startProxy({ engine, endpoints: [key], global: { tunnelIdleTimeoutMs: 300, maxTunnels: 1 } });
    cleanups.push(() => proxy.stop());
    const endpoint = proxy.app.upstreams.get('default')!.endpoints.get(key)!;
    const c = await open(proxy, '/chat');
    expect(c.status).toBe(403);
    const closed = await Promise.race([c.closed.then(() => true), new Promise<boolean>((res) => setTimeout(res, 2000, false))]);
    // Cut (the client sees the connection close short of the 100 bytes), not held for ever.
    expect(closed).toBe(true);
    await waitFor('the slot and the load to be freed', () => proxy.app.listeners[0].route.tunnels!.count === 0 && endpoint.inFlight === 0);
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
  it('a handshake in flight when its endpoint leaves the set: its tunnel still closes after --drain-timeout, and the endpoint drains', async () => {
    // Pod b (127.0.0.3) holds the handshake until told to answer; pod a (127.0.0.2) shares its port.
    const NAME = 'ws-late.svc.test';
    const held: net.Socket[] = [];
    let slow: net.Server | null = null;
    let a: WsReplica | null = null;
    for (let attempt = 0; attempt < 10 && a === null; attempt++) {
      const s = net.createServer((socket) => {
        socket.on('error', () => {});
        let head = '';
        const onHead = (chunk: Buffer): void => {
          head += chunk.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          socket.off('data', onHead);
          held.push(socket);
        };
        socket.on('data', onHead);
      });
      await new Promise<void>((res) => s.listen(0, '127.0.0.3', res));
      try {
        a = await startWsReplica('a', '127.0.0.2', (s.address() as net.AddressInfo).port);
        slow = s;
      } catch {
        s.close();
      }
    }
    cleanups.push(() => {
      for (const s of held) s.destroy();
      slow!.close();
    });
    cleanups.push(() => a!.close());
    const port = a!.port;
    const dns = await startDnsServer();
    cleanups.push(() => dns.close());
    dns.setA(NAME, ['127.0.0.3'], 1);
    const proxy = await startProxy({
      engine,
      target: { kind: 'dns', name: NAME, port },
      upstream: { dns: { refreshMs: 250, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } } },
      global: { drainTimeoutMs: 700 },
    });
    cleanups.push(() => proxy.stop());
    const upstream = proxy.app.upstreams.get('default')!;
    await waitFor('b in the set', () => upstream.endpoints.size === 1);
    const opening = open(proxy, '/chat?room=late');
    await waitFor('the handshake held by b', () => held.length === 1);
    dns.setA(NAME, ['127.0.0.2'], 1);
    await waitFor('b to leave the set', () => upstream.draining.size === 1, 3000);
    const t0 = performance.now();
    // b answers now: the tunnel opens on an endpoint that already left the set.
    held[0].write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    held[0].on('data', (chunk: Buffer) => held[0].write(chunk));
    const c = await opening;
    expect(c.status).toBe(101);
    const closedIn = await Promise.race([c.closed.then(() => performance.now() - t0), new Promise<number>((res) => setTimeout(res, 3000, -1))]);
    // Closed by the drain timeout counted from the removal (700 ms), not left open for ever.
    expect(closedIn).toBeGreaterThan(0);
    expect(closedIn).toBeLessThan(2500);
    await waitFor('b to finish draining', () => upstream.draining.size === 0, 1000);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).not.toContain(`endpoint="127.0.0.3:${port}"`);
  });
});
