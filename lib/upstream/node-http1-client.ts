// The --engine compat client of one HTTP/1.1 endpoint for requests whose body
// may end in trailers: HTTP/2 requests with a body, and HTTP/1.1 requests
// without a declared length (chunked). Built on node:http's client with a
// keep-alive Agent, behind undici's dispatch contract (`dispatch(options,
// handler)` with the v8 handler callbacks).
//
// Why not undici's Pool for these: undici cannot send request trailers (its
// HTTP/1.1 writer ends every chunked body with `0\r\n\r\n`). node:http sends
// them with addTrailers() in the chunked body's trailer section (RFC 9112
// section 7.1.2). A body without a declared length goes chunked; one with a
// content-length keeps it, and trailers that arrive anyway are reported to the
// handler as dropped (as the lean engine's ../http1/http1-dispatcher.ts does).
// HTTP/1.1 requests with a declared length (most of them) stay on undici's
// Pool, the reference the lean engine is differentially tested against: such a
// body cannot carry trailers anyway.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DispatchControllerBase } from '../forwarding/dispatch-controller.ts';
import { forwardableTrailer } from '../forwarding/trailer-fields.ts';

export interface NodeHttp1ClientOptions {
  readonly connectTimeoutMs: number;
  /** Idle keep-alive connections close after this long. */
  readonly idleTimeoutMs: number;
  /** Connection gauge hooks: a connection was opened / closed. */
  readonly onOpen?: () => void;
  readonly onClose?: () => void;
}

type Handler = Dispatcher.DispatchHandler;
type Fields = Record<string, string | string[]>;
type Body = Readable & { readonly trailers?: Record<string, string> | null };

const REQUEST_CONTEXT = Object.freeze({});
/** Classified by toUpstreamError (./upstream-error.ts) as a connect failure: the request never reached the endpoint. */
const CONNECT_TIMEOUT_CODE = 'UND_ERR_CONNECT_TIMEOUT';

export class NodeHttp1Client {
  readonly host: string;
  readonly port: number;
  /** `host:port`: the Host of requests that carry none. */
  readonly authority: string;
  readonly options: NodeHttp1ClientOptions;
  readonly agent: http.Agent;
  /** Open connections. */
  size = 0;
  #inFlight = 0;
  #closed = false;
  #onIdle: (() => void) | null = null;
  readonly #seen = new WeakSet<Socket>();

  constructor(host: string, port: number, authority: string, options: NodeHttp1ClientOptions) {
    this.host = host;
    this.port = port;
    this.authority = authority;
    this.options = options;
    // `timeout` closes keep-alive sockets idle in the pool for that long (node's Agent destroys only free sockets on it).
    this.agent = new http.Agent({ keepAlive: true, timeout: options.idleTimeoutMs, scheduling: 'lifo' });
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Handler): boolean {
    const request = new NodeHttp1Request(this, handler, options.body as Body | null | undefined);
    handler.onRequestStart?.(request, REQUEST_CONTEXT);
    if (request.done) return true; // aborted from onRequestStart
    if (this.#closed) {
      request.fail(new Error(`the HTTP/1.1 client of ${this.authority} is closed`));
      return true;
    }
    this.#inFlight++;
    request.counted = true;
    request.send(options.method, options.path, options.headers as string[] | null | undefined);
    return true;
  }

  /** Internal: a new socket of the agent (counted once). */
  track(socket: Socket): void {
    if (this.#seen.has(socket)) return;
    this.#seen.add(socket);
    this.size++;
    this.options.onOpen?.();
    socket.once('close', () => {
      this.size--;
      this.options.onClose?.();
    });
  }

  /** Internal: a request finished (its socket went back to the agent or was destroyed). */
  finished(): void {
    if (--this.#inFlight === 0 && this.#onIdle !== null) {
      const resolve = this.#onIdle;
      this.#onIdle = null;
      this.agent.destroy();
      resolve();
    }
  }

  /** Take no new requests; resolve once those in flight finished and the connections are closed. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight === 0) {
      this.agent.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.#onIdle = resolve));
  }

  /** Close every connection now; requests in flight fail. */
  destroy(): Promise<void> {
    this.#closed = true;
    this.agent.destroy();
    return Promise.resolve();
  }
}

/** One request/response; it is also the dispatch controller the handler pauses, resumes and aborts. */
class NodeHttp1Request extends DispatchControllerBase {
  readonly client: NodeHttp1Client;
  readonly handler: Handler;
  readonly body: Body | null;
  req: http.ClientRequest | null = null;
  res: http.IncomingMessage | null = null;
  done = false;
  /** Counted in the client's requests in flight (until #release). */
  counted = false;
  #bodyEnded = false;
  #connectTimer: NodeJS.Timeout | null = null;

  constructor(client: NodeHttp1Client, handler: Handler, body: Body | null | undefined) {
    super();
    this.client = client;
    this.handler = handler;
    this.body = body ?? null;
  }

  send(method: string, path: string, headers: readonly string[] | null | undefined): void {
    const client = this.client;
    // A flat [name, value, ...] list goes out as it is (node:http's raw header form), plus Host when absent and our framing.
    const list: string[] = [];
    let sawHost = false;
    let declared = false;
    if (headers != null) {
      for (let i = 0; i < headers.length; i += 2) {
        const lower = headers[i].toLowerCase();
        if (lower === 'transfer-encoding') continue; // the framing is ours
        if (lower === 'host') sawHost = true;
        else if (lower === 'content-length') declared = true;
        list.push(headers[i], headers[i + 1]);
      }
    }
    // With a content-length the trailers will be dropped (below), so their announcement goes too: node:http
    // refuses a `trailer` field on a body it does not chunk (ERR_HTTP_TRAILER_INVALID; nghttp --trailer sends one).
    if (declared) {
      for (let i = list.length - 2; i >= 0; i -= 2) if (list[i].toLowerCase() === 'trailer') list.splice(i, 2);
    }
    if (!sawHost) list.push('host', client.authority);
    // Without a declared length the body goes chunked, so trailers can follow; explicit, so node:http chunks it
    // whatever the method (it only defaults to chunked for POST, PUT, ...).
    if (this.body !== null && !declared) list.push('transfer-encoding', 'chunked');
    let req: http.ClientRequest;
    try {
      req = http.request({ host: client.host, port: client.port, method, path, headers: list as unknown as http.OutgoingHttpHeaders, agent: client.agent, setHost: false });
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.req = req;
    req.on('socket', (socket: Socket) => {
      client.track(socket);
      if (!socket.connecting) return;
      this.#connectTimer = setTimeout(() => {
        this.#connectTimer = null;
        req.destroy(Object.assign(new Error(`connect timeout after ${client.options.connectTimeoutMs} ms`), { code: CONNECT_TIMEOUT_CODE }));
      }, client.options.connectTimeoutMs);
      socket.once('connect', () => this.#clearConnectTimer());
    });
    req.on('response', (res: http.IncomingMessage) => this.#onResponse(res));
    req.on('error', (err: Error) => this.fail(err));
    req.on('close', () => {
      this.#clearConnectTimer();
      // node:http emits this when the socket closes, which after a complete response (the upstream closes the
      // connection: connection: close, HTTP/1.0) comes before 'end' when the handler paused the response: that ends through 'end'.
      if (!this.done && this.res?.complete !== true) this.fail(new Error('upstream closed the connection'));
    });
    const body = this.body;
    if (body === null) {
      req.end();
      return;
    }
    req.on('drain', () => {
      if (!this.#bodyEnded) body.resume();
    });
    body.on('data', (chunk: Buffer) => {
      if (this.done) return;
      if (!req.write(chunk)) body.pause();
    });
    body.on('end', () => {
      this.#bodyEnded = true;
      if (this.done) return;
      const trailers = body.trailers ?? null;
      if (trailers !== null && declared) {
        // Sent with its Content-Length: in HTTP/1.1 only a chunked body carries trailers (RFC 9112 section 7.1.2).
        (this.handler as { onRequestTrailersDropped?(names: readonly string[]): void }).onRequestTrailersDropped?.(Object.keys(trailers));
      } else if (trailers !== null) {
        const out: Record<string, string> = {};
        for (const name in trailers) if (forwardableTrailer(name)) out[name] = trailers[name];
        try {
          req.addTrailers(out);
        } catch (err) {
          this.fail(err as Error);
          return;
        }
      }
      req.end();
    });
    body.on('error', (err: Error) => this.fail(err));
  }

  #onResponse(res: http.IncomingMessage): void {
    if (this.done) {
      res.resume();
      return;
    }
    this.res = res;
    if (this.paused) res.pause();
    res.on('data', (chunk: Buffer) => {
      if (!this.done) this.handler.onResponseData?.(this, chunk);
    });
    res.on('end', () => {
      if (this.done) return;
      this.done = true;
      this.#release();
      this.handler.onResponseEnd?.(this, fieldsOf(res.rawTrailers));
    });
    res.on('error', (err: Error) => this.fail(err));
    this.handler.onResponseStart?.(this, res.statusCode ?? 0, fieldsOf(res.rawHeaders), res.statusMessage ?? '');
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer === null) return;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  /** The request is over: a body we no longer read is destroyed (the listener keeps what a retry needs), as undici does. */
  #release(): void {
    this.#clearConnectTimer();
    const body = this.body;
    if (body !== null && !this.#bodyEnded && !body.destroyed) {
      body.destroy();
      // The response ended before the request body: the connection cannot be reused.
      this.req?.destroy();
    }
    if (this.counted) {
      this.counted = false;
      this.client.finished();
    }
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    const req = this.req;
    if (req !== null && !req.destroyed) req.destroy();
    this.#release();
    this.handler.onResponseError?.(this, err);
  }

  // --- DispatchController ------------------------------------------------------
  protected get finished(): boolean {
    return this.done;
  }

  protected pausing(): void {
    this.res?.pause();
  }

  protected resuming(): void {
    this.res?.resume();
  }

  protected aborting(reason: Error): void {
    this.fail(reason);
  }
}

/** A raw [name, value, ...] list as undici delivers fields: lower-case names, a repeated field as an array. */
function fieldsOf(raw: readonly string[]): Fields {
  const fields: Fields = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const prev = fields[name];
    if (prev === undefined) fields[name] = raw[i + 1];
    else if (Array.isArray(prev)) prev.push(raw[i + 1]);
    else fields[name] = [prev, raw[i + 1]];
  }
  return fields;
}
