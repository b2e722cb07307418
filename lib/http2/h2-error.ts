// The errors the lean HTTP/2 client reports to dispatch handlers. The
// listener edge classifies them (lib/upstream/upstream-error.ts,
// lib/forwarding/exchange.ts): `unprocessed` marks a request the upstream
// guarantees it never processed (REFUSED_STREAM, above a GOAWAY's
// last-stream-id, RFC 9113 section 8.7), which is safe to retry even when it
// is not idempotent.

export const H2ErrorCodes = {
  /** The upstream reset our stream (RST_STREAM), or the connection failed under it. */
  STREAM_RESET: 'RS_H2_STREAM_RESET',
  /** The upstream broke the protocol (bad frame, malformed response): the connection or stream was torn down. */
  PROTOCOL: 'RS_H2_PROTOCOL_ERROR',
  /** The connection closed before the response was complete. */
  CONNECTION_CLOSED: 'RS_H2_CONNECTION_CLOSED',
  /** The request was never sent (GOAWAY, REFUSED_STREAM, the session closed first). */
  UNPROCESSED: 'RS_H2_UNPROCESSED',
  /** The client was closed. */
  CLIENT_CLOSED: 'RS_H2_CLIENT_CLOSED',
  /** The request head exceeds the upstream's SETTINGS_MAX_HEADER_LIST_SIZE: it was not sent. */
  HEADERS_TOO_LARGE: 'RS_H2_REQUEST_HEADERS_TOO_LARGE',
  /**
   * The upstream answered our connection preface with an HTTP/1.x status line:
   * it speaks only HTTP/1.1. Always `unprocessed` (it never read a request).
   */
  HTTP1_ONLY: 'RS_H2_HTTP1_ONLY',
  /** The response body was longer or shorter than its content-length. */
  CONTENT_LENGTH: 'RS_H2_CONTENT_LENGTH_MISMATCH',
  /** The connection closed after the response head and before its end: the body was cut short. */
  TRUNCATED: 'RS_H2_RESPONSE_TRUNCATED',
} as const;

export type H2ErrorCode = (typeof H2ErrorCodes)[keyof typeof H2ErrorCodes];

export class H2Error extends Error {
  readonly code: H2ErrorCode;
  /** The HTTP/2 error code received or sent (RFC 9113 section 7), or -1. */
  readonly http2ErrorCode: number;
  /** The upstream did not process the request: a retry is safe. */
  readonly unprocessed: boolean;

  constructor(code: H2ErrorCode, message: string, http2ErrorCode = -1, unprocessed = false, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'H2Error';
    this.code = code;
    this.http2ErrorCode = http2ErrorCode;
    this.unprocessed = unprocessed;
  }
}
