// Proxy-generated errors on node:http and node:http2 (the compat engine's
// server side, and every HTTP/2 client): what the response carries comes from
// ../errors/error-response.ts, the one mapping every writer uses; this file
// only puts it on these two APIs, and decides what an error after the
// response head turns into (a closed connection, RST_STREAM, or gRPC trailers).

import type { ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { constants as h2 } from 'node:http2';
import { errorResponse, grpcErrorTrailers } from '../errors/error-response.ts';
import type { RingsideError } from '../errors/errors.ts';

/** HTTP/1.1 client. Before the head: a status and a text body. After it: close the connection, never a truncated success. */
export function writeHttp1Error(res: ServerResponse, err: RingsideError, headSent: boolean, isGrpc: boolean): void {
  if (headSent || res.headersSent) {
    res.destroy(err);
    return;
  }
  const r = errorResponse(err, isGrpc, false);
  res.writeHead(r.status, r.fields);
  res.end(r.body);
}

/**
 * HTTP/2 client. Before the head: gRPC trailers-only, or a status with a text body.
 * After it: gRPC gets the error's status in trailers; anything else gets RST_STREAM(INTERNAL_ERROR).
 */
export function writeHttp2Error(stream: ServerHttp2Stream, err: RingsideError, headSent: boolean, isGrpc: boolean): GrpcTrailers | null {
  if (stream.destroyed || stream.closed) return null;
  if (headSent || stream.headersSent) {
    if (isGrpc) return grpcErrorTrailers(err);
    stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    return null;
  }
  const r = errorResponse(err, isGrpc, true);
  const head: Record<string, string | number> = { ':status': r.status };
  for (let i = 0; i < r.fields.length; i += 2) head[r.fields[i]] = r.fields[i + 1];
  if (r.body === '') {
    stream.respond(head, { endStream: true });
    return null;
  }
  stream.respond(head);
  stream.end(r.body);
  return null;
}

export type GrpcTrailers = { 'grpc-status': string; 'grpc-message': string };
