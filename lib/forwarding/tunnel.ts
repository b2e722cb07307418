// A WebSocket (or any HTTP/1.1 protocol switch other than h2c) through the
// sidecar: the handshake is balanced like any request (hash policy, balancer,
// retries of connect failures), sent to the endpoint over HTTP/1.1 with its
// Upgrade and Connection fields (hop-by-hop for other requests, not for this
// one: RFC 9110 section 7.8), and a 101 turns both connections into one byte
// tunnel. Both codecs (the lean HTTP/1.1 server, node:http's 'upgrade' event)
// only detect the handshake and hand over the socket, the head and the bytes
// they had already read; everything else happens here, once.
//
// Life of a tunnel:
//   startTunnel   --max-tunnels slot, rate limit, hash, pick -> endpoint.upgrade(head, this)
//   onUpgradeConnected   client bytes (pipelined after the handshake) start flowing upstream
//   onUpgraded (101)     the head goes to the client; splice both ways:
//                          data      -> write to the other side; false: pause this side until 'drain'
//                          end (FIN) -> end() the other side (half-close, RFC 9293 section 3.6)
//                          error / close before both FINs -> reset the other side
//   onResponseHead (not 101)   an ordinary response, then both connections close
//   onUpgradeError    never connected: next endpoint (retry policy); else 502
// An open tunnel counts as load on its endpoint (Endpoint.tunnelOpened: least
// request and bounded load see it) and in the tunnel metrics, not as a request:
// the handshake itself is accounted as a request that ended with 101.

import type net from 'node:net';
import { http1ErrorText } from '../errors/error-response.ts';
import { statusOf } from '../errors/status.ts';
import { ClientCancelledError, NoEndpointsError, RateLimitedError, type RingsideError, TimeoutError, TunnelLimitError } from '../errors/errors.ts';
import type { RequestHeaders } from '../hash/hash-policy.ts';
import type { TunnelEndpointMetrics } from '../metrics/tunnel-metrics.ts';
import type { Endpoint, OpenTunnel } from '../upstream/endpoint.ts';
import { toUpstreamError } from '../upstream/upstream-error.ts';
import type { ClientProtocol } from './exchange.ts';
import { requestFinished } from './request-outcome.ts';
import { requestHash } from './request-hash.ts';
import { nextEndpoint, retryAllowed } from './retry-policy.ts';
import { findCookieIn, type SessionCarrier, SessionState } from './session-cookie.ts';
import type { Route } from './route.ts';
import type { IdleTracked, TunnelRegistry } from './tunnel-registry.ts';
import type { UpgradeAttempt, UpgradeHandler } from './upgrade-handler.ts';

/** The HTTP/1.1 client protocol value of ./exchange.ts (a type-only import: no runtime cycle). */
const HTTP1 = 0 as ClientProtocol;

/** Client bytes held while the upstream connection opens; past this the client is not read until it has. */
const MAX_EARLY_BYTES = 64 * 1024;

const S_HANDSHAKE = 0;
const S_RESPONSE = 1; // a non-101 answer is being passed on
const S_OPEN = 2;
const S_DONE = 3;

/** How the codec lets the tunnel stop and restart reading the client (lean: its SocketReader; node:http: the socket). */
export interface TunnelClientReader {
  pause(): void;
  resume(): void;
}

/** The handshake as the codec read it. */
export interface UpgradeHandshake {
  readonly method: string;
  /** The request-target (the hash policy's query sources read it). */
  readonly target: string;
  /** The head for the endpoint: request line, end-to-end fields plus Upgrade and `connection: upgrade`, blank line. */
  readonly head: string;
  /** The fields the hash policy and the rate limit's key read, by lower-case name. */
  readonly hashHeaders: RequestHeaders;
}

/**
 * Whether an `Upgrade` field value asks for a protocol we tunnel: any token
 * but h2c (HTTP/2 over cleartext: we serve HTTP/2 ourselves, on prior
 * knowledge, and never switch a connection to it; such requests keep today's 501).
 */
export function tunnelsUpgrade(value: string): boolean {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t === 'h2c' || t.startsWith('h2c/')) return false;
  }
  return value.trim() !== '';
}

/**
 * Take over `socket` (the codec has stopped reading it as HTTP) for the
 * handshake in `handshake`; `early`: bytes the client sent after the head that
 * the codec already read (they belong to the tunnel). The client's bytes must
 * from now on reach the returned tunnel's onData (or onRead, for the lean
 * engine's direct reads); `reader` pauses and resumes them.
 */
export function startTunnel(route: Route, socket: net.Socket, reader: TunnelClientReader, handshake: UpgradeHandshake, early: Buffer | null): Tunnel {
  const tunnel = new Tunnel(route, socket, reader, handshake.method, handshake.head);
  if (early !== null && early.length > 0) tunnel.onData(early);
  tunnel.start(handshake);
  return tunnel;
}

export class Tunnel implements UpgradeHandler, OpenTunnel, IdleTracked, SessionCarrier {
  readonly route: Route;
  readonly client: net.Socket;
  readonly #reader: TunnelClientReader;
  readonly #registry: TunnelRegistry | null;
  readonly #method: string;
  readonly #head: string;
  #state = S_HANDSHAKE;
  #reserved = false;
  endpoint: Endpoint | null = null;
  #attempt = 0;
  #tried: Endpoint[] | null = null;
  #hasHash = false;
  #hashHi = 0;
  #hashLo = 0;
  #startedAt = 0;
  #status = 0;
  #request: UpgradeAttempt | null = null;
  #upstream: net.Socket | null = null;
  /** Client bytes read before the upstream connection was writable. */
  #early: Buffer[] | null = null;
  #earlyBytes = 0;
  #clientEnded = false;
  #timer: NodeJS.Timeout | null = null;
  #metrics: TunnelEndpointMetrics | null = null;
  // SessionCarrier: what the session cookie (--session-cookie) said, for the Set-Cookie of the answer.
  sessionState: SessionState = SessionState.NONE;
  sessionEndpoint: Endpoint | null = null;
  // IdleTracked
  active = false;
  quietSweeps = 0;

  constructor(route: Route, client: net.Socket, reader: TunnelClientReader, method: string, head: string) {
    this.route = route;
    this.client = client;
    this.#reader = reader;
    this.#registry = route.tunnels ?? null;
    this.#method = method;
    this.#head = head;
    // Each side's FIN is passed on by us, on its own: node must not end our side when the client's FIN arrives.
    client.allowHalfOpen = true;
    client.on('data', this.onData);
    client.on('end', this.#onClientEnd);
    client.on('drain', this.#onClientDrain);
    client.on('error', noop);
    client.once('close', this.#onClientClose);
  }

  start(handshake: UpgradeHandshake): void {
    const route = this.route;
    this.#startedAt = performance.now();
    const registry = this.#registry;
    if (registry !== null) {
      if (!registry.reserve()) {
        this.#fail(new TunnelLimitError(route.upstream.name, registry.maxTunnels));
        return;
      }
      this.#reserved = true;
    }
    const limiter = route.rateLimiter;
    if (limiter != null) {
      const waitMs = limiter.check(handshake.hashHeaders, handshake.target, this.#startedAt);
      if (waitMs > 0) {
        this.#fail(new RateLimitedError(route.upstream.name, waitMs));
        return;
      }
    }
    const hash = route.hashPolicy === null ? null : requestHash(route, handshake.hashHeaders, handshake.target, this.client.remoteAddress);
    if (hash !== null) {
      // route.hash is shared scratch: keep our own copy for retries.
      this.#hasHash = true;
      this.#hashHi = hash.hi;
      this.#hashLo = hash.lo;
    }
    route.upstream.retryBudget.recordRequest(this.#startedAt);
    // A session cookie wins over the policy, as for any request (./session-cookie.ts).
    const sc = route.sessionCookie;
    const stuck = sc == null ? null : sc.readValue(findCookieIn(handshake.hashHeaders.cookie, sc.name), route.upstream.endpoints, this);
    const endpoint = route.upstream.pick(hash, null, stuck);
    if (endpoint === null) {
      this.#fail(new NoEndpointsError(route.upstream.name, route.upstream.emptyReason ?? undefined));
      return;
    }
    // Until the answer: --request-timeout, else the tunnel idle timeout (an endpoint that never answers must not hold a slot for ever).
    const waitMs = route.requestTimeoutMs > 0 ? route.requestTimeoutMs : (registry?.idleTimeoutMs ?? 0);
    if (waitMs > 0) this.#timer = setTimeout(onHandshakeTimeout, waitMs, this);
    this.#dispatch(endpoint);
  }

  #dispatch(endpoint: Endpoint): void {
    const route = this.route;
    this.endpoint = endpoint;
    this.#attempt++;
    endpoint.requestStarted();
    route.observer.requestStarted(route, endpoint);
    this.#request = endpoint.upgrade(this.#head, this);
  }

  // --- client side -----------------------------------------------------------
  /** Client bytes (an owned chunk). */
  readonly onData = (chunk: Buffer): void => {
    if (this.#state === S_OPEN) {
      this.active = true;
      const m = this.#metrics;
      if (m !== null) m.bytesToUpstream += chunk.length;
      if (!this.#upstream!.write(chunk)) this.#reader.pause();
      return;
    }
    if (this.#state !== S_HANDSHAKE) return; // a non-101 answer is on its way: the rest is dropped with the connection
    const up = this.#upstream;
    if (up !== null) {
      if (!up.write(chunk)) this.#reader.pause();
      return;
    }
    (this.#early ??= []).push(chunk);
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > MAX_EARLY_BYTES) this.#reader.pause();
  };

  /** The lean engine's direct reads: `shared` is valid only during the call. */
  onRead(shared: Buffer, n: number): void {
    this.onData(Buffer.copyBytesFrom(shared, 0, n));
  }

  readonly #onClientEnd = (): void => {
    this.#clientEnded = true;
    if (this.#state === S_OPEN || (this.#state === S_HANDSHAKE && this.#upstream !== null)) this.#upstream!.end();
  };

  readonly #onClientDrain = (): void => {
    if (this.#state === S_OPEN) this.#upstream!.resume();
    else if (this.#state === S_RESPONSE) this.#request?.resume();
  };

  readonly #onClientClose = (hadError: boolean): void => {
    const state = this.#state;
    if (state === S_DONE) return;
    if (state === S_OPEN) {
      const up = this.#upstream!;
      // A client that finished both ways leaves the upstream to finish the same. One that failed (a reset, a
      // write error) resets the upstream; one closed here (drain deadline on shutdown) closes it.
      if (!(this.client.readableEnded && this.client.writableFinished)) closeOther(up, hadError);
      this.#closeTunnel();
      return;
    }
    // Gone during the handshake or the non-101 answer.
    const request = this.#request;
    this.#request = null;
    request?.abort();
    if (this.endpoint === null) return; // failed before any pick: already accounted
    if (state === S_HANDSHAKE) this.#status = 499;
    this.#finish(new ClientCancelledError(this.route.upstream.name, this.endpoint.key));
  };

  // --- UpgradeHandler --------------------------------------------------------
  onUpgradeConnected(socket: net.Socket): void {
    if (this.#state !== S_HANDSHAKE) return;
    this.#upstream = socket;
    socket.on('drain', this.#onUpstreamDrain);
    const early = this.#early;
    if (early !== null) {
      this.#early = null;
      this.#earlyBytes = 0;
      let ok = true;
      for (const chunk of early) ok = socket.write(chunk);
      if (ok) this.#reader.resume();
    }
    if (this.#clientEnded) socket.end();
  }

  onUpgraded(socket: net.Socket, head: Buffer, rest: Buffer | null): void {
    if (this.#state !== S_HANDSHAKE) {
      socket.destroy();
      return;
    }
    const route = this.route;
    const endpoint = this.endpoint!;
    this.#clearTimer();
    this.#request = null;
    this.#upstream = socket;
    this.#status = 101;
    // The handshake is a request that ended with 101; from here the endpoint carries a tunnel. The
    // tunnel is counted first: a removed endpoint whose in-flight count touched 0 in between would
    // finish draining (series deleted, no drain deadline) under a tunnel that then ran on for ever.
    this.#state = S_OPEN;
    endpoint.tunnelOpened(this);
    requestFinished(route, endpoint, null, HTTP1, 101, -1, this.#startedAt, this.#attempt);
    this.#registry?.opened(this);
    const m = (this.#metrics = endpoint.tunnelMetrics);
    if (m !== null) {
      m.opened++;
      m.open++;
    }
    this.active = true;
    const client = this.client;
    const cookie = this.#setCookie();
    // The 101 names the endpoint in the session cookie when the request's cookie did not (a WebSocket client's jar keeps it).
    client.write(cookie === null ? head : Buffer.concat([head.subarray(0, head.length - 2), Buffer.from(`set-cookie: ${cookie}\r\n\r\n`, 'latin1')]));
    if (rest !== null) {
      if (m !== null) m.bytesToClient += rest.length;
      client.write(rest);
    }
    socket.on('data', this.#onUpstreamData);
    socket.on('end', this.#onUpstreamEnd);
    socket.on('error', noop);
    socket.once('close', this.#onUpstreamClose);
    if (this.#clientEnded && socket.writable) socket.end();
    // Stay paused while the client is not draining (the 101 and `rest` may have filled its buffer).
    if (!client.writableNeedDrain) socket.resume();
    this.#reader.resume();
    // Its endpoint left the set and the drain timeout passed while the handshake was on its way.
    if (endpoint.tunnelsDue && endpoint.state === 'draining') this.close();
  }

  onResponseHead(status: number, head: string): void {
    if (this.#state !== S_HANDSHAKE) return;
    this.#clearTimer();
    // The rest of the answer gets the tunnel idle timeout to arrive in whole: a replica that stalls
    // mid-body must not hold a --max-tunnels slot for ever (the client's FIN does not end this state).
    const idleMs = this.#registry?.idleTimeoutMs ?? 0;
    if (idleMs > 0) this.#timer = setTimeout(onHandshakeTimeout, idleMs, this);
    this.#state = S_RESPONSE;
    this.#status = status;
    const cookie = this.#setCookie();
    this.client.write(cookie === null ? head : `${head.slice(0, -2)}set-cookie: ${cookie}\r\n\r\n`, 'latin1');
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.#state !== S_RESPONSE) return true;
    return this.client.write(chunk);
  }

  onResponseEnd(): void {
    if (this.#state !== S_RESPONSE) return;
    this.#request = null;
    this.client.destroySoon();
    this.#finish(null);
  }

  onUpgradeError(error: Error, connected: boolean): void {
    if (this.#state !== S_HANDSHAKE && this.#state !== S_RESPONSE) return;
    const route = this.route;
    const endpoint = this.endpoint!;
    this.#request = null;
    const err = toUpstreamError(error, route.upstream.name, endpoint.key);
    if (this.#state === S_RESPONSE) {
      // Part of the answer went out: only a closed connection tells the client it is cut short.
      this.client.destroy();
      this.#finish(err);
      return;
    }
    this.#upstream = null;
    // Nothing was sent (connect refused or timed out): another endpoint, as for any request.
    if (!connected && retryAllowed(route, this.#attempt, err, true, this.#method)) {
      const hash = this.#hasHash ? { hi: this.#hashHi, lo: this.#hashLo } : null;
      const next = nextEndpoint(route, endpoint, err, (this.#tried ??= []), hash, HTTP1, false, this.#startedAt);
      if (next !== null) {
        this.#dispatch(next);
        return;
      }
    }
    this.#fail(err);
  }

  // --- upstream side of an open tunnel ------------------------------------
  readonly #onUpstreamData = (chunk: Buffer): void => {
    this.active = true;
    const m = this.#metrics;
    if (m !== null) m.bytesToClient += chunk.length;
    if (!this.client.write(chunk)) this.#upstream!.pause();
  };

  readonly #onUpstreamDrain = (): void => {
    this.#reader.resume();
  };

  readonly #onUpstreamEnd = (): void => {
    if (this.client.writable) this.client.end();
  };

  readonly #onUpstreamClose = (hadError: boolean): void => {
    if (this.#state !== S_OPEN) return;
    const up = this.#upstream!;
    if (!(up.readableEnded && up.writableFinished)) closeOther(this.client, hadError);
    this.#closeTunnel();
  };

  /** The Set-Cookie the answer from this endpoint carries (a session started or moved here), or null. */
  #setCookie(): string | null {
    const sc = this.route.sessionCookie;
    return sc == null ? null : sc.toIssue(this.endpoint!, this);
  }

  // --- endings ---------------------------------------------------------------
  /** OpenTunnel: the endpoint left the set and --drain-timeout passed. */
  close(): void {
    if (this.#state !== S_OPEN) return;
    this.client.destroy();
    this.#upstream!.destroy();
    this.#closeTunnel();
  }

  /** IdleTracked: no byte either way for --tunnel-idle-timeout. */
  idleTimeout(): void {
    this.close();
  }

  handshakeTimedOut(): void {
    this.#timer = null;
    const state = this.#state;
    if (state !== S_HANDSHAKE && state !== S_RESPONSE) return;
    const request = this.#request;
    this.#request = null;
    request?.abort();
    if (state === S_RESPONSE) {
      // Part of the answer went out: only a closed connection tells the client it is cut short.
      this.client.destroy();
      this.#finish(new TimeoutError(this.route.upstream.name, this.endpoint?.key, 'response to the upgrade handshake'));
      return;
    }
    this.#upstream = null;
    this.#fail(new TimeoutError(this.route.upstream.name, this.endpoint?.key, 'upgrade handshake'));
  }

  /** Answer the client with ringside's own error and close its connection. */
  #fail(err: RingsideError): void {
    if (this.#state === S_DONE) return;
    this.#status = statusOf(err).httpStatus;
    if (this.client.writable) this.client.end(http1ErrorText(err, false, true), 'latin1');
    this.client.destroySoon();
    this.#finish(err);
  }

  /** The handshake ended without a tunnel: account it as the request it was. */
  #finish(err: RingsideError | null): void {
    if (this.#state === S_DONE) return;
    this.#state = S_DONE;
    this.#clearTimer();
    this.#early = null;
    if (this.#reserved) {
      this.#reserved = false;
      this.#registry!.release();
    }
    requestFinished(this.route, this.endpoint, err, HTTP1, this.#status, -1, this.#startedAt, this.#attempt);
  }

  /** The open tunnel is over (both sides closed, or one reset and the other was reset with it). */
  #closeTunnel(): void {
    if (this.#state !== S_OPEN) return;
    this.#state = S_DONE;
    const m = this.#metrics;
    if (m !== null) m.open--;
    this.#registry?.closed(this);
    if (this.#reserved) {
      this.#reserved = false;
      this.#registry!.release();
    }
    this.endpoint!.tunnelClosed(this);
    if (this.route.logger.debugEnabled) {
      this.route.logger.debug('tunnel closed', { upstream: this.route.upstream.name, endpoint: this.endpoint!.key, seconds: (performance.now() - this.#startedAt) / 1000 });
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

/** One side of a tunnel went before both its directions had ended: reset the other if it failed, else close it. */
function closeOther(other: net.Socket, reset: boolean): void {
  if (reset) other.resetAndDestroy();
  else other.destroy();
}

function onHandshakeTimeout(tunnel: Tunnel): void {
  tunnel.handshakeTimedOut();
}

function noop(): void {}
