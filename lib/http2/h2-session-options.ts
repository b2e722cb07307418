// What an h2c client session (./h2-session.ts) is told when it is made: its
// owner (the client, ./h2-client.ts) and its options.

import type { H2Session } from './h2-session.ts';
import type { H2Stream } from './h2-stream.ts';

/** What a session tells the client that owns it. */
export interface H2SessionOwner {
  /** A stream slot opened up on `session` (a stream ended, or the peer's SETTINGS arrived: see session.maxStreams). */
  sessionHasCapacity(session: H2Session): void;
  /**
   * The peer refused a stream without processing it (REFUSED_STREAM, above a
   * GOAWAY's last-stream-id). True when the owner took it back to send again
   * (the session already forgot it); false to fail it to its handler.
   */
  streamRefused(stream: H2Stream): boolean;
  /**
   * The session closed; its open streams are failed right after this.
   * `connectError` is set when it never connected (streams queued for it cannot reach the endpoint either).
   */
  sessionClosed(session: H2Session, connectError: Error | null): void;
}

export interface H2SessionOptions {
  readonly host: string;
  readonly port: number;
  /** Streams to open before the peer's SETTINGS say its limit (what an earlier connection learned, else 100). */
  readonly initialMaxStreams?: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /**
   * Send a PING when nothing arrived from the upstream for this long while
   * streams are open (0: never). A peer that does not answer within
   * `pingTimeoutMs` is taken for dead: the connection closes and its streams fail.
   */
  readonly keepaliveIntervalMs: number;
  /** How long an answer may take: the ack of our PING, and of our SETTINGS after connecting (section 6.5.3). */
  readonly pingTimeoutMs: number;
}

/** Default for H2ClientOptions.pingTimeoutMs. */
export const DEFAULT_PING_TIMEOUT_MS = 20_000;
