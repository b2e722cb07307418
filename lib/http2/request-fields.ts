// A request's header block, as our HTTP/2 server reads it (RFC 9113 section
// 8.3.1 and 8.2): checked, and turned straight into what the forwarding core
// needs (method, path, the flat list of fields to forward, gRPC markers) on
// the stream object. A request that breaks the rules is malformed (section
// 8.1.1): the session resets its stream with PROTOCOL_ERROR, and it never
// reaches an upstream.

import { CONNECTION_SPECIFIC, isLowerToken, SINGLE_VALUE } from './header-fields.ts';
import type { ServerStream } from './server-stream.ts';

/**
 * Decode the request head `fields` (a flat [name, value, ...] list in
 * arrival order) onto `stream`. False when it is malformed.
 *
 * Repeated fields are joined as node:http2 did before forwarding (", ", and
 * "; " for cookie as section 8.2.3 asks for HTTP/1.1), or keep their first
 * value (the single-value fields); `host` carries :authority when the client
 * sent no host field.
 */
export function decodeRequest(fields: readonly string[], stream: ServerStream): boolean {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  const n = fields.length;
  let i = 0;
  // Pseudo-header fields come first, once each, only the request's four (section 8.3).
  for (; i < n; i += 2) {
    const name = fields[i];
    if (name.charCodeAt(0) !== 58 /* ':' */) break;
    const value = fields[i + 1];
    switch (name) {
      case ':method':
        if (method !== undefined) return false;
        method = value;
        break;
      case ':scheme':
        if (scheme !== undefined) return false;
        scheme = value;
        break;
      case ':path':
        if (path !== undefined) return false;
        path = value;
        break;
      case ':authority':
        if (authority !== undefined) return false;
        authority = value;
        break;
      default:
        return false; // :status, :protocol (no extended CONNECT), or unknown
    }
  }
  if (method === undefined || !isMethod(method)) return false;
  if (authority !== undefined && !isAuthority(authority)) return false;
  if (method === 'CONNECT') {
    // Section 8.5: only :method and :authority.
    if (scheme !== undefined || path !== undefined || authority === undefined) return false;
  } else if (scheme === undefined || path === undefined || !isPath(path, method)) return false;
  // Sized once (the stream keeps it), written by index, cut to length: a literal grown by push reallocated as it grew.
  const out = new Array<string>(n - i + 2);
  let k = 0;
  let sawHost = false;
  for (; i < n; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    // Upper case, a pseudo-header field after a regular one, or not a token.
    if (!isLowerToken(name) || !isValidValue(value)) return false;
    if (CONNECTION_SPECIFIC.has(name)) return false;
    switch (name) {
      case 'te':
        if (value !== 'trailers') return false;
        break;
      case 'content-length': {
        const length = parseLength(value);
        if (length < 0 || (stream.contentLength >= 0 && length !== stream.contentLength)) return false;
        stream.contentLength = length;
        break;
      }
      case 'content-type':
        stream.isGrpc = value.startsWith('application/grpc');
        break;
      case 'grpc-timeout':
        stream.grpcTimeout = value;
        break;
      case 'host':
        if (sawHost) continue;
        sawHost = true;
        break;
    }
    const j = indexOfName(out, k, name);
    if (j < 0) {
      out[k++] = name;
      out[k++] = value;
    } else if (name === 'cookie') out[j + 1] += '; ' + value;
    else if (!SINGLE_VALUE.has(name)) out[j + 1] += ', ' + value;
  }
  if (!sawHost && authority !== undefined) {
    out[k++] = 'host';
    out[k++] = authority;
  }
  out.length = k;
  stream.method = method;
  stream.path = path ?? '';
  stream.authority = authority ?? '';
  stream.fields = out;
  return true;
}

/** Request trailers (section 8.1): no pseudo-header or connection-specific fields. False when malformed. */
export function decodeTrailers(fields: readonly string[]): Record<string, string> | false {
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (!isLowerToken(name) || !isValidValue(value) || CONNECTION_SPECIFIC.has(name)) return false;
    const existing = out[name];
    out[name] = existing === undefined ? value : `${existing}, ${value}`;
  }
  return out;
}

/**
 * Section 8.2.1: no NUL, CR or LF anywhere (a value must never split an
 * HTTP/1.1 head upstream), and no leading or trailing space or tab.
 */
function isValidValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  let c = value.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = value.charCodeAt(n - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < n; i++) {
    c = value.charCodeAt(i);
    if (c < 0x20 && c !== 0x09) return false;
  }
  return true;
}

/** A method is a token (RFC 9110 section 9.1): it goes into an HTTP/1.1 request line upstream. */
function isMethod(method: string): boolean {
  const n = method.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = method.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/**
 * :path (section 8.3.1): origin-form starting with "/", or "*" for OPTIONS;
 * visible ASCII only (a space would split an HTTP/1.1 request line upstream).
 */
function isPath(path: string, method: string): boolean {
  const n = path.length;
  if (n === 0) return false;
  const first = path.charCodeAt(0);
  if (first !== 47 /* / */ && !(n === 1 && first === 42 /* * */ && method === 'OPTIONS')) return false;
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** :authority (RFC 3986 section 3.2): host, port, userinfo characters only (as nghttp2 checks it). */
function isAuthority(authority: string): boolean {
  const n = authority.length;
  for (let i = 0; i < n; i++) {
    const c = authority.charCodeAt(i);
    if (c >= 128 || AUTHORITY[c] === 0) return false;
  }
  return true;
}

function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 1;
  for (let c = 97; c <= 122; c++) table[c] = 1;
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}
const TOKEN = charTable("!#$%&'*+-.^_`|~");
const AUTHORITY = charTable("-._~!$&'()*+,;=:@[]%");

function parseLength(value: string): number {
  const n = value.length;
  if (n === 0 || n > 15) return -1;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(value);
}

/** Where `name` is among the first `n` entries of `list`, or -1. */
function indexOfName(list: readonly string[], n: number, name: string): number {
  for (let i = 0; i < n; i += 2) if (list[i] === name) return i;
  return -1;
}
