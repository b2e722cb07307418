// Clients that keep a ringside session cookie, for the session-cookie tests:
// an HTTP/1.1 client with a one-cookie jar (undici), and gRPC calls that send
// the cookie as `cookie` metadata and read Set-Cookie from the initial
// metadata (or, for a trailers-only response, from the status metadata).

import { request, type Dispatcher } from 'undici';
import { grpc, type EchoClient, type EchoReply, type EchoRequest } from './grpc-replicas.ts';

/** The value of cookie `name` among Set-Cookie fields, or null. */
export function setCookieValue(setCookie: string | readonly string[] | undefined, name: string): string | null {
  if (setCookie === undefined) return null;
  for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie) {
    if (!line.startsWith(`${name}=`)) continue;
    const end = line.indexOf(';');
    return line.slice(name.length + 1, end < 0 ? line.length : end);
  }
  return null;
}

/** One outcome of a call: where it landed, and the session cookie the response set (null: none). */
export interface SessionCall {
  readonly ok: boolean;
  readonly replica: string;
  readonly setCookie: string | null;
  /** Every Set-Cookie field (or metadata value) of the response. */
  readonly setCookies: readonly string[];
  readonly detail: string;
}

/** An HTTP/1.1 client with a cookie jar that holds the session cookie (and any `extra` cookies it always sends). */
export class HttpSessionClient {
  readonly name: string;
  readonly base: string;
  readonly dispatcher: Dispatcher;
  /** The session token the jar holds, or null. */
  token: string | null = null;
  extra: string;

  constructor(base: string, name: string, dispatcher: Dispatcher, extra = '') {
    this.base = base;
    this.name = name;
    this.dispatcher = dispatcher;
    this.extra = extra;
  }

  cookieHeader(): string | undefined {
    const parts = [this.extra, this.token === null ? '' : `${this.name}=${this.token}`].filter((p) => p !== '');
    return parts.length === 0 ? undefined : parts.join('; ');
  }

  /** GET `path` with the jar's cookies; a Set-Cookie of the session cookie replaces the jar's token. */
  async call(path: string, headers: Record<string, string> = {}): Promise<SessionCall> {
    const cookie = this.cookieHeader();
    try {
      const res = await request(`${this.base}${path}`, { dispatcher: this.dispatcher, headers: cookie === undefined ? headers : { ...headers, cookie }, headersTimeout: 10_000, bodyTimeout: 10_000 });
      const text = await res.body.text();
      const raw = res.headers['set-cookie'];
      const setCookies = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw;
      const setCookie = setCookieValue(setCookies, this.name);
      if (setCookie !== null) this.token = setCookie;
      return { ok: res.statusCode === 200, replica: text.split(' ')[0], setCookie, setCookies, detail: res.statusCode === 200 ? '' : `${res.statusCode} ${String(res.headers['x-ringside-error'])}` };
    } catch (err) {
      return { ok: false, replica: '', setCookie: null, setCookies: [], detail: (err as Error).message };
    }
  }
}

/** A gRPC caller over `client` (one channel) holding one session: the cookie goes out as metadata. */
export class GrpcSessionClient {
  readonly name: string;
  readonly client: EchoClient;
  token: string | null = null;

  constructor(client: EchoClient, name: string) {
    this.client = client;
    this.name = name;
  }

  /** One unary call; `cookie` overrides what the session holds (junk, tampered values). */
  call(req: EchoRequest, cookie?: string): Promise<SessionCall> {
    const md = new grpc.Metadata();
    const value = cookie ?? (this.token === null ? undefined : `${this.name}=${this.token}`);
    if (value !== undefined) md.set('cookie', value);
    return new Promise((resolve) => {
      let initial: string[] = [];
      let reply: EchoReply | null = null;
      let error: grpc.ServiceError | null = null;
      let done = 0;
      const finish = (trailing: string[]): void => {
        const setCookies = [...initial, ...trailing];
        const setCookie = setCookieValue(setCookies, this.name);
        if (setCookie !== null) this.token = setCookie;
        resolve({ ok: error === null, replica: reply?.replica ?? '', setCookie, setCookies, detail: error === null ? '' : `${grpc.status[error.code]} ${error.details}` });
      };
      let trailing: string[] = [];
      const call = this.client.Unary(req, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        error = err;
        reply = res ?? null;
        if (++done === 2) finish(trailing);
      });
      call.on('metadata', (m: grpc.Metadata) => (initial = m.get('set-cookie').map(String)));
      call.on('status', (s: grpc.StatusObject) => {
        trailing = s.metadata.get('set-cookie').map(String);
        if (++done === 2) finish(trailing);
      });
    });
  }
}
