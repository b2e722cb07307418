// Pick cost of the policies without a hash (round robin, random, least
// request), with equal weights (the common case: O(1) picks) and while one
// endpoint is in slow start (weights differ: a pass over the endpoints per
// pick). Run: npx node bench/pick.ts   (prints a markdown table)
// Every loop is bounded by a fixed count.

import type { Balancer, BalancerEndpoint } from '../lib/balancer/balancer.ts';
import { LeastRequestBalancer } from '../lib/balancer/least-request/least-request-balancer.ts';
import { RandomBalancer } from '../lib/balancer/random/random-balancer.ts';
import { RoundRobinBalancer } from '../lib/balancer/round-robin/round-robin-balancer.ts';

type Mutable = { -readonly [K in keyof BalancerEndpoint]: BalancerEndpoint[K] };

function endpoints(n: number): Mutable[] {
  return Array.from({ length: n }, (_, i) => ({ key: `10.0.${i >> 8}.${i & 255}:8080`, weight: 1, effectiveWeight: 1, inFlight: i % 3, available: true }));
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

function cost(create: () => Balancer<Mutable>, n: number, ramping: boolean): number {
  const set = endpoints(n);
  if (ramping) set[n - 1].effectiveWeight = 0.3;
  const lb = create();
  lb.update(set);
  const batch = 20_000;
  const samples: number[] = [];
  let sink = 0;
  for (let round = 0; round < 40; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink += lb.pick(null, null)!.inFlight;
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  if (sink < 0) console.log(sink);
  return median(samples.slice(10)); // the first rounds warm the JIT up
}

const POLICIES: [string, () => Balancer<Mutable>][] = [
  ['round_robin', () => new RoundRobinBalancer<Mutable>()],
  ['random', () => new RandomBalancer<Mutable>()],
  ['least_request', () => new LeastRequestBalancer<Mutable>()],
];

console.log('| policy | endpoints | equal weights (ns/pick) | one in slow start (ns/pick) |');
console.log('|---|--:|--:|--:|');
for (const [name, create] of POLICIES) {
  for (const n of [3, 10, 50]) {
    console.log(`| ${name} | ${n} | ${cost(create, n, false).toFixed(1)} | ${cost(create, n, true).toFixed(1)} |`);
  }
}
