// Per-request CPU of the rate-limit check (issue 24): no limiter (the one
// field read the request path pays then), the local token bucket (one bucket,
// and one per key of 1000 header values), and the global limiter leasing from
// a real redis-server: the take itself (a leased token, a counter decrement)
// plus the CPU of one lease (client encode, Redis reply, decode, promise)
// spread over the tokens it brings (batch = about 100 ms of this sidecar's
// share of the rate). Starts its own redis-server on a free loopback port
// (--save '' --appendonly no) and stops it by PID.
// Run: npx node bench/rate-limit.ts   (prints a markdown table; ~10 s)
// Every loop is bounded by a fixed count.

import { spawn } from 'node:child_process';
import net from 'node:net';
import type { RateLimitConfig } from '../lib/config/config.ts';
import { initXxhash64 } from '../lib/hash/xxhash64.ts';
import { silentLogger } from '../lib/log/logger.ts';
import { Registry } from '../lib/metrics/registry.ts';
import { registerRateLimitRedisMetrics } from '../lib/metrics/rate-limit-metrics.ts';
import { LeasedBucket } from '../lib/rate-limit/leased-bucket.ts';
import { createLocalBuckets } from '../lib/rate-limit/local-buckets.ts';
import { RateLimiter } from '../lib/rate-limit/rate-limiter.ts';
import { RedisBudget } from '../lib/rate-limit/redis-budget.ts';

await initXxhash64();
let clock = performance.now();
const tick = (): number => (clock += 0.001);
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

// The request path passes the time it already read (the exchange's start), so
// the loops pass a clock that advances 1 µs per call instead of reading one.
/** ns per call of `fn`, the median of 30 rounds after 10 warm-up rounds. */
function nsPerCall(fn: (i: number) => number, batch = 200_000): number {
  const samples: number[] = [];
  let sink = 0;
  for (let round = 0; round < 40; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink += fn(i);
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  if (sink === -1) console.log(sink);
  return median(samples.slice(10));
}

function config(perSecond: number, key: RateLimitConfig['key'] = null): RateLimitConfig {
  return { rate: { perSecond, text: `${perSecond}/s` }, burst: Math.ceil(perSecond), key, maxKeys: 10_000 };
}

const rows: string[] = [];
const row = (what: string, ns: number, note: string) => rows.push(`| ${what} | ${ns.toFixed(1)} | ${note} |`);

// No limiter: what Exchange.start / ServerConnection.#startExchange pay, a null check.
const route: { rateLimiter: RateLimiter | null } = { rateLimiter: null };
row('no limiter', nsPerCall(() => (route.rateLimiter != null ? 1 : 0)), 'the `route.rateLimiter` null check');

// Local, one bucket: every request admitted (a rate far above the loop's).
const headers = { 'x-api-key': 'k0' };
const local = new RateLimiter('b', config(1e9), createLocalBuckets(config(1e9)), performance.now());
row('local, one bucket', nsPerCall(() => local.check(headers, '/', tick())), 'admitted');
const refusing = new RateLimiter('b', config(1), createLocalBuckets(config(1)), performance.now());
row('local, one bucket, over the limit', nsPerCall(() => refusing.check(headers, '/', tick())), 'refused (the caller then answers 429)');

// Local, per key: 1000 distinct header values (xxHash64 of the value + LRU Map).
const keyed = new RateLimiter('b', config(1e9, { type: 'header', name: 'x-api-key' }), createLocalBuckets(config(1e9)), performance.now());
const keyHeaders = Array.from({ length: 1000 }, (_, i) => ({ 'x-api-key': `key-${i}` }));
row('local, per key (1000 keys)', nsPerCall((i) => keyed.check(keyHeaders[i % 1000], '/', tick())), 'header key, hashed and looked up per request');
// A limiter of its own: one fed both node's header objects and the lean parser's sees several object shapes (slower, polymorphic).
const keyedFields = new RateLimiter('b', config(1e9, { type: 'header', name: 'x-api-key' }), createLocalBuckets(config(1e9)), performance.now());
const fieldLists = Array.from({ length: 1000 }, (_, i) => ['host', 'example', 'x-api-key', `key-${i}`, 'accept', '*/*']);
row('local, per key, flat field list (1000 keys)', nsPerCall((i) => keyedFields.checkFields(fieldLists[i % 1000], '/', tick())), 'the Exchange core path (finds the field first)');

// Global: a real redis-server.
const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const redisProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
await new Promise<void>((resolve) => {
  let out = '';
  redisProcess.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('Ready to accept connections')) resolve();
  });
});
try {
  const budget = await RedisBudget.connect({ address: { host: '127.0.0.1', port }, tls: false, user: null, password: null, fail: 'open' }, silentLogger, registerRateLimitRedisMetrics(new Registry()));

  // The take with leased tokens at hand: give the bucket a lease that never runs out during the loop.
  const bucket = new LeasedBucket(budget, 'ringside:rl:{bench}:all', 'ringside:rl:{bench}:sidecars', 1e9, 1e9, performance.now());
  await new Promise((r) => setTimeout(r, 50));
  bucket.leased(1e9, 0, 1, performance.now());
  bucket.expiresAt = Number.POSITIVE_INFINITY;
  row('global, a leased token at hand', nsPerCall(() => bucket.take(tick())), 'the request path; Redis is never awaited');

  // One lease's CPU in this process (client encode, reply decode, promises): 100 leases in flight at a time, as many buckets would.
  const probes = Array.from({ length: 100 }, (_, i) => new LeasedBucket(budget, `ringside:rl:{bench}:k:${i}`, 'ringside:rl:{bench}:sidecars', 1e6, 1e6, performance.now()));
  await new Promise((r) => setTimeout(r, 100));
  const rounds = 60;
  const leaseRound = (): Promise<void> =>
    new Promise((resolve) => {
      let left = probes.length;
      for (const b of probes) {
        b.leased = () => {
          if (--left === 0) resolve();
        };
        budget.lease(b, 3, performance.now());
      }
    });
  for (let i = 0; i < 10; i++) await leaseRound();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await leaseRound();
  const leases = rounds * probes.length;
  const wall = (performance.now() - t0) / rounds;
  const cpu = process.cpuUsage(cpu0);
  const leaseNs = ((cpu.user + cpu.system) * 1000) / leases;
  // And one at a time: each lease then also pays waking the event loop for its reply (an upper bound).
  const single = probes[0];
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  for (let i = 0; i < 2000; i++) {
    await new Promise<void>((resolve) => {
      single.leased = () => resolve();
      budget.lease(single, 3, performance.now());
    });
  }
  const cpuSingle = process.cpuUsage(cpu1);
  row('one lease, one at a time', ((cpuSingle.user + cpuSingle.system) * 1000) / 2000, `CPU in this process, idle loop woken per reply (wall ${(((performance.now() - t1) / 2000) * 1000).toFixed(0)} µs each)`);
  row('one lease (round trip to Redis)', leaseNs, `CPU in this process, 100 in flight (a round of 100: ${(wall * 1000).toFixed(0)} µs)`);
  for (const [rate, sidecars] of [
    [50, 2],
    [1000, 1],
    [1000, 4],
    [10_000, 2],
  ] as const) {
    const batch = Math.max(1, Math.ceil((rate / sidecars) * 0.1));
    row(`global at ${rate}/s, ${sidecars} sidecar${sidecars > 1 ? 's' : ''}: take + lease / ${batch}`, nsPerCall(() => bucket.take(tick())) + leaseNs / batch, `a lease every ${batch} request${batch > 1 ? 's' : ''}`);
  }
  budget.close();
} finally {
  redisProcess.kill('SIGKILL');
}

console.log('| check | ns per request | note |');
console.log('|---|--:|---|');
for (const r of rows) console.log(r);
