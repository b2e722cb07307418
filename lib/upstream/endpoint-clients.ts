// The clients an endpoint speaks through, chosen once from --engine for the
// whole process (lib/app.ts hands the choice to every Upstream, which gives
// it to each Endpoint it creates): ours (../http1/ keep-alive pool and its
// dispatch-contract face, ../http2/ client) or the reference ones of --engine
// compat (undici's Pool, node:http, node:http2). The forwarding core asks an
// endpoint for "an HTTP/1.1 client" or "an h2c client", never for an engine's.
// Each client is created on first use.

import { createRequire } from 'node:module';
import type { Dispatcher, Pool } from 'undici';
import type { Engine } from '../config/config.ts';
import type { ConnectionMetrics } from '../metrics/metrics.ts';
import { Protocol } from '../metrics/metrics.ts';
import { Http1Dispatcher } from '../http1/http1-dispatcher.ts';
import { UpstreamPool } from '../http1/upstream-pool.ts';
import { H2Client } from '../http2/h2-client.ts';
import { NodeH2cClient } from './node-h2c-client.ts';
import { NodeHttp1Client } from './node-http1-client.ts';

// undici is loaded on first use: --engine compat needs it (its Pool for
// HTTP/1.1 upstreams; the lean engine has its own, ../http1/http1-dispatcher.ts).
// Importing it at start-up costs 3-6 MiB of RSS in a process that, serving
// HTTP/1.1 clients on the default engine, never calls it (deploy/README.md, "Sizing"). A CommonJS
// require, because undici is a CommonJS package and it is loaded synchronously
// from inside a request's dispatch.
let undiciModule: typeof import('undici') | null = null;
function undici(): typeof import('undici') {
  return (undiciModule ??= createRequire(import.meta.url)('undici') as typeof import('undici'));
}

/** What the forwarding core needs of an upstream client: undici's dispatch contract. */
export type UpstreamDispatcher = Pick<Dispatcher, 'dispatch'>;

/** Where and how an endpoint's clients connect. */
export interface ClientTarget {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** Idle upstream connections close after this long. */
  readonly idleTimeoutMs: number;
  /** Keepalive PINGs of our h2c client (see H2ClientOptions); absent: off, and the default ack timeout. */
  readonly h2KeepaliveIntervalMs?: number;
  readonly h2PingTimeoutMs?: number;
  /** Gauges of open connections to this endpoint, when metrics are on. */
  readonly connections?: ConnectionMetrics;
}

export interface EndpointClients {
  /** The client for HTTP/1.1 requests; `mayHaveTrailers`: the request body may end in trailers. */
  http1(mayHaveTrailers: boolean): UpstreamDispatcher;
  /** The client for cleartext HTTP/2 requests. */
  h2c(): UpstreamDispatcher;
  /** Our keep-alive HTTP/1.1 pool, for our HTTP/1.1 server's attempts that pass bytes on as they are (../http1/pool-attempt.ts). */
  pool(): UpstreamPool;
  /** Open upstream connections per protocol (metrics, /status). */
  connections(): { http1: number; h2c: number };
  /** Close every client: graceful (in-flight requests finish) unless `force`. */
  close(force: boolean): Promise<void>;
}

export type EndpointClientsFactory = (target: ClientTarget) => EndpointClients;

/** The client set of `engine` (absent: ours, the default engine): chosen once, in lib/app.ts. */
export function endpointClientsFor(engine: Engine | undefined): EndpointClientsFactory {
  return engine === 'compat' ? createCompatClients : createLeanClients;
}

function gaugeHooks(target: ClientTarget, protocol: Protocol): { onOpen?: () => void; onClose?: () => void } {
  const gauge = target.connections;
  return gauge === undefined ? {} : { onOpen: () => gauge.opened(protocol), onClose: () => gauge.closed(protocol) };
}

/** Ours: the keep-alive pool (with the dispatch contract over it, which carries request trailers) and our HTTP/2 client. */
export function createLeanClients(target: ClientTarget): EndpointClients {
  return new LeanClients(target);
}

class LeanClients implements EndpointClients {
  readonly #target: ClientTarget;
  #pool: UpstreamPool | null = null;
  #dispatcher: Http1Dispatcher | null = null;
  #h2: H2Client | null = null;

  constructor(target: ClientTarget) {
    this.#target = target;
  }

  pool(): UpstreamPool {
    if (this.#pool !== null) return this.#pool;
    const t = this.#target;
    this.#pool = new UpstreamPool(t.host, t.port, { connectTimeoutMs: t.connectTimeoutMs, idleTimeoutMs: t.idleTimeoutMs, ...gaugeHooks(t, Protocol.http1) });
    return this.#pool;
  }

  http1(_mayHaveTrailers: boolean): UpstreamDispatcher {
    const pool = this.pool();
    if (this.#dispatcher === null || this.#dispatcher.pool !== pool) this.#dispatcher = new Http1Dispatcher(pool, this.#target.key);
    return this.#dispatcher;
  }

  h2c(): UpstreamDispatcher {
    if (this.#h2 !== null) return this.#h2;
    const t = this.#target;
    this.#h2 = new H2Client(t.host, t.port, {
      connectTimeoutMs: t.connectTimeoutMs,
      idleTimeoutMs: t.idleTimeoutMs,
      keepaliveIntervalMs: t.h2KeepaliveIntervalMs,
      pingTimeoutMs: t.h2PingTimeoutMs,
      ...gaugeHooks(t, Protocol.http2),
    });
    return this.#h2;
  }

  connections(): { http1: number; h2c: number } {
    return { http1: this.#pool !== null ? this.#pool.size : 0, h2c: this.#h2 !== null ? this.#h2.size : 0 };
  }

  async close(force: boolean): Promise<void> {
    const pool = this.#pool;
    const h2 = this.#h2;
    this.#pool = null;
    this.#dispatcher = null;
    this.#h2 = null;
    await Promise.all([pool?.close(force), h2 === null ? undefined : force ? h2.destroy() : h2.close()]);
  }
}

/**
 * The reference clients (--engine compat): undici's Pool for HTTP/1.1, or
 * node:http's client for a body that may end in trailers (undici could
 * neither send them nor report them dropped); node:http2's client session for
 * h2c (not undici's H2CClient, which drops response DATA still buffered when
 * trailers arrive and re-enters node:http2 when a stream is reset from the
 * client's side: issue 18, ./node-h2c-client.ts).
 */
export function createCompatClients(target: ClientTarget): EndpointClients {
  return new CompatClients(target);
}

class CompatClients implements EndpointClients {
  readonly #target: ClientTarget;
  #undici: Pool | null = null;
  #node: NodeHttp1Client | null = null;
  #h2: NodeH2cClient | null = null;
  /** Our pool, for our HTTP/1.1 server if it runs beside compat clients (it does not from the command line). */
  readonly #lean: LeanClients;

  constructor(target: ClientTarget) {
    this.#target = target;
    this.#lean = new LeanClients(target);
  }

  pool(): UpstreamPool {
    return this.#lean.pool();
  }

  http1(mayHaveTrailers: boolean): UpstreamDispatcher {
    return mayHaveTrailers ? this.#nodeHttp1() : this.#undiciPool();
  }

  #undiciPool(): Pool {
    if (this.#undici !== null) return this.#undici;
    const t = this.#target;
    const origin = `http://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    const pool = new (undici().Pool)(origin, {
      connectTimeout: t.connectTimeoutMs,
      // The proxy applies its own request timeout; streams (gRPC, downloads)
      // may legitimately be idle or long, so undici's own timers are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: t.idleTimeoutMs,
      keepAliveMaxTimeout: t.idleTimeoutMs,
      pipelining: 1,
    });
    const gauge = t.connections;
    if (gauge !== undefined) {
      pool.on('connect', () => gauge.opened(Protocol.http1));
      pool.on('disconnect', () => gauge.closed(Protocol.http1));
    }
    return (this.#undici = pool);
  }

  #nodeHttp1(): NodeHttp1Client {
    if (this.#node !== null) return this.#node;
    const t = this.#target;
    this.#node = new NodeHttp1Client(t.host, t.port, t.key, { connectTimeoutMs: t.connectTimeoutMs, idleTimeoutMs: t.idleTimeoutMs, ...gaugeHooks(t, Protocol.http1) });
    return this.#node;
  }

  h2c(): UpstreamDispatcher {
    if (this.#h2 !== null) return this.#h2;
    const t = this.#target;
    this.#h2 = new NodeH2cClient(t.host, t.port, { connectTimeoutMs: t.connectTimeoutMs, idleTimeoutMs: t.idleTimeoutMs, ...gaugeHooks(t, Protocol.http2) });
    return this.#h2;
  }

  connections(): { http1: number; h2c: number } {
    const lean = this.#lean.connections();
    return {
      http1: (this.#undici !== null ? this.#undici.stats.connected : 0) + (this.#node !== null ? this.#node.size : 0) + lean.http1,
      h2c: this.#h2 !== null ? this.#h2.connected : 0,
    };
  }

  async close(force: boolean): Promise<void> {
    const pool = this.#undici;
    const node = this.#node;
    const h2 = this.#h2;
    this.#undici = null;
    this.#node = null;
    this.#h2 = null;
    await Promise.all([
      pool === null ? undefined : (force ? pool.destroy() : pool.close()).catch(() => {}),
      node === null ? undefined : force ? node.destroy() : node.close(),
      h2 === null ? undefined : force ? h2.destroy() : h2.close(),
      this.#lean.close(force),
    ]);
  }
}
