// HTTP/1.1 requests from node:http, forwarded through an Exchange.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RingsideError } from '../errors/errors.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from '../forwarding/exchange.ts';
import { RequestBodyTap } from '../forwarding/request-body.ts';
import { requestHash } from '../forwarding/request-hash.ts';
import { writeHttp1Error } from './error-response.ts';
import { forwardRequestHeaders } from '../forwarding/hop-by-hop.ts';
import { toUpstreamError } from '../upstream/upstream-error.ts';
import type { Route } from '../forwarding/route.ts';

export class Http1Exchange extends Exchange {
  readonly res: ServerResponse;
  readonly onDrain: () => void;
  readonly onClose: () => void;

  constructor(route: Route, req: IncomingMessage, res: ServerResponse) {
    super(route, ClientProtocol.HTTP1, isGrpcContentType(req.headers['content-type']));
    this.res = res;
    this.onDrain = () => this.resume();
    this.onClose = () => {
      if (!this.res.writableFinished) this.clientGone();
    };
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
  }

  protected writeHead(status: number, headers: Record<string, string | string[]>, statusMessage: string | undefined): void {
    // A `trailer` field announces trailers; with a content-length they cannot
    // follow in HTTP/1.1, and node:http throws on the head
    // (ERR_HTTP_TRAILER_INVALID: nghttpd --trailer sends exactly that), which
    // took the process down. The announcement goes; the trailers are dropped
    // at the end as for any content-length response.
    if (headers.trailer !== undefined && headers['content-length'] !== undefined) {
      const { trailer: _announced, ...rest } = headers;
      headers = rest;
    }
    try {
      this.res.writeHead(status, statusMessage, headers);
    } catch (err) {
      // A head HTTP/1.1 cannot carry (an invalid field from an h2c upstream): nothing went out, the client gets a 502.
      this.status = 0;
      this.fail(toUpstreamError(err, this.route.upstream.name, this.endpoint?.key ?? ''));
    }
  }

  protected writeData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  protected writeEnd(trailers: Record<string, string | string[] | undefined> | null): void {
    if (trailers !== null) this.res.addTrailers(trailers as Record<string, string>);
    this.res.end();
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    writeHttp1Error(this.res, err, headSent, this.isGrpc);
  }
}

export function isGrpcContentType(value: string | string[] | undefined): boolean {
  return typeof value === 'string' && value.startsWith('application/grpc');
}

/** Handle one request: hash, pick, forward. Called by node:http's 'request' event. */
export function handleHttp1Request(route: Route, req: IncomingMessage, res: ServerResponse): void {
  const exchange = new Http1Exchange(route, req, res);
  const hash = route.hashPolicy === null ? null : requestHash(route, req.headersDistinct, req.url ?? '/', req.socket.remoteAddress);
  const headers = forwardRequestHeaders(req.rawHeaders, req.headers.connection);
  const body = hasBody(req) ? new RequestBodyTap(req, route.upstream.config.retryBufferBytes) : null;
  const deadline = exchange.isGrpc ? parseGrpcTimeout(req.headers['grpc-timeout']) : 0;
  exchange.start(req.method ?? 'GET', req.url ?? '/', headers, body, hash, deadline);
}

/** A request has a body when it declares one (RFC 9112 section 6.3): chunked, or Content-Length > 0. */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}
