// The one place where a proxy-generated error becomes what a client sees,
// for every writer (our HTTP/1.1 server, node:http, node:http2, through the
// forwarding core's writeError): an HTTP status with a plain-text body and
// `x-ringside-error`, `retry-after` when the error says when to come back,
// and for gRPC the status in `grpc-status` / `grpc-message`. An HTTP/2 gRPC
// client gets a "trailers-only" response: HTTP 200, no body, the gRPC status
// in the one HEADERS frame
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
// The writers only put these fields on their wire.

import { retryAfterOf, type RingsideError } from './errors.ts';
import { GrpcStatus, statusOf } from './status.ts';

/** RFC 9110 reason phrases of the statuses errors map to (../errors/status.ts), as node:http spells them. */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** What an error answers before any response head went out. Field names are lower-case. */
export interface ErrorResponse {
  readonly status: number;
  /** [name, value, name, value, ...] */
  readonly fields: string[];
  /** The plain-text body ('' for a gRPC trailers-only response). */
  readonly body: string;
}

/** gRPC's grpc-message is percent-encoded UTF-8: bytes outside 0x20..0x7E, and '%', are escaped. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * The response for `err`. `trailersOnly`: a gRPC request from an HTTP/2
 * client, answered the gRPC way (HTTP 200, no body). A gRPC request over
 * HTTP/1.1 (rare: gRPC-Web-like callers) gets the HTTP status, the text body
 * and the gRPC fields in the head.
 */
export function errorResponse(err: RingsideError, isGrpc: boolean, trailersOnly: boolean): ErrorResponse {
  const s = statusOf(err);
  const retryAfter = retryAfterOf(err);
  if (isGrpc && trailersOnly) {
    const fields = ['content-type', 'application/grpc', 'grpc-status', String(s.grpcStatus), 'grpc-message', encodeGrpcMessage(err.message), 'x-ringside-error', err.code];
    // A rate-limited request: when to come back (RFC 9110 section 10.2.3).
    if (retryAfter > 0) fields.push('retry-after', String(retryAfter));
    return { status: 200, fields, body: '' };
  }
  const body = `ringside: ${err.message}\n`;
  const fields = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'x-ringside-error', err.code];
  if (retryAfter > 0) fields.push('retry-after', String(retryAfter));
  if (isGrpc) fields.push('grpc-status', String(s.grpcStatus), 'grpc-message', encodeGrpcMessage(err.message));
  return { status: s.httpStatus, fields, body };
}

/** The whole HTTP/1.1 response for `err` as text (head and body), with `connection: close` when `close`. */
export function http1ErrorText(err: RingsideError, isGrpc: boolean, close: boolean): string {
  const r = errorResponse(err, isGrpc, false);
  let text = `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'Error'}\r\n`;
  for (let i = 0; i < r.fields.length; i += 2) text += `${r.fields[i]}: ${r.fields[i + 1]}\r\n`;
  if (close) text += 'connection: close\r\n';
  return text + '\r\n' + r.body;
}

/**
 * The gRPC trailers that end a response whose head already went out: the
 * call fails with the error's status, never a truncated OK (an error that maps
 * to OK, which none does today, is sent as UNAVAILABLE).
 */
export function grpcErrorTrailers(err: RingsideError): { 'grpc-status': string; 'grpc-message': string } {
  const code = statusOf(err).grpcStatus;
  return { 'grpc-status': String(code === GrpcStatus.OK ? GrpcStatus.UNAVAILABLE : code), 'grpc-message': encodeGrpcMessage(err.message) };
}
