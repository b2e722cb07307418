// Sticky sessions by a cookie ringside issues (issue 20), as HAProxy's
// `cookie ... insert`, nginx's `sticky cookie` and Envoy's stateful-session
// filter do: a request without a valid session cookie is balanced by the
// upstream's policy and its response carries Set-Cookie naming the endpoint
// that served it; a request whose cookie names an endpoint of the current set
// that is available goes there, whatever the policy would pick (the cookie
// enters Balancer.pick as its override). Anything else (the endpoint gone,
// ejected, draining, or refusing connections, so the request was retried
// elsewhere; a tampered, truncated, foreign or oversized cookie) is served
// where the policy picks, and the response issues the cookie again.
//
// One copy for every codec: the Exchange core reads the cookie before its
// pick and adds Set-Cookie to the response head it forwards (a gRPC client
// sees it as initial metadata, or in a trailers-only response's head). Other
// paths (WebSocket tunnels) call read() / issue() the same way.

import type { SessionCookieConfig } from '../config/config.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import { decodeSessionToken, encodeSessionToken, isTokenKey, upstreamTag } from './session-token.ts';

/** What read() found; `NONE` before it ran (no session cookie configured). */
export const SessionState = {
  NONE: 0,
  /** A valid cookie naming an available endpoint of the set: the request goes there. */
  STUCK: 1,
  /** No cookie of that name. */
  ABSENT: 2,
  /** A cookie that is not a valid token of this upstream (counted as rejected). */
  INVALID: 3,
  /** A valid cookie whose endpoint left the set or is unavailable (ejected, draining). */
  AWAY: 4,
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** Where a request keeps what read() found, for issue() (the Exchange; a tunnel). */
export interface SessionCarrier {
  sessionState: SessionState;
  /** The endpoint the valid cookie named, while it is in the set; else null. */
  sessionEndpoint: Endpoint | null;
}

/** Valid tokens remembered at most (token text -> endpoint), so a known cookie costs one Map lookup. */
const KNOWN_MAX = 4096;

export class SessionCookie {
  readonly name: string;
  readonly config: SessionCookieConfig;
  /** Cookies issued to requests that had none (or an invalid one): sessions started. */
  started = 0;
  /** Cookies issued again because the session's endpoint went away (left the set, unavailable, refused). */
  reissued = 0;
  /** Cookies of this name that were not a valid token (tampered, truncated, foreign, oversized, unsigned). */
  rejected = 0;

  /** Tokens carry a MAC (--session-cookie-secret-file). */
  readonly signed: boolean;

  readonly #tag: number;
  readonly #secret: Buffer | null;
  readonly #attributes: string;
  /** Token text -> the endpoint it named when it was decoded (checked against the set on every use). */
  readonly #known = new Map<string, Endpoint>();
  /** Endpoint key -> its Set-Cookie value (tokens are deterministic: built once per endpoint). */
  readonly #setCookies = new Map<string, string>();

  constructor(upstreamName: string, config: SessionCookieConfig, secret: string | null) {
    this.name = config.name;
    this.config = config;
    this.#tag = upstreamTag(upstreamName);
    this.#secret = secret === null ? null : Buffer.from(secret);
    this.signed = secret !== null;
    // RFC 6265 section 4.1.1 attribute syntax; SameSite per RFC 6265bis section 4.1.2.7.
    let attributes = `; Path=${config.path}`;
    if (config.maxAgeSeconds > 0) attributes += `; Max-Age=${config.maxAgeSeconds}`;
    if (config.httpOnly) attributes += '; HttpOnly';
    if (config.secure) attributes += '; Secure';
    if (config.sameSite !== null) attributes += `; SameSite=${config.sameSite}`;
    this.#attributes = attributes;
  }

  /**
   * Read the request's session cookie from its fields (a flat [name, value, ...]
   * list; every `cookie` field, as HTTP/2 may split it, RFC 9113 section 8.2.3)
   * into `carrier`. Returns the endpoint the request must go to (the pick's
   * override), or null: the policy picks.
   */
  read(fields: readonly string[], endpoints: ReadonlyMap<string, Endpoint>, carrier: SessionCarrier): Endpoint | null {
    return this.readValue(findCookie(fields, this.name), endpoints, carrier);
  }

  /** read() for a caller that found the cookie's value itself (null: none). */
  readValue(value: string | null, endpoints: ReadonlyMap<string, Endpoint>, carrier: SessionCarrier): Endpoint | null {
    carrier.sessionEndpoint = null;
    if (value === null) {
      carrier.sessionState = SessionState.ABSENT;
      return null;
    }
    let endpoint = this.#known.get(value);
    // Endpoint objects are replaced when an address leaves the set and comes back: check it is still this one.
    if (endpoint === undefined || endpoints.get(endpoint.key) !== endpoint) {
      const key = decodeSessionToken(value, this.#tag, this.#secret);
      if (key === null) {
        this.rejected++;
        carrier.sessionState = SessionState.INVALID;
        return null;
      }
      endpoint = endpoints.get(key);
      if (endpoint === undefined) {
        carrier.sessionState = SessionState.AWAY;
        return null;
      }
      if (this.#known.size >= KNOWN_MAX) this.#known.clear();
      this.#known.set(value, endpoint);
    }
    carrier.sessionEndpoint = endpoint;
    if (!endpoint.available) {
      carrier.sessionState = SessionState.AWAY;
      return null;
    }
    carrier.sessionState = SessionState.STUCK;
    return endpoint;
  }

  /**
   * The response to `carrier`'s request comes from `endpoint`: unless its
   * cookie already names it, add Set-Cookie for it to `head` (a lower-case
   * field object), beside any Set-Cookie of the replica's, and count a session
   * started or re-issued.
   */
  issue(head: Record<string, string | string[]>, endpoint: Endpoint, carrier: SessionCarrier): void {
    const cookie = this.toIssue(endpoint, carrier);
    if (cookie === null) return;
    const prior = head['set-cookie'];
    head['set-cookie'] = prior === undefined ? cookie : Array.isArray(prior) ? [...prior, cookie] : [prior, cookie];
  }

  /**
   * issue() for a codec that writes the head itself: the Set-Cookie value to
   * add (counted as a session started or re-issued), or null when the
   * request's cookie already names `endpoint`.
   */
  toIssue(endpoint: Endpoint, carrier: SessionCarrier): string | null {
    const state = carrier.sessionState;
    if (state === SessionState.STUCK && carrier.sessionEndpoint === endpoint) return null;
    // A key no token can carry (a host name past MAX_KEY) gets no session: served, and nothing thrown on the response path.
    if (!this.#setCookies.has(endpoint.key) && !isTokenKey(endpoint.key)) return null;
    if (state === SessionState.STUCK || state === SessionState.AWAY) this.reissued++;
    else this.started++;
    return this.setCookieFor(endpoint);
  }

  /** The Set-Cookie value naming `endpoint`: `NAME=TOKEN; Path=/; ...`. */
  setCookieFor(endpoint: Endpoint): string {
    let cookie = this.#setCookies.get(endpoint.key);
    if (cookie === undefined) {
      cookie = `${this.name}=${encodeSessionToken(this.#tag, endpoint.key, this.#secret)}${this.#attributes}`;
      if (this.#setCookies.size >= KNOWN_MAX) this.#setCookies.clear();
      this.#setCookies.set(endpoint.key, cookie);
    }
    return cookie;
  }
}

/**
 * The value of the first cookie called `name` in the `cookie` fields of a flat
 * [name, value, ...] list, or null. Pairs are split on `;`, leading spaces of
 * a name skipped, the value taken up to the `;` without trailing spaces and
 * one pair of double quotes (RFC 6265 section 4.2.1 and 5.4), as the hash
 * policy reads cookies (../hash/hash-policy.ts). An empty value is none.
 */
export function findCookie(fields: readonly string[], name: string): string | null {
  for (let i = 0; i < fields.length; i += 2) {
    const field = fields[i];
    if (field.length !== 6 || field.toLowerCase() !== 'cookie') continue;
    const value = cookieValue(fields[i + 1], name);
    if (value !== null) return value.length === 0 ? null : value;
  }
  return null;
}

/** findCookie() over the values of `cookie` fields a codec collected itself (a header object's entry). */
export function findCookieIn(values: string | readonly string[] | undefined, name: string): string | null {
  if (values === undefined) return null;
  if (typeof values === 'string') {
    const value = cookieValue(values, name);
    return value === null || value.length === 0 ? null : value;
  }
  for (let i = 0; i < values.length; i++) {
    const value = cookieValue(values[i], name);
    if (value !== null) return value.length === 0 ? null : value;
  }
  return null;
}

function cookieValue(header: string, name: string): string | null {
  const n = header.length;
  let at = 0;
  while (at < n) {
    while (at < n && header.charCodeAt(at) === 0x20) at++;
    let end = header.indexOf(';', at);
    if (end < 0) end = n;
    if (end - at > name.length && header.charCodeAt(at + name.length) === 0x3d /* = */ && header.startsWith(name, at)) {
      let from = at + name.length + 1;
      let to = end;
      while (to > from && (header.charCodeAt(to - 1) === 0x20 || header.charCodeAt(to - 1) === 0x09)) to--;
      if (to - from >= 2 && header.charCodeAt(from) === 0x22 && header.charCodeAt(to - 1) === 0x22) {
        from++;
        to--;
      }
      return header.slice(from, to);
    }
    at = end + 1;
  }
  return null;
}
