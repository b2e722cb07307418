// An upstream's rate limit: which bucket a request takes its token from, and
// whether it got one. One bucket for the upstream, or one per value of a key
// read from the request exactly as the hash policy reads its sources
// (../hash/hash-policy.ts: header, query parameter, cookie); requests without
// the key share one bucket. Key buckets live in a table of at most `maxKeys`,
// the least recently used dropped first (a dropped key starts again full).
//
// The check sits right before an endpoint is picked, once per client request
// (never on our own retries), and costs a field read when no limit is set:
// callers hold `route.rateLimiter`, null then.

import type { RateLimitConfig, RateLimitKey } from '../config/config.ts';
import { createHashPolicy, type HashPolicy, type RequestHeaders } from '../hash/hash-policy.ts';
import { createHash64 } from '../hash/hash64.ts';
import type { Bucket } from './token-bucket.ts';

/** Makes the bucket of one key (`null`: the upstream's, or the keyless requests'). */
export interface BucketFactory {
  /** `local` or `redis` (shown on /status). */
  readonly kind: 'local' | 'redis';
  create(key: string | null, now: number): Bucket;
}

export interface RateLimitStatus {
  readonly rate: string;
  readonly burst: number;
  /** `header:x-api-key`, or null for one bucket per upstream. */
  readonly key: string | null;
  /** Key buckets held now (0 without a key). */
  readonly keys: number;
  readonly maxKeys: number;
  readonly scope: 'local' | 'redis';
}

/** Two to the 32nd: joins the hash halves into one exact Map key. */
const TWO_32 = 4294967296;

export class RateLimiter {
  readonly upstream: string;
  readonly config: RateLimitConfig;
  /** Lower-case request header names the key is read from (what the lean engine's head parser must keep). */
  readonly keyHeaderNames: readonly string[];
  readonly #factory: BucketFactory;
  readonly #policy: HashPolicy | null;
  readonly #hash = createHash64();
  /** The upstream's bucket without a key; the keyless requests' bucket with one (made on first use). */
  #shared: Bucket | null = null;
  /** Key buckets by the 53 low bits of the key's xxHash64, in use order (Map iteration is insertion order). */
  readonly #keys = new Map<number, Bucket>();

  constructor(upstream: string, config: RateLimitConfig, factory: BucketFactory, now: number) {
    this.upstream = upstream;
    this.config = config;
    this.#factory = factory;
    const key = config.key;
    this.#policy = key === null ? null : createHashPolicy([{ type: key.type, name: key.name, terminal: false }]);
    this.keyHeaderNames = this.#policy === null ? [] : this.#policy.headerNames;
    // The shared bucket exists from the start, so a global limit begins its first lease now.
    if (key === null) this.#shared = factory.create(null, now);
  }

  /**
   * Take a token for one request. `headers` by lower-case name (node's header
   * objects, or the lean parser's kept fields), `path` the request target.
   * Returns 0 when the request may go, else milliseconds until a token is expected.
   */
  check(headers: RequestHeaders, path: string, now: number): number {
    const policy = this.#policy;
    if (policy === null) return (this.#shared as Bucket).take(now);
    return this.#take(policy.compute(headers, path, undefined, this.#hash), now);
  }

  /** check() for a flat [name, value, ...] field list (names in any case), as the Exchange core holds it. */
  checkFields(fields: readonly string[], path: string, now: number): number {
    const policy = this.#policy;
    if (policy === null) return (this.#shared as Bucket).take(now);
    return this.#take(policy.computeFields(fields, path, undefined, this.#hash), now);
  }

  /** A token from the bucket of the key just hashed into #hash, or, when the request had no key, the keyless bucket. */
  #take(keyed: boolean, now: number): number {
    const hash = this.#hash;
    if (!keyed) return (this.#shared ??= this.#factory.create(null, now)).take(now);
    const id = (hash.hi & 0x1fffff) * TWO_32 + hash.lo;
    const keys = this.#keys;
    let bucket = keys.get(id);
    if (bucket === undefined) {
      bucket = this.#factory.create(id.toString(16), now);
      if (keys.size >= this.config.maxKeys) keys.delete(keys.keys().next().value as number);
    } else keys.delete(id);
    // Re-inserted: now the most recently used.
    keys.set(id, bucket);
    return bucket.take(now);
  }

  status(): RateLimitStatus {
    return {
      rate: this.config.rate.text,
      burst: this.config.burst,
      key: formatKey(this.config.key),
      keys: this.#keys.size,
      maxKeys: this.config.maxKeys,
      scope: this.#factory.kind,
    };
  }
}

export function formatKey(key: RateLimitKey | null): string | null {
  return key === null ? null : `${key.type}:${key.name}`;
}
