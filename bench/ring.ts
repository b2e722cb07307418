// Ring hash benchmark: pick cost (hash a key + find the entry + walk), ring
// build time and memory, load spread, and keys moved when scaling, for both
// ring modes. Run: npx node bench/ring.ts   (prints markdown tables)
// Every loop is bounded by a fixed count.

import { initXxhash64, xxhash64 } from '../lib/hash/xxhash64.ts';
import type { Hash64 } from '../lib/hash/hash64.ts';
import type { BalancerEndpoint } from '../lib/balancer/balancer.ts';
import { buildRing } from '../lib/balancer/ring-hash/ring.ts';
import type { RingMode, RingOptions } from '../lib/balancer/ring-hash/ring.ts';
import { RingHashBalancer } from '../lib/balancer/ring-hash/ring-hash-balancer.ts';
import { RoundRobinBalancer } from '../lib/balancer/round-robin/round-robin-balancer.ts';

await initXxhash64();

const MODES: RingMode[] = ['stable', 'envoy'];
const options = (mode: RingMode): RingOptions => ({ mode, entriesPerEndpoint: 160, minRingSize: 1024, maxRingSize: 8388608 });

function endpoints(n: number): BalancerEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`, weight: 1, effectiveWeight: 1, inFlight: 0, available: true }));
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
};

// --- pick cost -------------------------------------------------------------
const KEYS = Array.from({ length: 4096 }, (_, i) => `user-${(i * 2654435761) >>> 0}`);
function pickCost(mode: RingMode, n: number): { medianNs: number; hashOnlyNs: number } {
  const lb = new RingHashBalancer<BalancerEndpoint>({ ...options(mode), hashBalanceFactor: null, fallback: new RoundRobinBalancer() });
  lb.update(endpoints(n));
  const h: Hash64 = { hi: 0, lo: 0 };
  const batch = 2000;
  const samples: number[] = [];
  const hashSamples: number[] = [];
  let sink = 0;
  for (let round = 0; round < 60; round++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      xxhash64(KEYS[(round * batch + i) & 4095], h);
      sink += lb.pick(h, null)!.weight;
    }
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
    t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      xxhash64(KEYS[(round * batch + i) & 4095], h);
      sink += h.lo & 1;
    }
    hashSamples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  if (sink < 0) console.log(sink);
  // Drop the first 10 rounds (JIT warm-up).
  return { medianNs: median(samples.slice(10)), hashOnlyNs: median(hashSamples.slice(10)) };
}

// --- build ------------------------------------------------------------------
function buildCost(mode: RingMode, n: number): { ms: number; entries: number; bytes: number } {
  const set = endpoints(n);
  const times: number[] = [];
  let entries = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    entries = buildRing(set, options(mode)).entries;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  // Retained memory: three Uint32Array entries (hi, lo, endpoint) + per-endpoint count and share.
  const bytes = entries * 12 + n * 12;
  return { ms: median(times), entries, bytes };
}

// --- spread and movement ----------------------------------------------------
const SPREAD_KEYS = 100_000;
const spreadHashes: Hash64[] = Array.from({ length: SPREAD_KEYS }, (_, i) => {
  const h = { hi: 0, lo: 0 };
  xxhash64(`spread-${i}`, h);
  return h;
});

function assign(mode: RingMode, set: BalancerEndpoint[]): string[] {
  const ring = buildRing(set, options(mode));
  return spreadHashes.map((h) => set[ring.endpointIndex[ring.find(h)]].key);
}

function spread(mode: RingMode, n: number): { maxOverMean: number; cv: number } {
  const owners = assign(mode, endpoints(n));
  const counts = new Map<string, number>();
  for (const k of owners) counts.set(k, (counts.get(k) ?? 0) + 1);
  const values = [...counts.values()];
  while (values.length < n) values.push(0);
  const mean = SPREAD_KEYS / n;
  const variance = values.reduce((s, c) => s + (c - mean) ** 2, 0) / n;
  return { maxOverMean: Math.max(...values) / mean, cv: Math.sqrt(variance) / mean };
}

function moved(mode: RingMode, from: number, to: number): number {
  const a = assign(mode, endpoints(from));
  const b = assign(mode, endpoints(to));
  let m = 0;
  for (let i = 0; i < SPREAD_KEYS; i++) if (a[i] !== b[i]) m++;
  return m / SPREAD_KEYS;
}

// Warm the JIT on both modes before measuring anything.
for (const mode of MODES) pickCost(mode, 100);

const out: string[] = [];
out.push('### Pick cost (xxHash64 of a ~16-byte key + binary search + walk), median of 50 batches of 2000');
out.push('');
out.push('| mode | endpoints | ring entries | pick ns (median) | of which hashing ns |');
out.push('|---|---:|---:|---:|---:|');
for (const mode of MODES) {
  for (const n of [4, 100, 1000]) {
    const r = pickCost(mode, n);
    out.push(`| ${mode} | ${n} | ${buildRing(endpoints(n), options(mode)).entries} | ${r.medianNs.toFixed(0)} | ${r.hashOnlyNs.toFixed(0)} |`);
  }
}
out.push('');
out.push('### Ring build (median of 5) and retained memory of the typed arrays');
out.push('');
out.push('| mode | endpoints | entries | build ms | memory KiB |');
out.push('|---|---:|---:|---:|---:|');
for (const mode of MODES) {
  for (const n of [10, 100, 1000]) {
    const r = buildCost(mode, n);
    out.push(`| ${mode} | ${n} | ${r.entries} | ${r.ms.toFixed(1)} | ${(r.bytes / 1024).toFixed(0)} |`);
  }
}
out.push('');
out.push(`### Load spread over ${SPREAD_KEYS / 1000}k keys (stable: 160 entries/endpoint; envoy: minRingSize 1024)`);
out.push('');
out.push('| mode | endpoints | max / mean | coefficient of variation |');
out.push('|---|---:|---:|---:|');
for (const mode of MODES) {
  for (const n of [4, 10, 50, 100]) {
    const r = spread(mode, n);
    out.push(`| ${mode} | ${n} | ${r.maxOverMean.toFixed(3)} | ${r.cv.toFixed(3)} |`);
  }
}
out.push('');
out.push(`### Keys moved when scaling (${SPREAD_KEYS / 1000}k keys)`);
out.push('');
out.push('| change | ideal | stable | envoy |');
out.push('|---|---:|---:|---:|');
for (const [from, to] of [
  [4, 5],
  [10, 11],
  [50, 49],
]) {
  const ideal = Math.abs(to - from) / Math.max(from, to);
  out.push(`| ${from} -> ${to} | ${(ideal * 100).toFixed(1)}% | ${(moved('stable', from, to) * 100).toFixed(1)}% | ${(moved('envoy', from, to) * 100).toFixed(1)}% |`);
}
console.log(out.join('\n'));
