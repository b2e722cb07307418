// Why our HTTP/2 server sent a GOAWAY or RST_STREAM in its own defence (not a
// normal close or a cancel): the label values of the metric that lets
// operators see floods and broken clients (lib/metrics/h2-server-metrics.ts).

export const DefenceFrame = { GOAWAY: 0, RST_STREAM: 1 } as const;
export type DefenceFrame = (typeof DefenceFrame)[keyof typeof DefenceFrame];
export const DEFENCE_FRAME_NAMES = ['goaway', 'rst_stream'] as const;

export const Defence = {
  /** A frame that breaks RFC 9113 framing or state rules (a connection or stream PROTOCOL_ERROR, FRAME_SIZE_ERROR, ...). */
  PROTOCOL: 0,
  /** A malformed request (section 8.1.1): pseudo-header fields, connection-specific fields, content-length mismatch. */
  MALFORMED: 1,
  /** Rapid reset (CVE-2023-44487): more client stream resets than the burst and rate allow. */
  RAPID_RESET: 2,
  /** SETTINGS or PING acks piling up unread. */
  CONTROL_FLOOD: 3,
  /** Empty DATA frames, or WINDOW_UPDATEs on closed streams, by the thousand. */
  EMPTY_FRAMES: 4,
  /** A stream beyond our SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM). */
  TOO_MANY_STREAMS: 5,
  /** A window overflow or DATA beyond a window. */
  FLOW_CONTROL: 6,
  /** A frame on a closed or half-closed stream (STREAM_CLOSED). */
  STREAM_CLOSED: 7,
  /** An HPACK block we cannot decode (COMPRESSION_ERROR), or a header block over the CONTINUATION bound. */
  COMPRESSION: 8,
  /** A request head over SETTINGS_MAX_HEADER_LIST_SIZE (answered 431). */
  HEADERS_TOO_LARGE: 9,
  /** Our SETTINGS were not acknowledged in time. */
  SETTINGS_TIMEOUT: 10,
  /** More RST_STREAMs provoked per second than any client needs (CVE-2019-9514): the connection is cut. */
  RESET_FLOOD: 11,
} as const;
export type DefenceReason = (typeof Defence)[keyof typeof Defence];
export const DEFENCE_NAMES = [
  'protocol_error',
  'malformed_request',
  'rapid_reset',
  'control_frame_flood',
  'empty_frame_flood',
  'too_many_streams',
  'flow_control',
  'stream_closed',
  'compression_error',
  'headers_too_large',
  'settings_timeout',
  'reset_flood',
] as const;
