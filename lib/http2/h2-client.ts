// The lean HTTP/2 client of one upstream endpoint, behind undici's dispatch
// contract (`dispatch(options, handler)` with the v8 handler callbacks), so
// the listener's Exchange drives it exactly like undici's H2CClient.
//
// Connections (./h2-session.ts) are opened lazily. Streams share one
// connection; a second one is opened only when every open one is at its
// peer's SETTINGS_MAX_CONCURRENT_STREAMS, up to MAX_SESSIONS, after which
// streams wait in a queue for a slot. A connection with no stream closes after
// `idleTimeoutMs`.

import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { H2Error, H2ErrorCodes } from './h2-error.ts';
import { buildRequestHeaders } from './header-fields.ts';
import { DEFAULT_PING_TIMEOUT_MS, H2Session, type H2SessionOptions, type H2SessionOwner } from './h2-session.ts';
import { H2Stream } from './h2-stream.ts';

export interface H2ClientOptions {
  readonly connectTimeoutMs: number;
  /** A connection with no open stream closes after this long. */
  readonly idleTimeoutMs: number;
  /** Connection gauge hooks (metrics): a connection was opened (connecting) / closed. */
  readonly onOpen?: () => void;
  readonly onClose?: () => void;
  /** Connections to open at most when the peer's stream limit is reached (default 8). */
  readonly maxSessions?: number;
  /** PING a connection with open streams after this long without a frame from the upstream (0 or absent: never). */
  readonly keepaliveIntervalMs?: number;
  /** How long the upstream may take to acknowledge a PING or our SETTINGS before the connection is taken for dead. */
  readonly pingTimeoutMs?: number;
}

const REQUEST_CONTEXT = Object.freeze({});

export class H2Client implements H2SessionOwner {
  readonly host: string;
  readonly port: number;
  readonly options: H2ClientOptions;
  /** `host:port` (IPv6 in brackets): the :authority of requests that carry no Host. */
  readonly authority: string;
  /** What every new session gets; initialMaxStreams follows what the peer last said. */
  readonly #sessionOptions: H2SessionOptions & { initialMaxStreams: number };
  readonly #maxSessions: number;
  readonly #sessions: H2Session[] = [];
  /** Streams waiting for a free slot. */
  #queue: H2Stream[] = [];
  #closed = false;
  #onEmpty: (() => void) | null = null;

  constructor(host: string, port: number, options: H2ClientOptions) {
    this.host = host;
    this.port = port;
    this.options = options;
    this.authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.#maxSessions = options.maxSessions ?? 8;
    this.#sessionOptions = {
      host,
      port,
      connectTimeoutMs: options.connectTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      initialMaxStreams: 100,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? 0,
      pingTimeoutMs: options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS,
    };
  }

  /** Open connections (connecting ones included). */
  get size(): number {
    return this.#sessions.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const method = options.method;
    const body = toReadable(options.body);
    const stream = new H2Stream(handler, buildRequestHeaders(method, options.path, flatHeaders(options.headers), this.authority, body !== null), body, method === 'HEAD');
    handler.onRequestStart?.(stream, REQUEST_CONTEXT);
    if (stream.done) return true; // aborted from onRequestStart
    if (this.#closed) {
      stream.markDone();
      handler.onResponseError?.(stream, new H2Error(H2ErrorCodes.CLIENT_CLOSED, `the HTTP/2 client of ${this.authority} is closed`, -1, true));
      return true;
    }
    const session = this.#pick();
    if (session !== null) session.open(stream);
    else this.#queue.push(stream);
    return true;
  }

  /** A session with a free slot, a new one when all are full and the limit allows, else null. */
  #pick(): H2Session | null {
    const sessions = this.#sessions;
    for (let i = 0; i < sessions.length; i++) if (sessions[i].hasCapacity) return sessions[i];
    if (sessions.length >= this.#maxSessions) return null; // every connection is full: the stream waits
    const session = new H2Session(this, this.#sessionOptions);
    sessions.push(session);
    this.options.onOpen?.();
    return session;
  }

  sessionHasCapacity(session: H2Session): void {
    // New connections assume what the peer last said, so they do not open more streams than it takes.
    this.#sessionOptions.initialMaxStreams = session.maxStreams;
    const queue = this.#queue;
    while (queue.length > 0 && session.hasCapacity) {
      const stream = queue.shift()!;
      if (!stream.done) session.open(stream);
    }
  }

  streamRefused(stream: H2Stream): boolean {
    if (this.#closed) return false;
    stream.renew();
    const session = this.#pick();
    if (session !== null) session.open(stream);
    else this.#queue.push(stream);
    return true;
  }

  sessionClosed(session: H2Session, connectError: Error | null): void {
    const i = this.#sessions.indexOf(session);
    if (i < 0) return;
    this.#sessions.splice(i, 1);
    this.options.onClose?.();
    if (this.#queue.length > 0) {
      if (connectError !== null || this.#closed) this.#failQueue(connectError ?? new H2Error(H2ErrorCodes.CLIENT_CLOSED, `the HTTP/2 client of ${this.authority} is closed`, -1, true));
      else this.#drainQueue();
    }
    if (this.#sessions.length === 0 && this.#onEmpty !== null) {
      const resolve = this.#onEmpty;
      this.#onEmpty = null;
      resolve();
    }
  }

  /** Open sessions for queued streams (after one closed, e.g. on GOAWAY). */
  #drainQueue(): void {
    const queue = this.#queue;
    while (queue.length > 0) {
      const stream = queue[0];
      if (stream.done) {
        queue.shift();
        continue;
      }
      const session = this.#pick();
      if (session === null) return;
      queue.shift();
      session.open(stream);
    }
  }

  #failQueue(err: Error): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const stream of queue) {
      if (stream.done) continue;
      stream.markDone();
      stream.handler.onResponseError?.(stream, err);
    }
  }

  /** Take no new requests; resolve once the open streams finished and every connection closed. */
  close(): Promise<void> {
    this.#closed = true;
    this.#failQueue(new H2Error(H2ErrorCodes.CLIENT_CLOSED, `the HTTP/2 client of ${this.authority} is closed`, -1, true));
    if (this.#sessions.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.#onEmpty = resolve));
    for (const session of [...this.#sessions]) session.close();
    return done;
  }

  /** Close every connection now; open streams fail. */
  destroy(): Promise<void> {
    this.#closed = true;
    const err = new H2Error(H2ErrorCodes.CLIENT_CLOSED, `the HTTP/2 client of ${this.authority} was destroyed`);
    this.#failQueue(err);
    for (const session of [...this.#sessions]) session.destroy(err);
    return Promise.resolve();
  }
}

/** Undici accepts headers as a flat list, an object, or null; the listener passes a flat list. */
function flatHeaders(headers: Dispatcher.DispatchOptions['headers']): readonly string[] | null {
  if (headers == null) return null;
  if (Array.isArray(headers)) return headers as string[];
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

function toReadable(body: Dispatcher.DispatchOptions['body']): Readable | null {
  if (body == null) return null;
  if (body instanceof Readable) return body;
  if (typeof body === 'string' || body instanceof Uint8Array) return body.length === 0 ? null : Readable.from([Buffer.from(body)]);
  return Readable.from(body as unknown as AsyncIterable<Buffer>);
}
