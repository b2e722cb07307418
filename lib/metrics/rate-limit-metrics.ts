// The global rate limit's Redis, seen from one sidecar: lease round trips
// (a histogram), failures, and whether it is reachable now. Registered only
// when --rate-limit-redis is set. Requests refused by any limit count in
// ringside_proxy_errors_total{reason="rate_limited"} (./metrics.ts), per upstream.

import type { Registry } from './registry.ts';
import { registerCollectedMetric } from './collected-metric.ts';

export interface RateLimitRedisMetrics {
  /** One lease round trip took `seconds`. */
  leaseDone(seconds: number): void;
  /** A lease failed (refused, connection lost, timed out). */
  leaseFailed(): void;
  reachable(up: boolean): void;
}

/** A lease is one small script on a nearby Redis: 50 µs to 1 s. */
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const LE = [...BUCKETS.map(String), '+Inf'];

export function registerRateLimitRedisMetrics(registry: Registry): RateLimitRedisMetrics {
  const counts = new Float64Array(BUCKETS.length + 1);
  let sum = 0;
  let count = 0;
  let errors = 0;
  let up = 0;
  const bucketLabels = LE.map((le) => ({ le }));
  const none = {};
  registerCollectedMetric(registry, {
    name: 'ringside_rate_limit_redis_duration_seconds',
    help: 'Round trip of one token lease from the rate-limit Redis.',
    type: 'histogram',
    collect(out) {
      let cumulative = 0;
      for (let b = 0; b < counts.length; b++) {
        cumulative += counts[b];
        out.push({ metricName: 'ringside_rate_limit_redis_duration_seconds_bucket', labels: bucketLabels[b], value: cumulative });
      }
      out.push({ metricName: 'ringside_rate_limit_redis_duration_seconds_sum', labels: none, value: sum });
      out.push({ metricName: 'ringside_rate_limit_redis_duration_seconds_count', labels: none, value: count });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_rate_limit_redis_errors_total',
    help: 'Token leases from the rate-limit Redis that failed (unreachable, refused, or slower than 250ms).',
    type: 'counter',
    collect(out) {
      out.push({ labels: none, value: errors });
    },
  });
  registerCollectedMetric(registry, {
    name: 'ringside_rate_limit_redis_up',
    help: '1 when the last token lease from the rate-limit Redis succeeded, else 0 (requests then pass, or fail with --rate-limit-redis-fail closed).',
    type: 'gauge',
    collect(out) {
      out.push({ labels: none, value: up });
    },
  });
  return {
    leaseDone(seconds) {
      let b = 0;
      while (b < BUCKETS.length && seconds > BUCKETS[b]) b++;
      counts[b]++;
      sum += seconds;
      count++;
    },
    leaseFailed() {
      errors++;
    },
    reachable(isUp) {
      up = isUp ? 1 : 0;
    },
  };
}
