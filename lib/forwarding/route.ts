// What a listener forwards to: its upstream, how to hash, how to speak to the
// endpoints, and who observes the outcome (metrics). Built once per listener.

import type { UpstreamProtocol } from '../config/config.ts';
import type { RingsideError } from '../errors/errors.ts';
import type { HashPolicy } from '../hash/hash-policy.ts';
import type { Hash64 } from '../hash/hash64.ts';
import type { Logger } from '../log/logger.ts';
import type { RateLimiter } from '../rate-limit/rate-limiter.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { ClientProtocol } from './exchange.ts';
import type { SessionCookie } from './session-cookie.ts';
import type { TunnelRegistry } from './tunnel-registry.ts';

/** Receives the outcome of every request; implemented by the metrics wiring in app.ts. */
export interface RequestObserver {
  /** A request was dispatched to an endpoint. */
  requestStarted(route: Route, endpoint: Endpoint): void;
  /** A request that reached an endpoint finished (successfully or not). */
  requestFinished(route: Route, endpoint: Endpoint, protocol: ClientProtocol, httpStatus: number, grpcStatus: number, seconds: number): void;
  /** The proxy generated an error response (or reset) for this request. */
  proxyError(route: Route, err: RingsideError, endpoint: Endpoint | null): void;
  /** The client sent something the listener rejected before any upstream was involved. */
  badRequest(route: Route): void;
  /** A request is being retried on another endpoint after `err`. */
  retried(route: Route, err: RingsideError): void;
  /** A ring-hash request carried none of the configured hash keys (it went to the fallback policy). */
  hashKeyMissing(route: Route): void;
  /** The request's trailers could not be forwarded (content-length declared, HTTP/1.1 upstream) and were dropped. */
  requestTrailersDropped(route: Route): void;
}

export interface Route {
  readonly listenerName: string;
  /** This listener's index among the listeners of its upstream (Endpoint.metrics[slot]). */
  readonly slot: number;
  readonly upstream: Upstream;
  readonly hashPolicy: HashPolicy | null;
  readonly protocol: UpstreamProtocol;
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  readonly observer: RequestObserver;
  /** The upstream's rate limit (shared by its listeners); absent or null: none, and the check is one field read. */
  readonly rateLimiter?: RateLimiter | null;
  /** The upstream's sticky-session cookie (shared by its listeners, ./session-cookie.ts); absent or null: none. */
  readonly sessionCookie?: SessionCookie | null;
  /** The process's tunnels (--max-tunnels, --tunnel-idle-timeout); absent or null: no cap, no idle timeout. */
  readonly tunnels?: TunnelRegistry | null;
  /** Scratch hash reused by every request of this listener: hashing and picking are synchronous. */
  readonly hash: Hash64;
}
