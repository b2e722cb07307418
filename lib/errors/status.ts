// The single mapping from an error to what the client sees: an HTTP status for
// plain HTTP, a gRPC status (https://grpc.github.io/grpc/core/md_doc_statuscodes.html)
// for gRPC, and the metric reason label.

import { ErrorCodes, errorCode } from './errors.ts';

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export interface ErrorStatus {
  readonly httpStatus: number;
  readonly grpcStatus: number;
  /** Label value for ringside_proxy_errors_total{reason}. */
  readonly reason: 'no_endpoints' | 'connect_failed' | 'upstream_reset' | 'timeout' | 'client_cancelled' | 'bad_request' | 'upstream_protocol' | 'upstream_truncated' | 'rate_limited' | 'tunnel_limit' | 'internal';
}

const NO_ENDPOINTS: ErrorStatus = { httpStatus: 503, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'no_endpoints' };
const CONNECT_FAILED: ErrorStatus = { httpStatus: 502, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'connect_failed' };
const UPSTREAM_RESET: ErrorStatus = { httpStatus: 502, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'upstream_reset' };
const TIMEOUT: ErrorStatus = { httpStatus: 504, grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, reason: 'timeout' };
const CANCELLED: ErrorStatus = { httpStatus: 499, grpcStatus: GrpcStatus.CANCELLED, reason: 'client_cancelled' };
const BAD_REQUEST: ErrorStatus = { httpStatus: 400, grpcStatus: GrpcStatus.INVALID_ARGUMENT, reason: 'bad_request' };
/** gRPC reports metadata over a peer's limit as RESOURCE_EXHAUSTED. */
const HEADERS_TOO_LARGE: ErrorStatus = { httpStatus: 431, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, reason: 'bad_request' };
/** A gRPC call to an HTTP/1.1-only replica: UNAVAILABLE, as gRPC reports a server it cannot reach over HTTP/2. */
const UPSTREAM_PROTOCOL: ErrorStatus = { httpStatus: 502, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'upstream_protocol' };
/**
 * A response cut short after its head (the upstream's connection broke, or its
 * body did not match its content-length): gRPC's status-code table has a
 * client report "some data transmitted before connection breaks" as
 * UNAVAILABLE (https://grpc.io/docs/guides/status-codes), which is what a
 * client talking to the dying replica directly would see. Not safely retryable:
 * part of the call was delivered, and UNAVAILABLE does not promise otherwise.
 */
const UPSTREAM_TRUNCATED: ErrorStatus = { httpStatus: 502, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'upstream_truncated' };
/** Over a rate limit: HTTP 429 (RFC 6585 section 4); gRPC's RESOURCE_EXHAUSTED, as gRPC servers report their own rate limits. */
const RATE_LIMITED: ErrorStatus = { httpStatus: 429, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, reason: 'rate_limited' };
/** Over --max-tunnels: the sidecar, not the upstream, is out of room (gRPC never upgrades; UNAVAILABLE for completeness). */
const TUNNEL_LIMIT: ErrorStatus = { httpStatus: 503, grpcStatus: GrpcStatus.UNAVAILABLE, reason: 'tunnel_limit' };
const INTERNAL: ErrorStatus = { httpStatus: 502, grpcStatus: GrpcStatus.INTERNAL, reason: 'internal' };

export function statusOf(err: unknown): ErrorStatus {
  switch (errorCode(err)) {
    case ErrorCodes.NO_ENDPOINTS:
      return NO_ENDPOINTS;
    case ErrorCodes.CONNECT_FAILED:
      return CONNECT_FAILED;
    case ErrorCodes.UPSTREAM_RESET:
      return UPSTREAM_RESET;
    case ErrorCodes.TIMEOUT:
      return TIMEOUT;
    case ErrorCodes.CLIENT_CANCELLED:
      return CANCELLED;
    case ErrorCodes.BAD_REQUEST:
      return BAD_REQUEST;
    case ErrorCodes.HEADERS_TOO_LARGE:
      return HEADERS_TOO_LARGE;
    case ErrorCodes.UPSTREAM_PROTOCOL:
      return UPSTREAM_PROTOCOL;
    case ErrorCodes.UPSTREAM_TRUNCATED:
      return UPSTREAM_TRUNCATED;
    case ErrorCodes.RATE_LIMITED:
      return RATE_LIMITED;
    case ErrorCodes.TUNNEL_LIMIT:
      return TUNNEL_LIMIT;
    default:
      return INTERNAL;
  }
}
