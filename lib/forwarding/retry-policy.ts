// When a failed attempt is sent again, and where: the retry rules every
// request follows, whatever codec serves its client: the Exchange core
// (./exchange.ts) applies them for all of them, and the tunnel core
// (./tunnel.ts) to handshakes. The codecs only say whether they can replay
// the body and how to send the request again.

import { ErrorCodes, type RingsideError } from '../errors/errors.ts';
import { statusOf } from '../errors/status.ts';
import type { Hash64 } from '../hash/hash64.ts';
import type { ClientProtocol } from './exchange.ts';
import type { Route } from './route.ts';
import type { Endpoint } from '../upstream/endpoint.ts';

/** RFC 9110 section 9.2.2: methods whose repetition has the same effect as one request. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether attempt number `attempt` (1 = the first) may be followed by another
 * after `err`: within --retries; not when another endpoint would not help (the
 * client's deadline passed, it left, or its head is too large for replicas
 * that share one limit); and only for a request the endpoint never processed
 * (`neverProcessed`: connect failure, REFUSED_STREAM, above a GOAWAY) or an
 * idempotent one. The codec then checks that it can replay the body.
 */
export function retryAllowed(route: Route, attempt: number, err: RingsideError, neverProcessed: boolean, method: string): boolean {
  if (attempt > route.upstream.config.retries) return false;
  if (err.code === ErrorCodes.TIMEOUT || err.code === ErrorCodes.CLIENT_CANCELLED || err.code === ErrorCodes.HEADERS_TOO_LARGE) return false;
  return neverProcessed || IDEMPOTENT.has(method);
}

/**
 * The endpoint for the next attempt after `failed` failed with `err`, or null:
 * spends the upstream's retry budget, picks another endpoint than those in
 * `tried` (with ring hash, the next distinct one on the ring, so a key whose
 * replica is down always lands on the same stand-in), and accounts the failed
 * attempt on its endpoint (outlier detection, per-endpoint metrics) and as a
 * retry. `failed` is added to `tried`.
 */
export function nextEndpoint(
  route: Route,
  failed: Endpoint,
  err: RingsideError,
  tried: Endpoint[],
  hash: Hash64 | null,
  clientProtocol: ClientProtocol,
  isGrpc: boolean,
  startedAt: number,
): Endpoint | null {
  const upstream = route.upstream;
  const now = performance.now();
  if (!upstream.retryBudget.tryRetry(now)) return null;
  tried.push(failed);
  const next = upstream.pick(hash, tried);
  if (next === null) return null;
  const s = statusOf(err);
  failed.requestFinished(true);
  route.observer.requestFinished(route, failed, clientProtocol, s.httpStatus, isGrpc ? s.grpcStatus : -1, (now - startedAt) / 1000);
  route.observer.retried(route, err);
  if (route.logger.debugEnabled) route.logger.debug('retry', { upstream: upstream.name, from: failed.key, to: next.key, error: err.message });
  return next;
}
