// The hash policy: turns one request into a 64-bit hash (or none) from the
// configured sources, with the semantics of Envoy's RouteAction.HashPolicy
// (https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-routeaction-hashpolicy)
// so that ringside, Envoy and proxyless gRPC (gRFC A42) send a key to the same host.
//
// Exactly as Envoy's source/common/http/hash_policy.cc does:
// - header: xxHash64 of the value. A header sent several times is hashed as the
//   concatenation (no separator) of its values sorted byte-wise, so the order
//   the values arrived in does not matter. An empty value still yields a hash.
// - query: the raw (NOT percent-decoded) value of the first `name=value`
//   parameter with exactly that name; `?name` with no `=` yields the empty
//   value, which still hashes. Parameters are split on `&` only.
//   We also stop the query at `#` (Envoy never sees a fragment in :path).
// - cookie: the value of the first cookie with that name across the `cookie`
//   header(s), split on `;`, leading spaces of the name skipped, value taken
//   verbatim up to the `;` with one pair of surrounding double quotes removed
//   (RFC 6265 4.1.1). An empty value yields no hash (and the search stops at
//   the first cookie with that name, as Envoy's does).
// - source_ip: xxHash64 of the client address text ("10.0.0.1", "::1").
// Combining: running = rotl64(running, 1) XOR next (the first hash is taken as
// is), so two identical sources do not cancel out. A terminal source ends the
// chain once a hash exists, whether it came from that source or an earlier one
// (Envoy checks the running hash, not the source's own).
//
// Strings are hashed as UTF-8. Node gives header values and the URL as latin1
// text, so bytes >= 0x80 in them hash differently than in Envoy (which hashes
// the raw bytes); ASCII keys (the normal case) match exactly.

import type { HashSource } from '../config/config.ts';
import type { Hash64 } from './hash64.ts';
import { xxhash64 } from './xxhash64.ts';

/** Request headers keyed by lower-case name; repeated headers as arrays (node:http `req.headersDistinct`, node:http2 headers). */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | string[] | undefined>>;

export interface HashPolicy {
  /**
   * Hash one request into `out`. `path` is the request target (path plus
   * optional `?query`); `sourceIp` the client address text. Returns false, and
   * leaves `out` unspecified, when no source yielded a hash.
   */
  compute(headers: RequestHeaders, path: string, sourceIp: string | undefined, out: Hash64): boolean;
  /** compute() for a flat [name, value, ...] field list (names in any case, repeats allowed), as the Exchange core and our HTTP/2 server hold a request's fields. */
  computeFields(fields: readonly string[], path: string, sourceIp: string | undefined, out: Hash64): boolean;
  /**
   * The header fields compute() reads (lower-case names, cookie included when
   * a cookie is a source): what a codec that picks fields out itself must keep.
   */
  readonly headerNames: readonly string[];
}

const SOURCE_HEADER = 0;
const SOURCE_QUERY = 1;
const SOURCE_COOKIE = 2;
const SOURCE_SOURCE_IP = 3;

const CHAR_SPACE = 0x20;
const CHAR_QUOTE = 0x22;

/** Returns null when there are no sources (the balancer then uses its fallback policy). */
export function createHashPolicy(sources: readonly HashSource[]): HashPolicy | null {
  if (sources.length === 0) return null;
  const kinds = new Uint8Array(sources.length);
  const names: string[] = [];
  const terminal: boolean[] = [];
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i];
    switch (s.type) {
      case 'header':
        kinds[i] = SOURCE_HEADER;
        names.push(s.name.toLowerCase());
        break;
      case 'query':
        kinds[i] = SOURCE_QUERY;
        names.push(s.name);
        break;
      case 'cookie':
        kinds[i] = SOURCE_COOKIE;
        names.push(s.name);
        break;
      case 'source_ip':
        kinds[i] = SOURCE_SOURCE_IP;
        names.push('');
        break;
    }
    terminal.push(s.terminal);
  }
  return new SourceListHashPolicy(kinds, names, terminal);
}

class SourceListHashPolicy implements HashPolicy {
  readonly #kinds: Uint8Array;
  readonly #names: readonly string[];
  readonly #terminal: readonly boolean[];
  // One scratch hash per policy: compute() is synchronous, so reuse is safe.
  readonly #scratch: Hash64 = { hi: 0, lo: 0 };
  readonly headerNames: readonly string[];
  readonly #fieldScratch: Record<string, string | string[] | undefined>;

  constructor(kinds: Uint8Array, names: readonly string[], terminal: readonly boolean[]) {
    this.#kinds = kinds;
    this.#names = names;
    this.#terminal = terminal;
    const read = new Set<string>();
    for (let i = 0; i < kinds.length; i++) {
      if (kinds[i] === SOURCE_HEADER) read.add(names[i]);
      else if (kinds[i] === SOURCE_COOKIE) read.add('cookie');
    }
    this.headerNames = [...read];
    this.#fieldScratch = {};
    for (const name of this.headerNames) this.#fieldScratch[name] = undefined;
  }

  computeFields(fields: readonly string[], path: string, sourceIp: string | undefined, out: Hash64): boolean {
    // Only the fields compute() reads, into one scratch object of a fixed shape (compute is synchronous), emptied after.
    const names = this.headerNames;
    const scratch = this.#fieldScratch;
    for (let h = 0; h < names.length; h++) scratch[names[h]] = fieldValues(fields, names[h]);
    const got = this.compute(scratch, path, sourceIp, out);
    for (let h = 0; h < names.length; h++) scratch[names[h]] = undefined;
    return got;
  }

  compute(headers: RequestHeaders, path: string, sourceIp: string | undefined, out: Hash64): boolean {
    const scratch = this.#scratch;
    let have = false;
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < this.#kinds.length; i++) {
      let got: boolean;
      switch (this.#kinds[i]) {
        case SOURCE_HEADER:
          got = hashHeader(headers[this.#names[i]], scratch);
          break;
        case SOURCE_QUERY:
          got = hashQueryParameter(path, this.#names[i], scratch);
          break;
        case SOURCE_COOKIE:
          got = hashCookie(headers.cookie, this.#names[i], scratch);
          break;
        default:
          got = sourceIp !== undefined && sourceIp.length > 0;
          if (got) xxhash64(sourceIp as string, scratch);
      }
      if (got) {
        if (have) {
          // rotl64(running, 1) then XOR (hash_policy.cc keeps all entropy this way).
          const rhi = ((hi << 1) | (lo >>> 31)) >>> 0;
          const rlo = ((lo << 1) | (hi >>> 31)) >>> 0;
          hi = (rhi ^ scratch.hi) >>> 0;
          lo = (rlo ^ scratch.lo) >>> 0;
        } else {
          hi = scratch.hi;
          lo = scratch.lo;
          have = true;
        }
      }
      if (have && this.#terminal[i]) break;
    }
    out.hi = hi;
    out.lo = lo;
    return have;
  }
}

/** The values of `want` (lower case) in a flat field list: undefined, one string, or the repeats in order. */
function fieldValues(fields: readonly string[], want: string): string | string[] | undefined {
  let value: string | string[] | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (name.length !== want.length || (name !== want && name.toLowerCase() !== want)) continue;
    // Rare: a repeated field (hashHeader sorts and joins repeated values).
    value = value === undefined ? fields[i + 1] : typeof value === 'string' ? [value, fields[i + 1]] : [...value, fields[i + 1]];
  }
  return value;
}

function hashHeader(value: string | readonly string[] | undefined, out: Hash64): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') {
    xxhash64(value, out);
    return true;
  }
  if (value.length === 0) return false;
  if (value.length === 1) {
    xxhash64(value[0], out);
    return true;
  }
  // Rare: a repeated header. Envoy sorts the values and hashes their
  // concatenation; the copy keeps the caller's array untouched. Default sort
  // is UTF-16 order, identical to byte order for latin1/BMP text below U+E000.
  xxhash64(value.slice().sort().join(''), out);
  return true;
}

function hashQueryParameter(path: string, name: string, out: Hash64): boolean {
  const q = path.indexOf('?');
  if (q < 0) return false;
  let end = path.indexOf('#', q + 1);
  if (end < 0) end = path.length;
  let start = q + 1;
  // Each iteration consumes one `&`-separated parameter, so at most path.length rounds.
  while (start < end) {
    let stop = path.indexOf('&', start);
    if (stop < 0 || stop > end) stop = end;
    let eq = path.indexOf('=', start);
    if (eq < 0 || eq > stop) eq = -1;
    const nameEnd = eq < 0 ? stop : eq;
    if (nameEnd - start === name.length && path.startsWith(name, start)) {
      xxhash64(eq < 0 ? '' : path.slice(eq + 1, stop), out);
      return true;
    }
    start = stop + 1;
  }
  return false;
}

function hashCookie(value: string | readonly string[] | undefined, name: string, out: Hash64): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') return hashCookieIn(value, name, out) === FOUND_HASHED;
  for (let i = 0; i < value.length; i++) {
    const r = hashCookieIn(value[i], name, out);
    if (r !== NOT_FOUND) return r === FOUND_HASHED;
  }
  return false;
}

const NOT_FOUND = 0;
const FOUND_HASHED = 1;
const FOUND_EMPTY = 2;

/** Search one `cookie` header value; the first cookie called `name` decides. */
function hashCookieIn(header: string, name: string, out: Hash64): number {
  let start = 0;
  const len = header.length;
  // Each iteration consumes one `;`-separated cookie: at most len + 1 rounds.
  while (start <= len) {
    let stop = header.indexOf(';', start);
    if (stop < 0) stop = len;
    let eq = header.indexOf('=', start);
    if (eq >= 0 && eq < stop) {
      let k = start;
      while (k < eq && header.charCodeAt(k) === CHAR_SPACE) k++;
      if (eq - k === name.length && header.startsWith(name, k)) {
        let vStart = eq + 1;
        let vEnd = stop;
        if (vEnd - vStart >= 2 && header.charCodeAt(vStart) === CHAR_QUOTE && header.charCodeAt(vEnd - 1) === CHAR_QUOTE) {
          vStart++;
          vEnd--;
        }
        if (vEnd === vStart) return FOUND_EMPTY;
        xxhash64(header.slice(vStart, vEnd), out);
        return FOUND_HASHED;
      }
    }
    start = stop + 1;
  }
  return NOT_FOUND;
}
