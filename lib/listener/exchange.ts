// One proxied request/response (an HTTP/1.1 request or an HTTP/2 stream),
// driven by undici's dispatch handler callbacks. The protocol-specific
// subclasses only say how to write to their client; picking, timeouts,
// cancellation and accounting live here once.
//
// Life of an exchange:
//   start() -> pick endpoint -> dispatcher.dispatch(opts, this)
//   onRequestStart(controller)          keep the controller to pause/abort
//   onResponseStart(status, headers)    clear the timeout, write the head
//   onResponseData(chunk)*              write; pause upstream if the client is slow
//   onResponseEnd(trailers)             write trailers, end, account
//   onResponseError(err)                typed error -> status or reset, account
// and from the client side: clientGone() -> controller.abort(ClientCancelledError).

import type { Dispatcher } from 'undici';
import { ClientCancelledError, NoEndpointsError, RingsideError, TimeoutError } from '../errors/errors.ts';
import { GrpcStatus, statusOf } from '../errors/status.ts';
import type { Hash64 } from '../hash/hash64.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import { toUpstreamError } from '../upstream/upstream-error.ts';
import { forwardResponseHeaders as forwardResponse } from './hop-by-hop.ts';
import type { Route } from './route.ts';

type Controller = Dispatcher.DispatchController;
type Headers = Record<string, string | string[] | undefined>;

export const ClientProtocol = { HTTP1: 0, HTTP2: 1 } as const;
export type ClientProtocol = (typeof ClientProtocol)[keyof typeof ClientProtocol];

export abstract class Exchange implements Dispatcher.DispatchHandler {
  readonly route: Route;
  readonly clientProtocol: ClientProtocol;
  readonly isGrpc: boolean;
  endpoint: Endpoint | null = null;
  controller: Controller | null = null;
  startedAt = 0;
  /** HTTP status sent to the client (0 until the head is written). */
  status = 0;
  /** gRPC status seen in trailers (or sent by us); -1 when unknown / not gRPC. */
  grpcStatus = -1;
  done = false;
  cancelled = false;
  timer: NodeJS.Timeout | null = null;

  constructor(route: Route, clientProtocol: ClientProtocol, isGrpc: boolean) {
    this.route = route;
    this.clientProtocol = clientProtocol;
    this.isGrpc = isGrpc;
  }

  // --- what a protocol subclass provides -----------------------------------
  /** Write the response head. */
  protected abstract writeHead(status: number, headers: Record<string, string | string[]>, statusMessage: string | undefined): void;
  /** Write a body chunk; false when the client is not draining (backpressure). */
  protected abstract writeData(chunk: Buffer): boolean;
  /** End the response, with trailers when there are any. */
  protected abstract writeEnd(trailers: Headers | null): void;
  /** Answer with a proxy-generated error; `headSent` tells whether the upstream's head already went out. */
  protected abstract writeError(err: RingsideError, headSent: boolean): void;

  /** Pick an endpoint and send the request upstream. */
  start(method: string, path: string, headers: string[], body: NodeJS.ReadableStream | null, hash: Hash64 | null): void {
    const route = this.route;
    this.startedAt = performance.now();
    const endpoint = route.upstream.pick(hash, null);
    if (endpoint === null) {
      this.fail(new NoEndpointsError(route.upstream.name, route.upstream.emptyReason ?? undefined));
      return;
    }
    this.endpoint = endpoint;
    endpoint.requestStarted();
    route.observer.requestStarted(route, endpoint);
    const useH2 = route.protocol === 'h2c' || (route.protocol === 'auto' && this.clientProtocol === ClientProtocol.HTTP2);
    if (route.requestTimeoutMs > 0) this.timer = setTimeout(onTimeout, route.requestTimeoutMs, this);
    try {
      (useH2 ? endpoint.h2c() : endpoint.http1()).dispatch(
        { path, method: method as Dispatcher.HttpMethod, headers, body: body as Dispatcher.DispatchOptions['body'], upgrade: null },
        this,
      );
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  /** The client went away (socket closed, RST_STREAM) before the response ended. */
  clientGone(): void {
    if (this.done || this.cancelled) return;
    this.cancelled = true;
    const err = new ClientCancelledError(this.route.upstream.name, this.endpoint?.key);
    if (this.controller !== null) this.controller.abort(err);
    else if (this.endpoint === null) this.finish(err);
  }

  /** Resume the upstream after the client drained (backpressure released). */
  resume(): void {
    if (this.controller !== null && this.controller.paused) this.controller.resume();
  }

  // --- undici DispatchHandler ----------------------------------------------
  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(new ClientCancelledError(this.route.upstream.name, this.endpoint?.key));
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (this.done) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.status = statusCode;
    if (this.isGrpc) {
      // A trailers-only gRPC response carries grpc-status in the head.
      const gs = headers['grpc-status'];
      if (typeof gs === 'string') this.grpcStatus = Number(gs);
    }
    this.writeHead(statusCode, forwardResponse(headers), statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done) return;
    if (!this.writeData(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Controller, trailers: Headers): void {
    if (this.done) return;
    let hasTrailers = false;
    for (const _ in trailers) {
      hasTrailers = true;
      break;
    }
    if (this.isGrpc && hasTrailers) {
      const gs = trailers['grpc-status'];
      if (typeof gs === 'string') this.grpcStatus = Number(gs);
    }
    this.writeEnd(hasTrailers ? trailers : null);
    this.finish(null);
  }

  onResponseError(_controller: Controller | null, error: Error): void {
    if (this.done) return;
    const route = this.route;
    const err = toUpstreamError(error, route.upstream.name, this.endpoint?.key ?? '-');
    this.fail(err);
  }

  // --- shared ending -------------------------------------------------------
  fail(err: RingsideError): void {
    if (this.done) return;
    const headSent = this.status !== 0;
    if (!headSent) {
      const s = statusOf(err);
      this.status = s.httpStatus;
      if (this.isGrpc) this.grpcStatus = s.grpcStatus;
    } else if (this.isGrpc) {
      this.grpcStatus = this.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.UNAVAILABLE;
    }
    // A cancelled client has nobody left to answer.
    if (!this.cancelled) this.writeError(err, headSent);
    this.finish(err);
  }

  finish(err: RingsideError | null): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const endpoint = this.endpoint;
    const route = this.route;
    if (err !== null) route.observer.proxyError(route, err, endpoint);
    if (endpoint !== null) {
      endpoint.requestFinished(err !== null || this.status >= 500);
      route.observer.requestFinished(route, endpoint, this.clientProtocol, this.status, this.grpcStatus, (performance.now() - this.startedAt) / 1000);
    }
    if (route.logger.debugEnabled) {
      route.logger.debug('request', {
        listener: route.listenerName,
        upstream: route.upstream.name,
        endpoint: endpoint?.key,
        status: this.status,
        grpcStatus: this.grpcStatus,
        error: err?.message,
      });
    }
  }
}

function onTimeout(exchange: Exchange): void {
  exchange.timer = null;
  const err = new TimeoutError(exchange.route.upstream.name, exchange.endpoint?.key, 'request');
  if (exchange.controller !== null) exchange.controller.abort(err);
  else exchange.fail(err);
}
