// Hop-by-hop header handling (RFC 9110 section 7.6.1): these describe one
// connection, not the message, so a proxy must not forward them. HTTP/2
// forbids them outright (RFC 9113 section 8.2.2).

import { forwardableTrailer } from './trailer-fields.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // We answer `Expect: 100-continue` ourselves (node:http does), so the
  // upstream must not wait for a second handshake.
  'expect',
  'http2-settings',
]);

/** Response headers that are also framing-specific and dropped. `trailer` is kept on responses. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * A field value a codec may write as it is: no CR, LF or NUL, which would
 * split an HTTP/1.1 head (RFC 9110 section 5.5) or make an HTTP/2 message
 * malformed (RFC 9113 section 8.2.1). Values from our own parsers are valid
 * already; this guards values that crossed from the other protocol.
 */
export function isSafeFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0) return false;
  }
  return true;
}

/** Whether a response field (lower-case name) is about one hop and never forwarded: a codec that writes response heads itself asks here. */
export function isHopByHopResponseField(name: string): boolean {
  return HOP_BY_HOP_RESPONSE.has(name);
}

/** Names listed in a Connection header (lower-case), or null when there are none. */
function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  let set: Set<string> | null = null;
  for (const token of text.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') (set ??= new Set()).add(name);
  }
  return set;
}

/**
 * Request headers to send upstream, as a flat [name, value, ...] list in the
 * client's order and case. `TE: trailers` is the one TE value kept (gRPC needs it).
 */
export function forwardRequestHeaders(rawHeaders: readonly string[], connection: string | string[] | undefined): string[] {
  const named = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'te' && rawHeaders[i + 1].toLowerCase().includes('trailers')) out.push(name, 'trailers');
      continue;
    }
    if (named !== null && named.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]);
  }
  return out;
}

/** An HTTP/1.1 upstream's response trailers without the fields no trailer section may carry on (../forwarding/trailer-fields.ts): `trailers` itself when it has none of them (the common case). */
export function forwardResponseTrailers(trailers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  let out: Record<string, string | string[] | undefined> | null = null;
  for (const name in trailers) {
    if (forwardableTrailer(name)) continue;
    out ??= { ...trailers };
    delete out[name];
  }
  return out ?? trailers;
}

/** Response headers (lower-case object, as undici gives them) without hop-by-hop fields. */
export function forwardResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP_RESPONSE.has(name)) continue;
    if (named !== null && named.has(name)) continue;
    out[name] = value;
  }
  return out;
}
