// The limits our HTTP/2 server session enforces and announces (./server-session.ts):
// what it tells clients in SETTINGS, and the bounds of its defences.

import { DEFAULT_WINDOW } from './frames.ts';

/** Our SETTINGS_MAX_CONCURRENT_STREAMS (what the node:http2 server was configured with). */
export const SERVER_MAX_STREAMS = 1000;
/** Our SETTINGS_MAX_HEADER_LIST_SIZE and the HPACK decoder's limit (node:http2's default is 64 KiB too). */
export const SERVER_MAX_HEADER_LIST = 64 * 1024;
/** Header fields a request head or trailer section may carry (node:http2's maxHeaderListPairs, 128 plus the 4 pseudo-header fields). */
export const MAX_HEADER_PAIRS = 132;
/** Request streams get the protocol's default window (65,535): SETTINGS need not mention it. */
export const STREAM_WINDOW = DEFAULT_WINDOW;
/** The connection's receive window, credited as DATA arrives. */
export const CONNECTION_WINDOW = 16 << 20;
/** SETTINGS and PING acks queued while the client does not read our output: more is a flood (nghttp2 allows 1000). */
export const MAX_PENDING_ACKS = 1000;
/** Time allowed to acknowledge our SETTINGS (section 6.5.3). */
export const SETTINGS_TIMEOUT_MS = 10_000;
/** Bytes of our output queued in the socket beyond which we stop reading the client (it is not reading ours). */
export const MAX_SOCKET_BACKLOG = 1 << 20;
/** How long a connection closed in our defence may take to go before it is destroyed. */
export const DEFENSIVE_LINGER_MS = 200;
