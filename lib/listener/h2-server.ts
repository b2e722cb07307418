// The listener's HTTP/2 server on --engine lean: one ServerSession
// (../http2/server-session.ts) per connection that opened with the HTTP/2
// preface, each stream forwarded through the Exchange core
// (./h2-server-exchange.ts); drained with GOAWAY like every codec.

import type net from 'node:net';
import type { Route } from '../forwarding/route.ts';
import type { DefenceFrame, DefenceReason } from '../http2/defences.ts';
import { ServerSession, type ServerSessionOptions, type ServerSessionOwner } from '../http2/server-session.ts';
import type { ServerStream } from '../http2/server-stream.ts';
import { handleServerStream } from './h2-server-exchange.ts';

/** The default of --h2-idle-timeout: an HTTP/2 connection without open streams is closed (GOAWAY) after this long; clients reconnect when they need to. */
export const H2_IDLE_TIMEOUT_MS = 5 * 60_000;

/** Told about every defensive GOAWAY and RST_STREAM (ringside_http2_defences_total, wired in app.ts). */
export interface H2DefenceObserver {
  defended(frame: DefenceFrame, reason: DefenceReason): void;
}

export class H2Server implements ServerSessionOwner {
  readonly route: Route;
  readonly sessions = new Set<ServerSession>();
  readonly #options: ServerSessionOptions;
  readonly #observer: H2DefenceObserver | null;

  constructor(route: Route, observer: H2DefenceObserver | null, idleTimeoutMs: number = H2_IDLE_TIMEOUT_MS) {
    this.route = route;
    this.#observer = observer;
    this.#options = { idleTimeoutMs, retryBufferBytes: route.upstream.config.retryBufferBytes };
  }

  /** `head`: the bytes read so far, starting with the connection preface. */
  handleConnection(socket: net.Socket, head: Buffer): void {
    this.sessions.add(new ServerSession(socket, head, this, this.#options));
  }

  onRequest(stream: ServerStream): void {
    handleServerStream(this.route, stream);
  }

  sessionClosed(session: ServerSession): void {
    this.sessions.delete(session);
  }

  defended(frame: DefenceFrame, reason: DefenceReason): void {
    this.#observer?.defended(frame, reason);
  }

  /** Drain: GOAWAY on every connection; each closes once its open streams end. */
  close(): void {
    for (const session of this.sessions) session.close();
  }
}
