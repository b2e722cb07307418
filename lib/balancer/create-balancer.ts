// Builds the balancer an upstream's configuration asks for. The only place
// that maps `lb` / `hashFallback` names to policy classes.

import type { FallbackPolicy, UpstreamConfig } from '../config/config.ts';
import type { Balancer, BalancerEndpoint } from './balancer.ts';
import { LeastRequestBalancer } from './least-request/least-request-balancer.ts';
import { RandomBalancer } from './random/random-balancer.ts';
import { RingHashBalancer } from './ring-hash/ring-hash-balancer.ts';
import { RoundRobinBalancer } from './round-robin/round-robin-balancer.ts';

type BalancerConfig = Pick<
  UpstreamConfig,
  'lb' | 'hashFallback' | 'ringMode' | 'ringEntriesPerEndpoint' | 'minRingSize' | 'maxRingSize' | 'hashBalanceFactor'
>;

/**
 * A new balancer with no endpoints (call update() before picking).
 * For `ring_hash` the result is a RingHashBalancer: check with `instanceof`
 * to read its `hashMissing` counter and `stats()` for metrics.
 */
export function createBalancer<E extends BalancerEndpoint = BalancerEndpoint>(config: BalancerConfig): Balancer<E> {
  switch (config.lb) {
    case 'ring_hash':
      return new RingHashBalancer<E>({
        mode: config.ringMode,
        entriesPerEndpoint: config.ringEntriesPerEndpoint,
        minRingSize: config.minRingSize,
        maxRingSize: config.maxRingSize,
        hashBalanceFactor: config.hashBalanceFactor,
        fallback: createFallback<E>(config.hashFallback),
      });
    case 'round_robin':
    case 'random':
    case 'least_request':
      return createFallback<E>(config.lb);
  }
}

function createFallback<E extends BalancerEndpoint>(policy: FallbackPolicy): Balancer<E> {
  switch (policy) {
    case 'round_robin':
      return new RoundRobinBalancer<E>();
    case 'random':
      return new RandomBalancer<E>();
    case 'least_request':
      return new LeastRequestBalancer<E>();
  }
}
