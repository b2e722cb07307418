// What our HTTP/2 server session (./server-session.ts) is told when it is
// made: its owner (the listener's H2Server) and its options.

import type { DefenceFrame, DefenceReason } from './defences.ts';
import type { ServerSession } from './server-session.ts';
import type { ServerStream } from './server-stream.ts';

/** What a server session tells the listener. */
export interface ServerSessionOwner {
  /** A request head arrived; `stream.body` is set when a body follows. */
  onRequest(stream: ServerStream): void;
  /** The session is closed (its socket too, or about to be). */
  sessionClosed(session: ServerSession): void;
  /** We sent a GOAWAY or RST_STREAM to defend ourselves (not a normal close or cancel), for the metrics. */
  defended(frame: DefenceFrame, reason: DefenceReason): void;
}

export interface ServerSessionOptions {
  /** A connection without open streams for this long is closed with GOAWAY (0: never). */
  readonly idleTimeoutMs: number;
  /** --retry-buffer: request body bytes kept to send again on a retry. */
  readonly retryBufferBytes: number;
}
