// Sustained rates through real ringside processes (issue 24): a local limit
// holds on one process; two processes sharing one real redis-server with
// --rate-limit 50/s, offered 100 req/s each, admit about 50 req/s in total
// (without Redis the same pair admits 100/s: the control); the rest get 429
// with the explicit header and never reach the upstream (counted at the
// replica). Redis killed mid-run: requests keep flowing (fail open) without
// errors or stalls, logged once, and once more when it is back. Loads are
// paced, bounded in count and time.

import { afterEach, describe, expect, it } from 'vitest';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { pacedLoad, percentile, type PacedResult } from './support/paced-load.ts';
import { startRedisServer, type RedisServer } from './support/redis-server.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';
import { sleep, unusedPort } from './support/wait.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function replica(): Promise<Replica> {
  const r = await startHttpReplica('r0');
  cleanups.push(() => r.close());
  return r;
}

async function redis(extra: readonly string[] = []): Promise<RedisServer> {
  const r = await startRedisServer(extra);
  cleanups.push(() => r.kill());
  return r;
}

async function ringside(args: string[], env: Record<string, string> = {}): Promise<RingsideProcess> {
  const p = await startRingsideProcess(args, env);
  cleanups.push(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

/** Admitted requests per second among those sent in [from, to) ms. */
function admittedRate(results: readonly PacedResult[], from: number, to: number): number {
  return results.filter((r) => r.at >= from && r.at < to && r.status === 200).length / ((to - from) / 1000);
}

/** Every answer is 200, or 429 with the explicit header and a Retry-After of whole seconds; no failures. */
function expectOnlyAdmittedOrLimited(results: readonly PacedResult[]): void {
  const other = results.filter((r) => r.status !== 200 && !(r.status === 429 && r.ringsideError === 'RS_ERR_RATE_LIMITED' && /^[1-9]\d*$/.test(r.retryAfter ?? '')));
  expect(other.slice(0, 5)).toEqual([]);
}

describe('rate limits at a sustained rate', () => {
  it('a local limit alone holds on one process: 50/s offered 100/s admits about 50/s', async () => {
    const r = await replica();
    const p = await ringside(['--upstream', `static:${r.key}`, '--rate-limit', '50/s']);
    const results = await pacedLoad({ port: p.port, perSecond: 100, durationMs: 4000 });
    expectOnlyAdmittedOrLimited(results);
    const rate = admittedRate(results, 1000, 4000);
    expect(rate).toBeGreaterThan(50 * 0.85);
    expect(rate).toBeLessThan(50 * 1.15);
    expect(results.filter((x) => x.status === 429).length).toBeGreaterThan(100);
    expect(r.requests).toBe(results.filter((x) => x.status === 200).length);
  }, 30_000);

  it('two sidecars sharing one Redis, 50/s offered 100/s each, admit about 50/s in total; the control without Redis admits 100/s', async () => {
    const r = await replica();
    const server = await redis();
    const shared = ['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', server.address];
    const [a, b] = await Promise.all([ringside(shared), ringside(shared)]);
    const [ra, rb] = await Promise.all([pacedLoad({ port: a.port, perSecond: 100, durationMs: 7000 }), pacedLoad({ port: b.port, perSecond: 100, durationMs: 7000 })]);
    const all = [...ra, ...rb];
    expectOnlyAdmittedOrLimited(all);
    // 2 s of warm-up (the initial burst), then a 5 s window.
    const total = admittedRate(all, 2000, 7000);
    expect(total).toBeGreaterThan(50 * 0.85);
    expect(total).toBeLessThan(50 * 1.15);
    // The split between the sidecars is first come, first served, not fair:
    // both offer twice the limit in lock-step (a paced loop each), and whoever
    // asks right after the shared bucket refills takes the token. Seen: 32.4 +
    // 17.6, 43 + 7, and 49 + 0.8. The issue asks for the total; fairness is
    // an open point (closing note of 2026-12-06).
    console.log(`shared 50/s: sidecar a ${admittedRate(ra, 2000, 7000).toFixed(1)}/s, b ${admittedRate(rb, 2000, 7000).toFixed(1)}/s`);
    // What was refused never reached the upstream.
    expect(r.requests).toBe(all.filter((x) => x.status === 200).length);
    // /status shows the shared limit and its Redis.
    const status = (await (await fetch(`http://127.0.0.1:${a.adminPort}/status.json`)).json()) as { upstreams: { rateLimit: unknown }[] };
    expect(status.upstreams[0].rateLimit).toEqual({ rate: '50/s', burst: 50, key: null, keys: 0, maxKeys: 10_000, scope: 'redis', redis: { address: server.address, state: 'up', fail: 'open', lastError: null } });

    // The control: the same pair with local limits only admits twice as much.
    const local = ['--upstream', `static:${r.key}`, '--rate-limit', '50/s'];
    const [c, d] = await Promise.all([ringside(local), ringside(local)]);
    const [rc, rd] = await Promise.all([pacedLoad({ port: c.port, perSecond: 100, durationMs: 3000 }), pacedLoad({ port: d.port, perSecond: 100, durationMs: 3000 })]);
    expect(admittedRate([...rc, ...rd], 1000, 3000)).toBeGreaterThan(100 * 0.85);
  }, 60_000);

  it('per key through Redis: two sidecars share each key\'s bucket (burst 3 at 1/h), keys apart; a new key may pass one request per sidecar on credit', async () => {
    const r = await replica();
    const server = await redis();
    const keyed = ['--upstream', `static:${r.key}`, '--rate-limit', '1/h', '--rate-limit-burst', '3', '--rate-limit-key', 'header:x-tenant'];
    const [a, b] = await Promise.all([ringside([...keyed, '--rate-limit-redis', server.address]), ringside([...keyed, '--rate-limit-redis', server.address])]);
    const send = async (p: RingsideProcess, tenant: string): Promise<number> => {
      const res = await fetch(`http://127.0.0.1:${p.port}/`, { headers: { 'x-tenant': tenant } });
      await res.text();
      await sleep(20);
      return res.status;
    };
    const admitted = async (p: RingsideProcess, q: RingsideProcess, tenant: string): Promise<number> => {
      let ok = 0;
      for (let i = 0; i < 4; i++) if ((await send(p, tenant)) === 200) ok++;
      for (let i = 0; i < 4; i++) if ((await send(q, tenant)) === 200) ok++;
      return ok;
    };
    const shared = [await admitted(a, b, 'red'), await admitted(b, a, 'blue')];
    // Each key: its burst of 3, plus at most one credit per sidecar; 6 when each sidecar counts alone (the control below).
    for (const n of shared) {
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(5);
    }
    const [c, d] = await Promise.all([ringside(keyed), ringside(keyed)]);
    expect(await admitted(c, d, 'red')).toBe(6);
  }, 30_000);

  it('Redis killed mid-run: requests keep flowing without errors or stalls (fail open), logged once; when it is back the limit applies again, logged once', async () => {
    const r = await replica();
    const server = await redis();
    const p = await ringside(['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', server.address]);
    const load = pacedLoad({ port: p.port, perSecond: 100, durationMs: 9000 });
    await sleep(2000);
    await server.kill();
    await sleep(1000);
    const away = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { upstreams: { rateLimit: { redis: { state: string } } }[] };
    expect(away.upstreams[0].rateLimit.redis.state).toBe('down');
    await sleep(1000);
    await server.restart();
    const results = await load;
    // No failures, no 5xx, and no stall: Redis is never awaited by a request.
    expect(results.filter((x) => x.status === 0 || x.status >= 500)).toEqual([]);
    expectOnlyAdmittedOrLimited(results);
    expect(percentile(results.map((x) => x.latencyMs), 99)).toBeLessThan(100);
    expect(Math.max(...results.map((x) => x.latencyMs))).toBeLessThan(1000);
    // Redis away (from 2 s to 4 s, with 300 ms to notice): everything passes.
    const whileAway = results.filter((x) => x.at >= 2300 && x.at < 4000);
    expect(whileAway.length).toBeGreaterThan(150);
    expect(whileAway.filter((x) => x.status !== 200)).toEqual([]);
    // Back (reconnected within about a second of the restart): limited again.
    expect(admittedRate(results, 6500, 9000)).toBeLessThan(50 * 1.15);
    const logged = (prefix: string) => p.logs.filter((l) => String(l.msg).startsWith(prefix));
    expect(logged('rate-limit Redis unreachable')).toHaveLength(1);
    expect(logged('rate-limit Redis reachable again')).toHaveLength(1);
    expect(logged('rate-limit Redis unreachable')[0].level).toBe('warn');
  }, 60_000);

  it('Redis metrics: lease round trips in a histogram, failures counted, up or not', async () => {
    // (Runs against the Redis of a fresh sidecar; the kill test above covers the failures' behaviour.)
    const r = await replica();
    const server = await redis();
    const p = await ringside(['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', server.address]);
    await pacedLoad({ port: p.port, perSecond: 100, durationMs: 1000 });
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text();
    const value = (text: string, name: string): number => Number(text.split('\n').find((l) => l.startsWith(name + ' '))?.split(' ')[1]);
    let text = await scrape();
    expect(value(text, 'ringside_rate_limit_redis_duration_seconds_count')).toBeGreaterThan(5);
    expect(value(text, 'ringside_rate_limit_redis_up')).toBe(1);
    expect(value(text, 'ringside_rate_limit_redis_errors_total')).toBe(0);
    await server.kill();
    await pacedLoad({ port: p.port, perSecond: 100, durationMs: 500 });
    text = await scrape();
    expect(value(text, 'ringside_rate_limit_redis_up')).toBe(0);
    expect(value(text, 'ringside_rate_limit_redis_errors_total')).toBeGreaterThan(0);
  }, 30_000);

  it('a Redis that requires a password: the right one from RINGSIDE_RATE_LIMIT_REDIS_PASSWORD shares the limit, a wrong one fails open (logged)', async () => {
    const r = await replica();
    const server = await redis(['--requirepass', 'pa55word']);
    const args = ['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', server.address];
    const [good, bad] = await Promise.all([ringside(args, { RINGSIDE_RATE_LIMIT_REDIS_PASSWORD: 'pa55word' }), ringside(args, { RINGSIDE_RATE_LIMIT_REDIS_PASSWORD: 'wrong' })]);
    type View = { upstreams: { rateLimit: { redis: { state: string; lastError: string | null } } }[] };
    const state = async (p: RingsideProcess): Promise<View['upstreams'][0]['rateLimit']['redis']> =>
      ((await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as View).upstreams[0].rateLimit.redis;
    expect((await state(good)).state).toBe('up');
    const refused = await state(bad);
    expect(refused.state).toBe('down');
    expect(refused.lastError).toMatch(/WRONGPASS|invalid|auth/i);
    expect(bad.logs.filter((l) => String(l.msg).startsWith('rate-limit Redis unreachable'))).toHaveLength(1);
    // The good one is limited (50/s offered 100/s), the bad one passes everything (fail open).
    const [rg, rb] = await Promise.all([pacedLoad({ port: good.port, perSecond: 100, durationMs: 2000 }), pacedLoad({ port: bad.port, perSecond: 100, durationMs: 2000 })]);
    expect(rg.filter((x) => x.status === 429).length).toBeGreaterThan(20);
    expect(rb.filter((x) => x.status !== 200)).toEqual([]);
  }, 30_000);

  it('--rate-limit-redis-fail closed: with Redis unreachable every request is refused with 429, and never reaches the upstream', async () => {
    const r = await replica();
    const p = await ringside(['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', `127.0.0.1:${await unusedPort()}`, '--rate-limit-redis-fail', 'closed']);
    const results = await pacedLoad({ port: p.port, perSecond: 50, durationMs: 1000 });
    expectOnlyAdmittedOrLimited(results);
    expect(results.filter((x) => x.status === 429)).toHaveLength(results.length);
    expect(r.requests).toBe(0);
    expect(p.logs.filter((l) => String(l.msg).startsWith('rate-limit Redis unreachable'))).toHaveLength(1);
  }, 30_000);
});
