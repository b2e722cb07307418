import { initXxhash64 } from '../hash/xxhash64.ts';
import { runBalancerConformance } from './balancer-conformance.ts';
import type { MutableEndpoint } from './balancer-conformance.ts';
import { createBalancer } from './create-balancer.ts';
import { LeastRequestBalancer } from './least-request/least-request-balancer.ts';
import { RandomBalancer } from './random/random-balancer.ts';
import { RingHashBalancer } from './ring-hash/ring-hash-balancer.ts';
import { RoundRobinBalancer } from './round-robin/round-robin-balancer.ts';

await initXxhash64();

runBalancerConformance('round_robin', { create: () => new RoundRobinBalancer<MutableEndpoint>(), usesHash: false });
runBalancerConformance('random', { create: () => new RandomBalancer<MutableEndpoint>(), usesHash: false });
runBalancerConformance('least_request', { create: () => new LeastRequestBalancer<MutableEndpoint>(), usesHash: false });
for (const mode of ['stable', 'envoy'] as const) {
  for (const hashBalanceFactor of [null, 1.5]) {
    runBalancerConformance(`ring_hash ${mode}${hashBalanceFactor ? ' bounded' : ''}`, {
      create: () =>
        new RingHashBalancer<MutableEndpoint>({
          mode,
          entriesPerEndpoint: 100,
          minRingSize: 1024,
          maxRingSize: 8388608,
          hashBalanceFactor,
          fallback: new LeastRequestBalancer<MutableEndpoint>(),
        }),
      usesHash: true,
    });
  }
}
runBalancerConformance('createBalancer(ring_hash, fallback random)', {
  create: () =>
    createBalancer<MutableEndpoint>({
      lb: 'ring_hash',
      hashFallback: 'random',
      ringMode: 'stable',
      ringEntriesPerEndpoint: 50,
      minRingSize: 1024,
      maxRingSize: 8388608,
      hashBalanceFactor: null,
    }),
  usesHash: true,
});
