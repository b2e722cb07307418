// The one place where proxy-generated errors become what a client sees:
// an HTTP status with a plain-text body, or for gRPC an HTTP 200
// "trailers-only" response with grpc-status and grpc-message
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { constants as h2 } from 'node:http2';
import { retryAfterOf, type RingsideError } from '../errors/errors.ts';
import { statusOf } from '../errors/status.ts';

/** gRPC's grpc-message is percent-encoded UTF-8: bytes outside 0x20..0x7E, and '%', are escaped. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** HTTP/1.1 client. Before the head: a status and a text body. After it: close the connection, never a truncated success. */
export function writeHttp1Error(res: ServerResponse, err: RingsideError, headSent: boolean, isGrpc: boolean): void {
  if (headSent || res.headersSent) {
    res.destroy(err);
    return;
  }
  const s = statusOf(err);
  const body = `ringside: ${err.message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-ringside-error': err.code,
  };
  // A rate-limited request: when to come back (RFC 9110 section 10.2.3).
  const retryAfter = retryAfterOf(err);
  if (retryAfter > 0) headers['retry-after'] = retryAfter;
  if (isGrpc) {
    headers['grpc-status'] = s.grpcStatus;
    headers['grpc-message'] = encodeGrpcMessage(err.message);
  }
  res.writeHead(s.httpStatus, headers);
  res.end(body);
}

/**
 * HTTP/2 client. Before the head: gRPC trailers-only, or a status with a text body.
 * After it: gRPC gets an UNAVAILABLE status in trailers; anything else gets RST_STREAM(INTERNAL_ERROR).
 */
export function writeHttp2Error(stream: ServerHttp2Stream, err: RingsideError, headSent: boolean, isGrpc: boolean): GrpcTrailers | null {
  if (stream.destroyed || stream.closed) return null;
  const s = statusOf(err);
  if (headSent || stream.headersSent) {
    if (isGrpc) return { 'grpc-status': String(s.grpcStatus === 0 ? 14 : s.grpcStatus), 'grpc-message': encodeGrpcMessage(err.message) };
    stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    return null;
  }
  const retryAfter = retryAfterOf(err);
  if (isGrpc) {
    const head: Record<string, string | number> = {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(s.grpcStatus),
      'grpc-message': encodeGrpcMessage(err.message),
      'x-ringside-error': err.code,
    };
    if (retryAfter > 0) head['retry-after'] = retryAfter;
    stream.respond(head, { endStream: true });
    return null;
  }
  const body = `ringside: ${err.message}\n`;
  const head: Record<string, string | number> = {
    ':status': s.httpStatus,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-ringside-error': err.code,
  };
  if (retryAfter > 0) head['retry-after'] = retryAfter;
  stream.respond(head);
  stream.end(body);
  return null;
}

export type GrpcTrailers = { 'grpc-status': string; 'grpc-message': string };
