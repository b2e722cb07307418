// Turns whatever undici or the socket layer threw into one of our typed
// errors, so the listener edge can map it to a status in one place.

import {
  ConnectFailedError,
  HeadersTooLargeError,
  RingsideError,
  TimeoutError,
  UpstreamProtocolError,
  UpstreamResetError,
  UpstreamTruncatedError,
  ErrorCodes,
  errorCode,
} from '../errors/errors.ts';
import { H2ErrorCodes } from '../http2/h2-error.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Classify an upstream failure. The original error is kept as `cause`. */
export function toUpstreamError(err: unknown, upstream: string, endpoint: string): RingsideError {
  if (err instanceof RingsideError) return err;
  // An abort carries the reason we gave it (timeout, client cancelled) as cause.
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof RingsideError) return cause;
  const code = errorCode(err) ?? errorCode(cause);
  if (code !== undefined && CONNECT_CODES.has(code)) return new ConnectFailedError(upstream, endpoint, err);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return new TimeoutError(upstream, endpoint, 'upstream response', err);
  if (code === H2ErrorCodes.HEADERS_TOO_LARGE) return new HeadersTooLargeError(upstream, endpoint, err);
  // Our h2c client got an HTTP/1.x status line for its preface (--upstream-protocol h2c to an HTTP/1.1-only server):
  // a protocol mismatch the operator can fix, not a reset. (With auto, the exchange learns HTTP/1.1 before this.)
  if (code === H2ErrorCodes.HTTP1_ONLY) {
    return new UpstreamProtocolError(upstream, endpoint, 'speaks only HTTP/1.1 (it answered the HTTP/2 connection preface in HTTP/1.x); --upstream-protocol is h2c', err);
  }
  // A body cut short after its head, or not the length its content-length said (node-h2c-client.ts, the lean h2c client, undici's HTTP/1.1 client).
  if (code === ErrorCodes.UPSTREAM_TRUNCATED || code === H2ErrorCodes.TRUNCATED || code === H2ErrorCodes.CONTENT_LENGTH || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new UpstreamTruncatedError(upstream, endpoint, err);
  }
  return new UpstreamResetError(upstream, endpoint, err);
}
