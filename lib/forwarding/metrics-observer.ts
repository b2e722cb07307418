// The RequestObserver that records every request in Prometheus metrics. One
// per listener; every call indexes pre-built handles (no label strings, no lookups).

import { statusOf } from '../errors/status.ts';
import type { UpstreamMetrics } from '../metrics/metrics.ts';
import type { RequestObserver } from './route.ts';

export function createMetricsObserver(upstream: UpstreamMetrics): RequestObserver {
  return {
    requestStarted(route, endpoint) {
      endpoint.metrics[route.slot]?.requestStarted();
    },
    requestFinished(route, endpoint, protocol, httpStatus, grpcStatus, seconds) {
      const grpc = grpcStatus >= 0;
      endpoint.metrics[route.slot]?.requestFinished(protocol, grpc ? grpcStatus : httpStatus, grpc, seconds);
    },
    proxyError(_route, err) {
      upstream.proxyError(statusOf(err).reason);
    },
    badRequest() {
      upstream.proxyError('bad_request');
    },
    hashKeyMissing() {
      upstream.hashKeyMissing();
    },
    retried() {
      upstream.retry();
    },
    requestTrailersDropped() {
      upstream.requestTrailersDropped();
    },
  };
}
