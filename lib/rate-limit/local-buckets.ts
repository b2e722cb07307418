// Buckets held in this process only: each sidecar admits up to the rate by itself.

import type { RateLimitConfig } from '../config/config.ts';
import type { BucketFactory } from './rate-limiter.ts';
import { TokenBucket } from './token-bucket.ts';

export function createLocalBuckets(config: RateLimitConfig): BucketFactory {
  return {
    kind: 'local',
    create: (_key, now) => new TokenBucket(config.rate.perSecond, config.burst, now),
  };
}
