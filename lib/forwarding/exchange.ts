// One proxied request/response (an HTTP/1.1 request or an HTTP/2 stream),
// driven by undici's dispatch handler callbacks. The protocol-specific
// subclasses only say how to write to their client; picking, retries,
// timeouts, cancellation and accounting live here once.
//
// Life of an exchange:
//   start() -> pick endpoint -> dispatcher.dispatch(opts, this)        (attempt 1)
//   onRequestStart(controller)          keep the controller to pause/abort
//   onResponseStart(status, headers)    clear the head timeout, write the head
//   onResponseData(chunk)*              write; pause upstream if the client is slow
//   onResponseEnd(trailers)             write trailers, end, account
//   onResponseError(err)                before the head and safe to retry: pick
//                                       another endpoint (attempt 2, 3, ...);
//                                       else typed error -> status or reset
// and from the client side: clientGone() -> controller.abort(ClientCancelledError).

import type { Dispatcher } from 'undici';
import { ClientCancelledError, ErrorCodes, NoEndpointsError, RateLimitedError, type RingsideError, TimeoutError, UpstreamProtocolError } from '../errors/errors.ts';
import { GrpcStatus, statusOf } from '../errors/status.ts';
import { learnProtocol } from './learned-protocol.ts';
import { requestFinished } from './request-outcome.ts';
import { nextEndpoint, retryAllowed } from './retry-policy.ts';
import type { Hash64 } from '../hash/hash64.ts';
import { type Endpoint, LearnedProtocol } from '../upstream/endpoint.ts';
import { mayHideProtocolMismatch, PROBE_INTERVAL_MS, probeProtocol, protocolMark } from '../upstream/protocol-probe.ts';
import { toUpstreamError } from '../upstream/upstream-error.ts';
import { forwardResponseHeaders as forwardResponse, forwardResponseTrailers } from './hop-by-hop.ts';
import { findCookie, type SessionCarrier, type SessionCookie, SessionState } from './session-cookie.ts';
import type { RateLimiter } from '../rate-limit/rate-limiter.ts';
import type { ExchangeBody } from './request-body.ts';
import type { Route } from './route.ts';

export type { ExchangeBody };
export { parseGrpcTimeout } from './grpc-timeout.ts';

type Controller = Dispatcher.DispatchController;
type Headers = Record<string, string | string[] | undefined>;

export const ClientProtocol = { HTTP1: 0, HTTP2: 1 } as const;
export type ClientProtocol = (typeof ClientProtocol)[keyof typeof ClientProtocol];

export abstract class Exchange implements Dispatcher.DispatchHandler, SessionCarrier {
  readonly route: Route;
  readonly clientProtocol: ClientProtocol;
  /** A gRPC request (content-type application/grpc...); set again by a codec that reuses the exchange. */
  isGrpc: boolean;
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
  /** gRPC deadline (grpc-timeout) in ms from start, or 0; it covers the whole call, not just the head. */
  deadlineMs = 0;

  // What a retry needs to send the request again.
  method = '';
  path = '';
  headers: string[] = [];
  body: ExchangeBody | null = null;
  hasHash = false;
  hashHi = 0;
  hashLo = 0;
  /** Endpoints already tried, when a retry happened (null on the common path). */
  tried: Endpoint[] | null = null;
  attempt = 0;
  /**
   * The current attempt speaks HTTP/2 upstream. Its response heads carry no
   * connection-specific fields (both h2 clients refuse such a response as
   * malformed, RFC 9113 section 8.2.2), so they need no hop-by-hop filtering.
   */
  upstreamH2 = false;
  /** The request was sent again in the other protocol after the endpoint answered in it (`auto`; at most once). */
  protocolSwitched = false;
  /** What the request's session cookie said (--session-cookie; ./session-cookie.ts), set by start() before the pick. */
  sessionState: SessionState = SessionState.NONE;
  /** The endpoint the session cookie named, while it is in the set. */
  sessionEndpoint: Endpoint | null = null;

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
  start(method: string, path: string, headers: string[], body: ExchangeBody | null, hash: Hash64 | null, deadlineMs: number): void {
    const route = this.route;
    this.startedAt = performance.now();
    this.method = method;
    this.path = path;
    this.headers = headers;
    this.body = body;
    if (hash !== null) {
      // route.hash is shared scratch: keep our own copy for retries.
      this.hasHash = true;
      this.hashHi = hash.hi;
      this.hashLo = hash.lo;
    }
    this.deadlineMs = deadlineMs;
    const timeout = route.requestTimeoutMs > 0 && (deadlineMs === 0 || route.requestTimeoutMs < deadlineMs) ? route.requestTimeoutMs : deadlineMs;
    if (timeout > 0) this.armTimer(timeout);
    // The rate limit takes a token here, once per client request (never in #retry).
    const limiter = route.rateLimiter;
    if (limiter != null) {
      const waitMs = this.rateLimitWait(limiter, this.startedAt);
      if (waitMs > 0) {
        this.fail(new RateLimitedError(route.upstream.name, waitMs));
        return;
      }
    }
    route.upstream.retryBudget.recordRequest(this.startedAt);
    // A session cookie naming an available endpoint wins over the policy (it enters the pick as its override).
    const endpoint = route.upstream.pick(hash, null, route.sessionCookie == null ? null : this.#readSession(route.sessionCookie));
    if (endpoint === null) {
      this.fail(new NoEndpointsError(route.upstream.name, route.upstream.emptyReason ?? undefined));
      return;
    }
    this.#dispatch(endpoint, false, false);
  }

  /**
   * Make this exchange ready for the next request of the same client
   * connection (../http1/ keeps one per connection): only once it is done and
   * no upstream client still holds it (see reusable).
   */
  protected reset(): void {
    this.endpoint = null;
    this.controller = null;
    this.startedAt = 0;
    this.status = 0;
    this.grpcStatus = -1;
    this.done = false;
    this.cancelled = false;
    this.timer = null;
    this.deadlineMs = 0;
    this.body = null;
    this.hasHash = false;
    this.tried = null;
    this.attempt = 0;
    this.upstreamH2 = false;
    this.protocolSwitched = false;
    this.viaClient = false;
    this.#codecAttempt = false;
    this.sessionState = SessionState.NONE;
    this.sessionEndpoint = null;
  }

  /**
   * An upstream client of the dispatch contract (or a protocol probe) may
   * still call this exchange: it must not be reset for another request. Set
   * when an attempt goes to a client, cleared by the client's last callback
   * (onResponseEnd, onResponseError).
   */
  viaClient = false;
  /** The current attempt is the codec's own HTTP/1.1 one (sendHttp1), which names a protocol mismatch itself. */
  #codecAttempt = false;

  // --- hooks a codec may override ------------------------------------------
  /**
   * Send this attempt over HTTP/1.1 to `endpoint` the codec's own way (the
   * HTTP/1.1 server forwards the client's bytes as they are); false: through
   * the endpoint's HTTP/1.1 client. `replay`: the body goes again from its start.
   */
  protected sendHttp1(_endpoint: Endpoint, _replay: boolean): boolean {
    return false;
  }

  /** Called before the request goes to an upstream client: a codec that defers building `path` and `headers` builds them now. */
  protected prepareFields(): void {}

  /** The rate limit's wait for this request (0: go on), read from its fields. */
  protected rateLimitWait(limiter: RateLimiter, now: number): number {
    return limiter.checkFields(this.headers, this.path, now);
  }

  /** Arm the request's deadline `ms` from now; timedOut() when it passes. */
  protected armTimer(ms: number): void {
    this.timer = setTimeout(onTimeout, ms, this);
  }

  protected clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** The request's deadline passed (--request-timeout before the head, or the gRPC deadline). */
  timedOut(): void {
    this.timer = null;
    const err = new TimeoutError(this.route.upstream.name, this.endpoint?.key, this.deadlineMs > 0 ? 'gRPC deadline (grpc-timeout)' : 'request');
    if (this.controller !== null) this.controller.abort(err);
    else this.fail(err);
  }

  /**
   * The client broke its request mid-body (malformed framing): the attempt is
   * aborted, never retried, and the client answered with `err` (when no head went out yet).
   */
  requestBroken(err: RingsideError): void {
    if (this.done) return;
    const controller = this.controller;
    this.controller = null;
    this.fail(err);
    if (controller !== null && !controller.aborted) controller.abort(err);
  }

  /**
   * Send the request to `endpoint`: the one place where the upstream protocol
   * and client of an attempt are chosen. `replay`: the body goes again from its
   * start; `resend`: the same attempt again in the other protocol (already accounted).
   */
  #dispatch(endpoint: Endpoint, replay: boolean, resend: boolean): void {
    const route = this.route;
    this.endpoint = endpoint;
    this.controller = null;
    if (!resend) {
      this.attempt++;
      endpoint.requestStarted();
      route.observer.requestStarted(route, endpoint);
    }
    let useH2 = route.protocol === 'h2c' || (route.protocol === 'auto' && this.clientProtocol === ClientProtocol.HTTP2);
    // `auto` and an endpoint known to speak the other protocol only: speak that (a plain field read while nothing was learned).
    if (route.protocol === 'auto' && endpoint.protocol !== LearnedProtocol.UNKNOWN) {
      // Re-checked by a bodiless request, or a gRPC call that fails on HTTP/1.1 whatever the answer.
      const learned = endpoint.learnedProtocol(this.body === null || this.#needsH2EndToEnd());
      if (learned !== LearnedProtocol.UNKNOWN) {
        useH2 = learned === LearnedProtocol.H2C;
        if (!useH2 && this.#needsH2EndToEnd()) {
          this.fail(this.#http1OnlyError(null));
          return;
        }
      }
    }
    this.upstreamH2 = useH2;
    if (!useH2) {
      this.#codecAttempt = true;
      if (this.sendHttp1(endpoint, replay)) return;
    }
    this.#codecAttempt = false;
    this.viaClient = true;
    this.prepareFields();
    const body = this.body === null ? null : replay ? this.body.replay() : this.body.current;
    try {
      (useH2 ? endpoint.clients.h2c() : endpoint.clients.http1(this.#mayHaveTrailers(body))).dispatch(
        { path: this.path, method: this.method as Dispatcher.HttpMethod, headers: this.headers, body: body as Dispatcher.DispatchOptions['body'], upgrade: null },
        this,
      );
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  /** The client went away (socket closed, RST_STREAM) before the response ended. */
  clientGone(insideSessionTeardown = false): void {
    if (this.done || this.cancelled) return;
    this.cancelled = true;
    const err = new ClientCancelledError(this.route.upstream.name, this.endpoint?.key);
    if (this.controller === null) {
      if (this.endpoint === null) this.finish(err);
      return;
    }
    // Inside node:http2's teardown of the client's session, resetting an
    // upstream HTTP/2 stream re-entrantly wedges node's native session code
    // (Http2Session::SendPendingData spinning, memory climbing): abort on the
    // next turn then. Otherwise abort at once, so a stream reset right after it
    // was opened (rapid reset) is usually cancelled before it reaches the upstream.
    if (insideSessionTeardown) setImmediate(abortUpstream, this.controller, err);
    else this.controller.abort(err);
  }

  /** Resume the upstream after the client drained (backpressure released). */
  resume(): void {
    if (this.controller !== null && this.controller.paused) this.controller.resume();
  }

  /**
   * Called by the HTTP/1.1 clients (../http1/http1-dispatcher.ts): the request
   * went upstream with the Content-Length the client declared, so the trailers
   * it sent after the body could not follow (in HTTP/1.1 only a chunked body
   * carries trailers, RFC 9112 section 7.1.2). Counted and logged at debug.
   */
  onRequestTrailersDropped(names: readonly string[]): void {
    const route = this.route;
    route.observer.requestTrailersDropped(route);
    if (route.logger.debugEnabled) {
      route.logger.debug('request trailers dropped', { upstream: route.upstream.name, endpoint: this.endpoint?.key, trailers: names.join(', '), why: 'the request declared content-length to an HTTP/1.1 upstream' });
    }
  }

  /**
   * Whether the body may end in trailers (any HTTP/2 body, an HTTP/1.1 body
   * without a declared length): the engine's HTTP/1.1 client must be one that
   * can send them (../upstream/endpoint-clients.ts: ours always can; on
   * --engine compat undici's Pool cannot, node:http's client can).
   */
  #mayHaveTrailers(body: NodeJS.ReadableStream | null): boolean {
    return body !== null && (this.clientProtocol === ClientProtocol.HTTP2 || !declaresLength(this.headers));
  }

  // --- undici DispatchHandler ----------------------------------------------
  onRequestStart(controller: Controller): void {
    this.controller = controller;
    // Aborting synchronously from inside the client's dispatch() re-enters it (undici's writers throw then): do it next turn.
    if (this.cancelled) setImmediate(abortUpstream, controller, new ClientCancelledError(this.route.upstream.name, this.endpoint?.key));
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (this.done) return;
    // A trailers-only gRPC response carries grpc-status in the head.
    const gs = this.isGrpc ? headers['grpc-status'] : undefined;
    this.responseStarted(statusCode, typeof gs === 'string' ? Number(gs) : -1);
    const head = this.upstreamH2 ? (headers as Record<string, string | string[]>) : forwardResponse(headers);
    // Set-Cookie for a session that starts or moved here; a trailers-only gRPC response carries it in this head too.
    if (this.route.sessionCookie != null) this.route.sessionCookie.issue(head, this.endpoint!, this);
    this.writeHead(statusCode, head, statusMessage);
  }

  /**
   * The response head arrived (`grpcStatus` from the head, or -1): the core's
   * side of onResponseStart, also called by a codec that forwards heads as it
   * read them (../http1/), which then writes the head itself.
   */
  protected responseStarted(status: number, grpcStatus: number): void {
    this.clearTimer();
    // The head arrived: only a gRPC deadline still runs, for what is left of it.
    if (this.deadlineMs > 0) this.armTimer(Math.max(1, this.deadlineMs - (performance.now() - this.startedAt)));
    this.status = status;
    if (this.isGrpc && grpcStatus >= 0) this.grpcStatus = grpcStatus;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done) return;
    if (!this.writeData(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Controller, trailers: Headers): void {
    this.viaClient = false;
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
    // An HTTP/2 upstream's trailers carry no connection fields (both h2 clients refuse them); an HTTP/1.1 one's may.
    this.writeEnd(hasTrailers ? (this.upstreamH2 ? trailers : forwardResponseTrailers(trailers)) : null);
    this.finish(null);
  }

  onResponseError(_controller: Controller | null, error: Error): void {
    this.viaClient = false;
    if (this.done) return;
    const route = this.route;
    const endpoint = this.endpoint!;
    if (route.protocol === 'auto' && this.status === 0 && !this.cancelled && !this.protocolSwitched) {
      const mark = protocolMark(error);
      if (mark !== LearnedProtocol.UNKNOWN) {
        this.#learned(endpoint, mark, error);
        return;
      }
      const known = endpoint.protocol;
      if (known !== LearnedProtocol.UNKNOWN) {
        // Learned by a request that failed the same way while this one was on its way (pipelined, concurrent).
        if ((known === LearnedProtocol.H2C) !== this.upstreamH2) {
          this.#learned(endpoint, known, error);
          return;
        }
      } else if (!this.#codecAttempt && mayHideProtocolMismatch(error)) {
        // (A codec's own HTTP/1.1 path, sendHttp1, names a mismatch itself: it is never probed for.)
        const err = toUpstreamError(error, route.upstream.name, endpoint.key);
        if (err.code === ErrorCodes.UPSTREAM_RESET && (endpoint.probe !== null || performance.now() >= endpoint.probeAfter)) {
          this.#probe(endpoint, error);
          return;
        }
      }
    }
    this.#failed(error, endpoint);
  }

  /** The attempt on `endpoint` failed with `error`: retry elsewhere when that is safe, else answer with the error. */
  #failed(error: Error, endpoint: Endpoint): void {
    const err = toUpstreamError(error, this.route.upstream.name, endpoint.key);
    if (this.status === 0 && !this.cancelled && this.#retry(err, error, endpoint)) return;
    this.fail(err);
  }

  // --- `--upstream-protocol auto`: learning what an endpoint speaks --------
  /** gRPC from an HTTP/2 client: HTTP/2 end to end (trailers, full-duplex streams), never downgraded to HTTP/1.1. */
  #needsH2EndToEnd(): boolean {
    return this.isGrpc && this.clientProtocol === ClientProtocol.HTTP2;
  }

  #http1OnlyError(cause: Error | null): UpstreamProtocolError {
    return new UpstreamProtocolError(
      this.route.upstream.name,
      this.endpoint!.key,
      'speaks only HTTP/1.1 (it answered the HTTP/2 connection preface in HTTP/1.x): a gRPC call needs HTTP/2',
      cause ?? undefined,
    );
  }

  /**
   * The endpoint answered the request's protocol in the other one, so it never
   * processed the request: remember what it speaks and send the request again
   * to it in that protocol. Not a retry (no retry budget, no failure on the
   * endpoint, the same attempt); a gRPC call fails fast instead (UNAVAILABLE,
   * not moved to another replica: its peers almost certainly speak the same).
   */
  #learned(endpoint: Endpoint, learned: LearnedProtocol, cause: Error): void {
    const route = this.route;
    const wasH2 = this.upstreamH2;
    if ((learned === LearnedProtocol.H2C) === wasH2) {
      // It speaks what we just used: the failure was something else.
      this.#failed(cause, endpoint);
      return;
    }
    learnProtocol(route, endpoint, learned);
    this.protocolSwitched = true;
    if (learned === LearnedProtocol.HTTP1 && this.#needsH2EndToEnd()) {
      this.fail(this.#http1OnlyError(cause));
      return;
    }
    if (this.body !== null && !this.body.replayable) {
      const what = learned === LearnedProtocol.HTTP1 ? 'HTTP/1.1' : 'h2c';
      this.fail(new UpstreamProtocolError(route.upstream.name, endpoint.key, `speaks only ${what}, and the part of the request body already sent was not kept to send again (over --retry-buffer)`, cause));
      return;
    }
    if (route.logger.debugEnabled) route.logger.debug('resend in the other protocol', { upstream: route.upstream.name, endpoint: endpoint.key, protocol: endpoint.protocolName });
    this.#dispatch(endpoint, true, true);
  }

  /**
   * A reference client (--engine compat) failed in a way that may be a
   * protocol mismatch it cannot name: ask the endpoint (../upstream/protocol-probe.ts),
   * then learn, or carry on with the failure as it is.
   */
  #probe(endpoint: Endpoint, cause: Error): void {
    let probe = endpoint.probe;
    if (probe === null) {
      endpoint.probeAfter = performance.now() + PROBE_INTERVAL_MS;
      // Asked in the request's protocol: an HTTP/1.1-only server answers the preface in HTTP/1.x, an h2c-only one answers OPTIONS with SETTINGS.
      endpoint.probeAsH2 = this.upstreamH2;
      probe = endpoint.probe = probeProtocol(endpoint.host, endpoint.port, this.upstreamH2);
      probe.then(() => (endpoint.probe = null), noop);
    } else if (endpoint.probeAsH2 !== this.upstreamH2) {
      // A probe asked in the other protocol says nothing about this request: a server that speaks
      // both answers it in that protocol, which would read as "speaks only that one" here, and
      // a request it may have processed would be sent again.
      this.#failed(cause, endpoint);
      return;
    }
    // No controller while waiting: a timeout now fails the exchange directly (onTimeout).
    this.controller = null;
    this.viaClient = true; // the probe's answer comes back to this object
    probe.then((learned) => {
      if (this.done) return;
      if (this.cancelled) {
        this.finish(new ClientCancelledError(this.route.upstream.name, endpoint.key));
        return;
      }
      if (learned !== LearnedProtocol.UNKNOWN && (learned === LearnedProtocol.H2C) !== this.upstreamH2) {
        endpoint.probeAfter = 0;
        this.#learned(endpoint, learned, cause);
      } else this.#failed(cause, endpoint);
    }, noop);
  }

  /**
   * Send the request again on another endpoint when that is safe: it never
   * reached the upstream (connect failure, REFUSED_STREAM), or it is
   * idempotent and its body is still replayable. Bounded by --retries and the
   * upstream's retry budget.
   */
  #retry(err: RingsideError, cause: Error, failed: Endpoint): boolean {
    const route = this.route;
    if (!retryAllowed(route, this.attempt, err, err.code === ErrorCodes.CONNECT_FAILED || wasRefused(cause), this.method)) return false;
    if (this.body !== null && !this.body.replayable) return false;
    const hash = this.hasHash ? { hi: this.hashHi, lo: this.hashLo } : null;
    const next = nextEndpoint(route, failed, err, (this.tried ??= []), hash, this.clientProtocol, this.isGrpc, this.startedAt);
    if (next === null) return false;
    this.#dispatch(next, true, false);
    return true;
  }

  // --- sticky sessions (--session-cookie) ----------------------------------
  /**
   * The value of the request's cookie `name`, or null. Read from `headers`; a
   * codec that keeps the request's fields in its own form overrides this.
   */
  protected sessionCookieValue(name: string): string | null {
    return findCookie(this.headers, name);
  }

  /** Read the session cookie into this exchange (its SessionCarrier fields): the endpoint the pick must prefer, or null. */
  #readSession(sc: SessionCookie): Endpoint | null {
    return sc.readValue(this.sessionCookieValue(sc.name), this.route.upstream.endpoints, this);
  }

  /**
   * The Set-Cookie value the response head from this attempt's endpoint must
   * carry (a session started, or moved here), or null; counted. For a codec
   * that writes the upstream's head itself (once per response); onResponseStart
   * adds it for the others.
   */
  sessionSetCookie(): string | null {
    const sc = this.route.sessionCookie;
    return sc == null || this.endpoint === null ? null : sc.toIssue(this.endpoint, this);
  }

  // --- shared ending -------------------------------------------------------
  fail(err: RingsideError): void {
    if (this.done) return;
    const headSent = this.status !== 0;
    const s = statusOf(err);
    if (!headSent) this.status = s.httpStatus;
    if (this.isGrpc) this.grpcStatus = this.cancelled ? GrpcStatus.CANCELLED : s.grpcStatus;
    // A cancelled client has nobody left to answer.
    if (!this.cancelled) this.writeError(err, headSent);
    this.finish(err);
  }

  finish(err: RingsideError | null): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.body?.discard();
    requestFinished(this.route, this.endpoint, err, this.clientProtocol, this.status, this.grpcStatus, this.startedAt, this.attempt);
  }
}

/**
 * The upstream guarantees it did not process the stream: RST_STREAM with
 * REFUSED_STREAM, or a GOAWAY whose last-stream-id is below it (RFC 9113
 * sections 8.7 and 6.8). Both h2c clients (../http2/h2-error.ts, and
 * ../upstream/node-h2c-client.ts on compat) mark such failures
 * `unprocessed`; streams the server did take keep running. (undici's
 * H2CClient, compat's h2c client until issue 18, said so in its own words.)
 */
function wasRefused(cause: Error): boolean {
  return (cause as { unprocessed?: boolean }).unprocessed === true;
}

function noop(): void {}

/** Whether the flat [name, value, ...] list carries content-length. */
function declaresLength(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i].length === 14 && headers[i].toLowerCase() === 'content-length') return true;
  return false;
}

function abortUpstream(controller: Controller, err: Error): void {
  if (!controller.aborted) controller.abort(err);
}

function onTimeout(exchange: Exchange): void {
  exchange.timedOut();
}
