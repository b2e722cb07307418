// Retries: requests that never reached an upstream are sent again on another
// endpoint (ring hash walks to the next distinct one); idempotent requests
// with a replayable body too; everything else fails explicitly. Retries are
// counted and bounded by the retry budget.

import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { request } from 'undici';
import { startHttpReplica, startHttpReplicas } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { unusedPort } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function proxy(options: Parameters<typeof startProxy>[0]): Promise<TestProxy> {
  const p = await startProxy(options);
  cleanups.push(() => p.stop());
  return p;
}

async function metric(p: TestProxy, name: string): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('retries', () => {
  it('GETs and POSTs to a dead endpoint are retried on a live one: no failures, retries counted', async () => {
    const live = await startHttpReplicas(2);
    cleanups.push(() => Promise.all(live.map((r) => r.close())).then(() => {}));
    const dead = `127.0.0.1:${await unusedPort()}`;
    // Ejection off so every request keeps meeting the dead endpoint.
    const p = await proxy({ endpoints: [dead, ...live.map((r) => r.key)], upstream: { lb: 'round_robin', ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } } });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await request(`${p.url}/r${i}`, i % 2 ? { method: 'POST', body: 'x'.repeat(1000) } : {});
      statuses.push(res.statusCode);
      const text = await res.body.text();
      if (i % 2) expect(text).toMatch(/ POST \/r\d+ 1000$/);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Every attempt on the dead endpoint was retried, and counted there as a 5xx attempt.
    const text = await (await request(`${p.adminUrl}/metrics`)).body.text();
    const deadAttempts = text.split('\n').find((l) => l.startsWith('ringside_requests_total{') && l.includes(`endpoint="${dead}"`) && l.includes('code="5xx"'));
    const retries = await metric(p, 'ringside_retries_total');
    expect(retries).toBeGreaterThanOrEqual(8);
    expect(Number(deadAttempts?.split(' ').pop())).toBe(retries);
  });

  it('with --retries 0 the same request fails with an explicit 502', async () => {
    const dead = `127.0.0.1:${await unusedPort()}`;
    const p = await proxy({ endpoints: [dead], upstream: { retries: 0 } });
    const res = await request(`${p.url}/x`);
    expect(res.statusCode).toBe(502);
    expect(res.headers['x-ringside-error']).toBe('RS_ERR_CONNECT_FAILED');
    await res.body.text();
  });

  it('ring hash: a key whose endpoint is down is served by the next distinct endpoint, the same one every time', async () => {
    const live = await startHttpReplicas(3);
    cleanups.push(() => Promise.all(live.map((r) => r.close())).then(() => {}));
    const deadPort = await unusedPort();
    const dead = `127.0.0.1:${deadPort}`;
    const p = await proxy({ endpoints: [dead, ...live.map((r) => r.key)], hashOn: [{ type: 'query', name: 'k', terminal: false }], upstream: { ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } } });
    // Walk keys until two owned by the dead endpoint were found (their first
    // attempt fails and is retried); every key, dead-owned or not, must stay on
    // one replica. Stopping early keeps the retries far inside the retry
    // budget (10 + 20% of requests), whatever share of the ring the dead
    // endpoint owns; 80 keys make missing two of them (at ~25%) vanishingly rare.
    let deadKeys = 0;
    for (let k = 0; k < 80 && deadKeys < 2; k++) {
      const before = await metric(p, 'ringside_retries_total');
      const seen = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const res = await request(`${p.url}/x?k=key${k}`);
        expect(res.statusCode).toBe(200);
        seen.add((await res.body.text()).split(' ')[0]);
      }
      expect(seen.size).toBe(1); // still sticky
      if ((await metric(p, 'ringside_retries_total')) - before === 2) deadKeys++;
    }
    expect(deadKeys).toBe(2);
  });

  it('an idempotent GET reset by the upstream before answering is retried; a POST is not replayed', async () => {
    let resets = 0;
    // An endpoint that accepts, reads the request, then slams the connection.
    const slammer = net.createServer((socket) => {
      socket.once('data', () => {
        resets++;
        socket.resetAndDestroy();
      });
    });
    await new Promise<void>((r) => slammer.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => slammer.close(() => r())));
    const good = await startHttpReplica('good');
    cleanups.push(() => good.close());
    const slamKey = `127.0.0.1:${(slammer.address() as net.AddressInfo).port}`;
    const p = await proxy({ endpoints: [slamKey, good.key], upstream: { lb: 'round_robin', ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } } });
    const gets: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await request(`${p.url}/g`);
      gets.push(res.statusCode);
      await res.body.text();
    }
    expect(gets).toEqual([200, 200, 200, 200, 200, 200]);
    const getResets = resets;
    expect(getResets).toBeGreaterThan(0);
    expect(await metric(p, 'ringside_retries_total')).toBe(getResets);

    const posts: number[] = [];
    const goodBefore = good.requests;
    for (let i = 0; i < 6; i++) {
      const res = await request(`${p.url}/p`, { method: 'POST', body: 'data' });
      posts.push(res.statusCode);
      if (res.statusCode === 502) expect(res.headers['x-ringside-error']).toBe('RS_ERR_UPSTREAM_RESET');
      await res.body.text();
    }
    // Each POST the slammer saw failed explicitly and was not replayed on the good endpoint.
    const postResets = resets - getResets;
    expect(postResets).toBeGreaterThan(0);
    expect(posts.filter((s) => s === 502).length).toBe(postResets);
    expect(posts.filter((s) => s === 200).length).toBe(good.requests - goodBefore);
    expect(await metric(p, 'ringside_retries_total')).toBe(getResets);
  });

  it('the retry budget caps retries at about 20% of requests when everything fails', async () => {
    const deadA = `127.0.0.1:${await unusedPort()}`;
    const deadB = `127.0.0.1:${await unusedPort()}`;
    const p = await proxy({ endpoints: [deadA, deadB], upstream: { retries: 2, ejection: { consecutiveFailures: 0, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 } } });
    for (let i = 0; i < 200; i++) {
      const res = await request(`${p.url}/x`);
      expect(res.statusCode).toBe(502);
      await res.body.text();
    }
    const retries = await metric(p, 'ringside_retries_total');
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(10 + 0.2 * 200);
  });
});
