// The shared Redis behind global rate limits: one connection per process,
// leasing tokens for every leased bucket (./leased-bucket.ts) with one small
// Lua script (./lease-script.ts). The Redis client (@redis/client, node-redis's
// core) is imported only here and only when --rate-limit-redis is set, so a
// sidecar without it never loads it (test/lazy-dependencies.test.ts).
//
// Never on the request path: leases are fire-and-forget promises; with the
// client's offline queue off, a lease while disconnected fails at once instead
// of queueing, and one unanswered for 250 ms counts as failed. Unreachable is
// logged once when it starts and once when it ends, and counted.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RateLimitConfig, RateLimitRedisConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { RateLimitRedisMetrics } from '../metrics/rate-limit-metrics.ts';
import { LEASE_SCRIPT } from './lease-script.ts';
import { type LeaseSource, LeasedBucket } from './leased-bucket.ts';
import type { BucketFactory } from './rate-limiter.ts';

/** A sidecar counts towards a bucket's share for this long after its last lease. */
const SIDECAR_WINDOW_MS = 10_000;
/** How long start-up waits for the first connection before going on without it. */
const CONNECT_WAIT_MS = 2000;

/** The slice of @redis/client's client this module uses. */
interface RedisClientLike {
  connect(): Promise<unknown>;
  sendCommand<T = unknown>(args: readonly string[]): Promise<T>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  destroy(): void;
}

export type RedisState = 'connecting' | 'up' | 'down';

export class RedisBudget implements LeaseSource {
  readonly config: RateLimitRedisConfig;
  readonly failClosed: boolean;
  reachable = false;
  state: RedisState = 'connecting';
  /** The failure that made Redis unreachable last, for /status. */
  lastError: string | null = null;
  readonly #client: RedisClientLike;
  readonly #logger: Logger;
  readonly #metrics: RateLimitRedisMetrics;
  readonly #id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  #sha = '';
  #closed = false;

  private constructor(config: RateLimitRedisConfig, client: RedisClientLike, logger: Logger, metrics: RateLimitRedisMetrics) {
    this.config = config;
    this.failClosed = config.fail === 'closed';
    this.#client = client;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /**
   * Load the client, connect and load the script; waits at most 2 s. A Redis
   * that is not there yet is no reason to refuse to start: the budget then
   * starts unreachable (fail open or closed) and the client keeps reconnecting.
   */
  static async connect(config: RateLimitRedisConfig, logger: Logger, metrics: RateLimitRedisMetrics): Promise<RedisBudget> {
    const { createClient } = await import('@redis/client');
    const { host, port } = config.address;
    const client = createClient({
      socket: {
        host,
        port,
        ...(config.tls ? { tls: true as const, servername: host } : {}),
        connectTimeout: 1000,
        // Back off to once a second while Redis is away; never give up.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000),
      },
      ...(config.user !== null ? { username: config.user } : {}),
      ...(config.password !== null ? { password: config.password } : {}),
      // A command while disconnected fails now rather than waiting in a queue: a lease must never stall.
      disableOfflineQueue: true,
    }) as unknown as RedisClientLike;
    const budget = new RedisBudget(config, client, logger, metrics);
    client.on('error', (err) => budget.#failed(err));
    const connected = client.connect().then(() => budget.#loadScript());
    connected.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, CONNECT_WAIT_MS)));
    await Promise.race([connected.then(() => budget.#succeeded()), waited]).catch((err) => budget.#failed(err as Error));
    clearTimeout(timer);
    if (!budget.reachable) budget.#failed(new Error('not connected within 2s'));
    return budget;
  }

  /** Buckets of one upstream leased from this Redis; `scope` names the shared service (its target), so sidecars calling it share. */
  buckets(scope: string, config: RateLimitConfig): BucketFactory {
    // One hash tag per upstream keeps all its keys in one Redis Cluster slot.
    const prefix = `ringside:rl:{${scope}}`;
    const members = `${prefix}:sidecars`;
    return {
      kind: 'redis',
      create: (key, now) => new LeasedBucket(this, key === null ? `${prefix}:all` : `${prefix}:k:${key}`, members, config.rate.perSecond, config.burst, now),
    };
  }

  lease(bucket: LeasedBucket, want: number, now: number): void {
    if (this.#closed) {
      bucket.leaseFailed(now);
      return;
    }
    const args = [String(bucket.ratePerMs), String(bucket.burst), String(want), this.#id, String(SIDECAR_WINDOW_MS)];
    const reply = this.#sha === ''
      ? this.#client.sendCommand<number[]>(['EVAL', LEASE_SCRIPT, '2', bucket.redisKey, bucket.membersKey, ...args])
      : this.#client.sendCommand<number[]>(['EVALSHA', this.#sha, '2', bucket.redisKey, bucket.membersKey, ...args]);
    reply.then(
      (r) => {
        const done = performance.now();
        this.#metrics.leaseDone((done - now) / 1000);
        this.#succeeded();
        bucket.leased(Number(r[0]), Number(r[1]), Number(r[2]), done);
      },
      (err: Error) => {
        // A restarted Redis forgot the script: load it again (this lease is lost, the next one runs).
        if (err.message.startsWith('NOSCRIPT')) this.#loadScript().catch(() => {});
        this.#failed(err);
        bucket.leaseFailed(performance.now());
      },
    );
  }

  leaseTimedOut(_now: number): void {
    this.#failed(new Error(`no lease answer within 250ms`));
  }

  async #loadScript(): Promise<void> {
    this.#sha = String(await this.#client.sendCommand(['SCRIPT', 'LOAD', LEASE_SCRIPT]));
  }

  #succeeded(): void {
    if (this.reachable) return;
    const wasDown = this.state === 'down';
    this.reachable = true;
    this.state = 'up';
    this.#metrics.reachable(true);
    if (wasDown) this.#logger.info('rate-limit Redis reachable again: global limits apply', { redis: `${this.config.address.host}:${this.config.address.port}` });
  }

  #failed(err: Error): void {
    if (this.#closed) return;
    this.#metrics.leaseFailed();
    // The error that took it down is the informative one (later leases only hear "the client is offline").
    if (this.state === 'down') return;
    this.lastError = err.message;
    this.reachable = false;
    this.state = 'down';
    this.#metrics.reachable(false);
    this.#logger.warn(`rate-limit Redis unreachable: requests ${this.failClosed ? 'are refused (fail closed)' : 'pass unlimited (fail open)'} until it is back`, {
      redis: `${this.config.address.host}:${this.config.address.port}`,
      error: err.message,
    });
  }

  close(): void {
    this.#closed = true;
    this.#client.destroy();
  }
}
