// An HTTP/1.1 request read by the lean engine (../http1/server-connection.ts)
// and forwarded by the Exchange core: the lean engine speaks only HTTP/1.1
// upstream, so under `--upstream-protocol auto` it hands over the requests
// for endpoints that speak only h2c. The lean connection keeps reading the
// request (its body arrives here decoded, through pushBody) and this exchange
// writes the HTTP/1.1 response back onto the lean connection's socket.
//
// A first piece of one forwarding core (issue 19): the lean engine's own
// HTTP/1.1 -> HTTP/1.1 path does not come here, so its hot path is unchanged.

import { Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { RingsideError } from '../errors/errors.ts';
import type { HandedOffExchange, HandOffRequest, ServerConnection } from '../http1/server-connection.ts';
import { type Endpoint, LearnedProtocol } from '../upstream/endpoint.ts';
import { http1ErrorText } from '../errors/error-response.ts';
import { learnProtocol } from '../forwarding/learned-protocol.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from '../forwarding/exchange.ts';
import { RequestBodyTap } from '../forwarding/request-body.ts';
import type { Route } from '../forwarding/route.ts';

type Headers = Record<string, string | string[] | undefined>;

/** Response fields that are about the HTTP/2 hop (or that we set ourselves) and never go out in an HTTP/1.1 head. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** The request body, fed by the lean connection; asking for more resumes its reads. */
class LeanRequestBody extends Readable {
  readonly conn: ServerConnection;
  /** The chunked body's trailers, read by the upstream clients once it has ended (as RequestBodyStream.trailers). */
  trailers: Record<string, string> | null = null;

  constructor(conn: ServerConnection) {
    super({ highWaterMark: 64 * 1024 });
    this.conn = conn;
  }

  override _read(): void {
    this.conn.bodyWanted();
  }
}

export class Http1ServerExchange extends Exchange implements HandedOffExchange {
  readonly conn: ServerConnection;
  readonly #target: Endpoint;
  readonly #request: HandOffRequest;
  readonly #path: string;
  readonly #fields: string[];
  readonly #isHead: boolean;
  readonly #minor: number;
  #keepAlive: boolean;
  readonly #source: LeanRequestBody | null;
  /** The response body goes out chunked (no content-length from upstream, HTTP/1.1 client). */
  #chunked = false;
  /** HEAD, 204, 304: a head without a body. */
  #bodiless = false;
  /** The connection must close after the response (HTTP/1.0 without a length). */
  #closeAfter = false;
  /** The response broke after its head: the client connection is closed. */
  #broken = false;

  constructor(route: Route, conn: ServerConnection, endpoint: Endpoint, request: HandOffRequest, path: string, fields: string[]) {
    super(route, ClientProtocol.HTTP1, request.isGrpc);
    this.conn = conn;
    this.#target = endpoint;
    this.#request = request;
    this.#path = path;
    this.#fields = fields;
    this.#isHead = request.method === 'HEAD';
    this.#minor = request.minor;
    this.#keepAlive = request.keepAlive;
    this.#source = request.hasBody ? new LeanRequestBody(conn) : null;
  }

  // --- from the lean connection --------------------------------------------
  pushBody(chunk: Buffer | null): boolean {
    const source = this.#source;
    if (source === null || source.destroyed) return true;
    return source.push(chunk);
  }

  setTrailers(fields: Record<string, string>): void {
    if (this.#source !== null) this.#source.trailers = fields;
  }

  clientDrained(): void {
    this.resume();
  }

  // clientGone() is Exchange's.

  // --- to the client -----------------------------------------------------------
  protected writeHead(status: number, headers: Record<string, string | string[]>, statusMessage: string | undefined): void {
    let head = `HTTP/1.${this.#minor} ${status} ${statusMessage || STATUS_CODES[status] || 'Unknown'}\r\n`;
    let length = false;
    for (const name in headers) {
      if (NOT_FORWARDED.has(name)) continue;
      const value = headers[name];
      if (name === 'content-length') length = true;
      if (Array.isArray(value)) {
        for (const v of value) if (isSafeValue(v)) head += `${name}: ${v}\r\n`;
      } else if (isSafeValue(value)) head += `${name}: ${value}\r\n`;
    }
    this.#bodiless = this.#isHead || status === 204 || status === 304;
    if (!this.#bodiless && !length) {
      // RFC 9112 section 6.1/6.3: chunked for HTTP/1.1; an HTTP/1.0 client reads to the close.
      if (this.#minor === 1) {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else this.#closeAfter = true;
    }
    if (this.#closeAfter || !this.conn.responseKeepAlive || !this.#keepAlive) {
      this.#keepAlive = false;
      head += 'connection: close\r\n';
    } else if (this.#minor === 0) head += 'connection: keep-alive\r\n';
    this.conn.writeClient(Buffer.from(head + '\r\n', 'latin1'));
  }

  protected writeData(chunk: Buffer): boolean {
    if (this.#bodiless || chunk.length === 0) return true;
    if (!this.#chunked) return this.conn.writeClient(chunk);
    this.conn.writeClient(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'));
    this.conn.writeClient(chunk);
    return this.conn.writeClient(CRLF);
  }

  protected writeEnd(trailers: Headers | null): void {
    if (!this.#chunked) return;
    let end = '0\r\n';
    // Trailers can follow only a chunked body (RFC 9112 section 7.1.2).
    if (trailers !== null) {
      for (const name in trailers) {
        const value = trailers[name];
        if (value === undefined || NOT_FORWARDED.has(name)) continue;
        for (const v of Array.isArray(value) ? value : [value]) if (isSafeValue(v)) end += `${name}: ${v}\r\n`;
      }
    }
    this.conn.writeClient(Buffer.from(end + '\r\n', 'latin1'));
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    if (headSent) {
      // Part of the response went out: only a closed connection tells the client it is truncated.
      this.#broken = true;
      return;
    }
    if (!this.conn.responseKeepAlive) this.#keepAlive = false;
    this.conn.writeClient(Buffer.from(http1ErrorText(err, this.isGrpc, !this.#keepAlive), 'utf8'));
  }

  override finish(err: RingsideError | null): void {
    if (this.done) return;
    super.finish(err);
    // A cancelled exchange's client connection is gone already.
    if (!this.cancelled) this.conn.handOffEnded(this.#broken, this.#keepAlive);
  }

  /** Start forwarding (ServerConnection calls it once it holds this exchange): the body tap over the lean connection's body, then the core. */
  begin(): void {
    const request = this.#request;
    const fields = this.#fields;
    const body = this.#source === null ? null : new RequestBodyTap(this.#source, this.route.upstream.config.retryBufferBytes);
    const deadline = this.isGrpc ? parseGrpcTimeout(findHeader(fields, 'grpc-timeout')) : 0;
    this.startOn(this.#target, request.method, this.#path, fields, body, request.hash, deadline, request.accounted);
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** A field value that cannot split the head: no CR, LF or NUL (an HTTP/2 peer's values are validated, but stay safe). */
function isSafeValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0) return false;
  }
  return true;
}

function findHeader(headers: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === lower) return headers[i + 1];
  return undefined;
}

/**
 * The lean engine's hand-off (../http1/server-connection.ts HandOff): the head it
 * would have sent upstream becomes the Exchange's request (the path and a
 * flat field list, without the hop's own framing field).
 */
export function handOffToExchange(route: Route, conn: ServerConnection, endpoint: Endpoint, request: HandOffRequest): HandedOffExchange {
  if (request.learnedNow) learnProtocol(route, endpoint, LearnedProtocol.H2C);
  const forward = request.forward;
  const lineEnd = forward.indexOf('\r\n');
  const sp1 = forward.indexOf(' ');
  const path = forward.slice(sp1 + 1, forward.lastIndexOf(' ', lineEnd));
  const headers: string[] = [];
  let pos = lineEnd + 2;
  while (pos < forward.length - 2) {
    const end = forward.indexOf('\r\n', pos);
    const colon = forward.indexOf(':', pos);
    const name = forward.slice(pos, colon);
    // The body arrives decoded: its HTTP/1.1 framing field does not go to an HTTP/2 upstream (RFC 9113 section 8.2.2).
    if (name.length !== 17 || name.toLowerCase() !== 'transfer-encoding') headers.push(name, forward.slice(colon + 1, end).trim());
    pos = end + 2;
  }
  if (!request.hasHost) headers.push('host', endpoint.key);
  return new Http1ServerExchange(route, conn, endpoint, request, path, headers);
}
