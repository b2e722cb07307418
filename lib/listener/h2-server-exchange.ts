// HTTP/2 streams from our own server session (../http2/server-session.ts,
// --engine lean), forwarded through the Exchange core. The session decoded the
// request head into what the core needs; this writes the response back as
// HTTP/2 frames on the stream (heads and trailers as flat field lists, no
// header objects in between). --engine compat keeps node:http2 (./http2-exchange.ts).

import { errorResponse, grpcErrorTrailers } from '../errors/error-response.ts';
import { BadRequestError, type RingsideError, UpstreamProtocolError } from '../errors/errors.ts';
import { ClientProtocol, Exchange, parseGrpcTimeout } from '../forwarding/exchange.ts';
import { isSafeFieldValue } from '../forwarding/hop-by-hop.ts';
import { requestHashOfFields } from '../forwarding/request-hash.ts';
import type { Route } from '../forwarding/route.ts';
import { ErrorCode } from '../http2/frames.ts';
import { CONNECTION_SPECIFIC } from '../http2/header-fields.ts';
import type { ServerStream, ServerStreamConsumer } from '../http2/server-stream.ts';

type Headers = Record<string, string | string[] | undefined>;

export class H2ServerExchange extends Exchange implements ServerStreamConsumer {
  readonly stream: ServerStream;
  /** HEAD, 204 and 304 responses carry no body (RFC 9110 section 6.4.1); nor does a gRPC trailers-only response. */
  bodiless = false;

  constructor(route: Route, stream: ServerStream) {
    super(route, ClientProtocol.HTTP2, stream.isGrpc);
    this.stream = stream;
    stream.consumer = this;
  }

  protected writeHead(status: number, headers: Record<string, string | string[]>): void {
    const stream = this.stream;
    if (stream.closed) return;
    // The session encodes the head at once (HEADERS are not flow-controlled), so one list serves every response.
    const head = HEAD_FIELDS;
    head[1] = status === 200 ? '200' : String(status);
    const fields = toFields(headers, head, 2);
    if (typeof fields === 'string') {
      // A head HTTP/2 cannot carry: nothing went out, the client gets a proxy-made 502 instead.
      this.status = 0;
      this.fail(new UpstreamProtocolError(this.route.upstream.name, this.endpoint?.key ?? '', `sent a response head HTTP/2 cannot carry: ${fields}`));
      return;
    }
    // gRPC "Trailers-Only": grpc-status in the head means the upstream ended the
    // stream with these headers, so they go out with END_STREAM.
    this.bodiless = stream.method === 'HEAD' || status === 204 || status === 304 || (this.isGrpc && headers['grpc-status'] !== undefined);
    stream.respond(fields, this.bodiless);
  }

  protected writeData(chunk: Buffer): boolean {
    if (this.bodiless) return true;
    return this.stream.write(chunk);
  }

  protected writeEnd(trailers: Headers | null): void {
    if (this.bodiless) return;
    if (trailers === null) {
      this.stream.end(null);
      return;
    }
    // Trailers may wait behind DATA that waits for window (ServerStream.trailersPending): a list of their own.
    const fields = toFields(trailers, [], 0);
    // Trailers HTTP/2 cannot carry: the response cannot end as sent, so the stream is reset (as node:http2's sendTrailers failure did).
    if (typeof fields === 'string') this.stream.reset(ErrorCode.INTERNAL_ERROR);
    else this.stream.end(fields);
  }

  protected writeError(err: RingsideError, headSent: boolean): void {
    const stream = this.stream;
    if (stream.closed) return;
    if (headSent) {
      // After the head: gRPC ends with the error's status in trailers rather than a truncated success; anything else is reset.
      if (this.isGrpc && !this.bodiless) {
        const t = grpcErrorTrailers(err);
        stream.end(['grpc-status', t['grpc-status'], 'grpc-message', t['grpc-message']]);
      } else stream.reset(ErrorCode.INTERNAL_ERROR);
      return;
    }
    const r = errorResponse(err, this.isGrpc, true);
    const fields = [':status', String(r.status)];
    for (let i = 0; i < r.fields.length; i += 2) fields.push(r.fields[i], r.fields[i + 1]);
    if (r.body === '') {
      stream.respond(fields, true);
      return;
    }
    stream.respond(fields, false);
    stream.write(Buffer.from(r.body, 'utf8'));
    stream.end(null);
  }
}

/**
 * Header fields as a flat list for HTTP/2, into `out` from index `start`, with
 * lower-case names (RFC 9113 section 8.2.1); or, as a string, what HTTP/2
 * forbids in them (connection-specific fields, section 8.2.2; a value with CR,
 * LF or NUL), which node:http2's respond() refused too.
 */
function toFields(headers: Headers, out: string[], start: number): string[] | string {
  // Written by index and cut to length at the end: a reused list keeps its storage (an emptied one would not).
  let n = start;
  for (let name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (hasUpperCase(name)) name = name.toLowerCase();
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && value !== 'trailers')) return `connection-specific field ${name}`;
    if (typeof value === 'string') {
      if (!isSafeFieldValue(value)) return `invalid value of ${name}`;
      out[n++] = name;
      out[n++] = value;
    } else {
      for (let i = 0; i < value.length; i++) {
        if (!isSafeFieldValue(value[i])) return `invalid value of ${name}`;
        out[n++] = name;
        out[n++] = value[i];
      }
    }
  }
  out.length = n;
  return out;
}

/** The response head's fields, reused: `:status` and its value first. */
const HEAD_FIELDS: string[] = [':status', '200'];

function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

/** Handle one request of our HTTP/2 server: hash, pick, forward. */
export function handleServerStream(route: Route, stream: ServerStream): void {
  const exchange = new H2ServerExchange(route, stream);
  if (stream.method === 'CONNECT') {
    exchange.fail(new BadRequestError('CONNECT is not supported'));
    return;
  }
  const hash = route.hashPolicy === null ? null : requestHashOfFields(route, stream.fields, stream.path, stream.session.remoteAddress);
  // The session's body is the core's ExchangeBody itself (../http2/server-request-body.ts): no tap in between.
  const body = stream.body;
  const deadline = exchange.isGrpc && stream.grpcTimeout !== '' ? parseGrpcTimeout(stream.grpcTimeout) : 0;
  exchange.start(stream.method, stream.path, stream.fields, body, hash, deadline);
}
