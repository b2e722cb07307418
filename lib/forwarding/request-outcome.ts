// How a finished request is accounted, whichever codec served it: its error
// (if ringside answered with one) counted by reason, its endpoint told whether
// it failed (outlier detection), its metrics, and the request log line.

import { blamesEndpoint, type RingsideError } from '../errors/errors.ts';
import { GrpcStatus } from '../errors/status.ts';
import type { ClientProtocol } from './exchange.ts';
import type { Route } from './route.ts';
import type { Endpoint } from '../upstream/endpoint.ts';

/**
 * Account one finished request. `endpoint`: where its last attempt went (null
 * when none was picked); `status` / `grpcStatus`: what the client was sent
 * (grpcStatus -1 when unknown or not gRPC); `attempts`: how many endpoints it
 * was sent to.
 */
export function requestFinished(
  route: Route,
  endpoint: Endpoint | null,
  err: RingsideError | null,
  clientProtocol: ClientProtocol,
  status: number,
  grpcStatus: number,
  startedAt: number,
  attempts: number,
): void {
  if (err !== null) route.observer.proxyError(route, err, endpoint);
  if (endpoint !== null) {
    // What counts against the endpoint for outlier detection: its own
    // failures, not the client's cancellations or oversized heads.
    endpoint.requestFinished(err !== null ? blamesEndpoint(err) : status >= 500 || grpcStatus === GrpcStatus.UNAVAILABLE);
    route.observer.requestFinished(route, endpoint, clientProtocol, status, grpcStatus, (performance.now() - startedAt) / 1000);
  }
  if (route.logger.debugEnabled) {
    route.logger.debug('request', {
      listener: route.listenerName,
      upstream: route.upstream.name,
      endpoint: endpoint?.key,
      attempts,
      status,
      grpcStatus,
      error: err?.message,
    });
  }
}
