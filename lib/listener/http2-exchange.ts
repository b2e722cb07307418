// HTTP/2 streams (h2c, gRPC) from node:http2, forwarded through an Exchange.
// Each stream is balanced on its own: one client connection with 10
// concurrent RPCs spreads over every endpoint.

import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { BadRequestError, type RingsideError } from '../errors/errors.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from './exchange.ts';
import { type GrpcTrailers, writeHttp2Error } from './error-response.ts';
import { isGrpcContentType } from './http1-exchange.ts';
import { RequestBodyTap } from './request-body.ts';
import type { Route } from './route.ts';

const HOP_BY_HOP_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

export class Http2Exchange extends Exchange {
  readonly stream: ServerHttp2Stream;
  /** Trailers to send once node:http2 asks for them ('wantTrailers'). */
  trailers: Record<string, string | string[] | undefined> | GrpcTrailers | null = null;
  /** HEAD, 204 and 304 responses carry no body (RFC 9110 section 6.4.1). */
  bodiless = false;
  readonly isHead: boolean;

  constructor(route: Route, stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    super(route, ClientProtocol.HTTP2, isGrpcContentType(headers['content-type']));
    this.stream = stream;
    this.isHead = headers[':method'] === 'HEAD';
    stream.on('drain', () => this.resume());
    stream.on('wantTrailers', () => stream.sendTrailers((this.trailers ?? {}) as Record<string, string>));
    stream.on('close', () => {
      if (!this.done) this.clientGone(stream.session === undefined || stream.session.destroyed || stream.session.closed);
    });
  }

  protected writeHead(status: number, headers: Record<string, string | string[]>): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    (headers as Record<string, string | string[] | number>)[':status'] = status;
    // gRPC "Trailers-Only": grpc-status in the head means the upstream ended the
    // stream with these headers, so they must go out with END_STREAM too.
    this.bodiless = this.isHead || status === 204 || status === 304 || (this.isGrpc && headers['grpc-status'] !== undefined);
    stream.respond(headers, this.bodiless ? { endStream: true } : { waitForTrailers: true });
  }

  protected writeData(chunk: Buffer): boolean {
    if (this.bodiless || this.stream.destroyed) return true;
    return this.stream.write(chunk);
  }

  protected writeEnd(trailers: Record<string, string | string[] | undefined> | null): void {
    if (this.bodiless || this.stream.destroyed) return;
    this.trailers = trailers;
    this.stream.end();
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    const trailers = writeHttp2Error(this.stream, err, headSent, this.isGrpc);
    if (trailers !== null && !this.bodiless) {
      // The head went out: end the stream with an explicit gRPC status rather than a truncated success.
      this.trailers = trailers;
      this.stream.end();
    }
  }
}

/** Handle one stream: validate, hash, pick, forward. Called by node:http2's 'stream' event. */
export function handleHttp2Stream(route: Route, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', noop); // errors surface through 'close'; never crash on a client's reset
  const exchange = new Http2Exchange(route, stream, headers);
  const method = headers[':method'];
  const path = headers[':path'];
  if (method === undefined || path === undefined || method === 'CONNECT') {
    exchange.fail(new BadRequestError(method === 'CONNECT' ? 'CONNECT is not supported' : 'missing :method or :path'));
    return;
  }
  const hasHash =
    route.hashPolicy !== null && route.hashPolicy.compute(headers, path, stream.session?.socket?.remoteAddress, route.hash);
  if (route.hashPolicy !== null && !hasHash) route.observer.hashKeyMissing(route);
  const out: string[] = [];
  let sawHost = false;
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP_H2.has(name)) {
      if (name === 'host') {
        sawHost = true;
        out.push('host', value as string);
      }
      continue;
    }
    if (name === 'te') {
      if (value === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  // :authority becomes Host (HTTP/1.1 upstream) or :authority again (undici's h2 client).
  const authority = headers[':authority'];
  if (!sawHost && authority !== undefined) out.push('host', authority);
  const body = stream.endAfterHeaders ? null : new RequestBodyTap(stream, route.upstream.config.retryBufferBytes);
  const deadline = exchange.isGrpc ? parseGrpcTimeout(headers['grpc-timeout']) : 0;
  exchange.start(method, path, out, body, hasHash ? route.hash : null, deadline);
}

function noop(): void {}

