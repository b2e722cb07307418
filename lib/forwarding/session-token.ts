// The value of a session cookie (./session-cookie.ts): which endpoint of
// which upstream a client's session sticks to, readable by every sidecar of a
// fleet without shared state (cookies travel between client pods), as
// Envoy's stateful-session cookie carries the upstream address itself
// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/http/stateful_session/cookie/v3/cookie.proto).
//
// Layout, then base64url without padding (RFC 4648 section 5):
//   [0]       kind: 1 = plain, 2 = with MAC
//   [1..4]    tag: the first 4 bytes of SHA-256("ringside-session\0" + upstream name),
//             so a cookie of another upstream with the same cookie name is foreign
//   [5]       n: length of the endpoint key (1..MAX_KEY)
//   [6..6+n)  the endpoint key, `HOST:PORT` (IPv6 `[ADDR]:PORT`), ASCII
//   [+16]     kind 2: HMAC-SHA256(secret, every byte before it), first 16 bytes
// Worked example: upstream "recs", endpoint 10.0.0.7:8080, no secret:
//   01 | tag(4) | 0d | "10.0.0.7:8080"  -> 19 bytes -> 26 base64url characters.
//
// The token is opaque (no documented text form for clients to build on) but
// not confidential: anyone can base64-decode the address, as with Envoy's.
// Without a secret anyone can also forge one, which can only name an endpoint
// of the current set (the caller checks), never send traffic elsewhere; with
// --session-cookie-secret-file a forged or altered token fails the MAC.
// Tokens are deterministic (no time in them: the cookie's Max-Age bounds a
// session), so the caller caches the text of each valid one.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const KIND_PLAIN = 1;
const KIND_MAC = 2;
const HEADER = 6;
const MAC_BYTES = 16;
/**
 * What the one length byte can say. Static endpoints may be host names
 * (`static:web-0.web.prod.svc.cluster.local:8080`, a StatefulSet pod's FQDN
 * easily passes 64 characters), not only `[IPv6]:PORT` (at most 53).
 */
export const MAX_KEY = 255;
/** Longer cookie values are refused before decoding (oversized): ceil((6 + 255 + 16) * 4 / 3). */
export const MAX_TOKEN_CHARS = 370;
// What an endpoint key may hold: host names, IPv4, bracketed IPv6 (with a zone), a port.
const KEY_CHAR = /^[0-9A-Za-z.:[\]%_-]+$/;
const BASE64URL = /^[0-9A-Za-z_-]+$/;

/** Whether a token can name `endpointKey` (encodeSessionToken throws otherwise). */
export function isTokenKey(endpointKey: string): boolean {
  return endpointKey.length > 0 && endpointKey.length <= MAX_KEY && KEY_CHAR.test(endpointKey);
}

/** The 4-byte tag of an upstream name, as an unsigned 32-bit integer. */
export function upstreamTag(upstreamName: string): number {
  return createHash('sha256').update('ringside-session\0').update(upstreamName).digest().readUInt32BE(0);
}

/** The token naming `endpointKey` of the upstream tagged `tag`; with `secret`, MAC'd. */
export function encodeSessionToken(tag: number, endpointKey: string, secret: Buffer | null): string {
  if (!isTokenKey(endpointKey)) throw new RangeError(`not an endpoint key: ${endpointKey}`);
  const n = endpointKey.length;
  const bytes = Buffer.allocUnsafe(HEADER + n + (secret === null ? 0 : MAC_BYTES));
  bytes[0] = secret === null ? KIND_PLAIN : KIND_MAC;
  bytes.writeUInt32BE(tag, 1);
  bytes[5] = n;
  bytes.write(endpointKey, HEADER, 'latin1');
  if (secret !== null) mac(secret, bytes.subarray(0, HEADER + n)).copy(bytes, HEADER + n, 0, MAC_BYTES);
  return bytes.toString('base64url');
}

/**
 * The endpoint key a token names, or null when it is not a valid token of
 * this upstream: malformed, truncated, oversized, another upstream's
 * (foreign), or, with a secret, unsigned or with a wrong MAC. Without a
 * secret a signed token is accepted and its MAC ignored, so sidecars can be
 * given a secret one at a time.
 */
export function decodeSessionToken(token: string, tag: number, secret: Buffer | null): string | null {
  if (token.length < 8 || token.length > MAX_TOKEN_CHARS || !BASE64URL.test(token)) return null;
  const bytes = Buffer.from(token, 'base64url');
  // Node's decoder is lenient (trailing bits, a stray length): only the canonical text is a token.
  if (bytes.length < HEADER + 1 || bytes.toString('base64url') !== token) return null;
  const kind = bytes[0];
  if (kind !== KIND_PLAIN && kind !== KIND_MAC) return null;
  if (bytes.readUInt32BE(1) !== tag) return null;
  const n = bytes[5];
  if (n === 0 || n > MAX_KEY || bytes.length !== HEADER + n + (kind === KIND_MAC ? MAC_BYTES : 0)) return null;
  if (secret !== null) {
    if (kind !== KIND_MAC) return null;
    const expected = mac(secret, bytes.subarray(0, HEADER + n));
    if (!timingSafeEqual(expected.subarray(0, MAC_BYTES), bytes.subarray(HEADER + n))) return null;
  }
  const key = bytes.toString('latin1', HEADER, HEADER + n);
  return KEY_CHAR.test(key) ? key : null;
}

function mac(secret: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}
