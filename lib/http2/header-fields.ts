// Header-field rules of the HTTP/2 messages ringside sends and reads
// (RFC 9113 sections 8.2 and 8.3): the fields HTTP/2 forbids, the fields
// node:http2 keeps one value of, and the request head the h2c client sends.

/** Methods whose request normally carries content: without a body undici sends `content-length: 0` for them, and so do we. */
export const EXPECTS_PAYLOAD = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

/** Connection-specific fields, forbidden in HTTP/2 (RFC 9113 section 8.2.2). */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * Fields node:http2 keeps only the first value of when repeated (its
 * kSingleValueHeaders): node:http2's respond() refuses an array for them, and
 * undici's H2CClient (the reference engine) delivers them the same way.
 */
export const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/** Lower-case letters, digits and the other token characters (RFC 9110 section 5.6.2); no upper case, no pseudo. */
export function isLowerToken(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c >= 97 && c <= 122) continue; // a-z
    if (c === 45 || (c >= 48 && c <= 57)) continue; // - 0-9
    if (c <= 32 || c >= 127 || (c >= 65 && c <= 90) || c === 58 || c === 34 || c === 40 || c === 41 || c === 44 || c === 47 || c === 59 || c === 60 || c === 61 || c === 62 || c === 63 || c === 64 || c === 91 || c === 92 || c === 93 || c === 123 || c === 125) return false;
  }
  return true;
}

/**
 * The request head for HTTP/2 (section 8.3.1): pseudo-header fields first,
 * `host` becomes :authority, names lower-case, connection-specific fields
 * dropped (`te` only as `trailers`).
 */
export function buildRequestHeaders(method: string, path: string, headers: readonly string[] | null, defaultAuthority: string, hasBody: boolean): string[] {
  // Sized once for everything it may hold (the stream keeps it: a request refused unprocessed is sent again),
  // written by index and cut to length: pushing onto a literal reallocated its storage as it grew.
  const out = new Array<string>(10 + (headers === null ? 0 : headers.length));
  out[0] = ':method';
  out[1] = method;
  out[2] = ':scheme';
  out[3] = 'http';
  out[4] = ':path';
  out[5] = path;
  out[6] = ':authority';
  out[7] = defaultAuthority;
  let n = 8;
  let sawHost = false;
  let sawLength = false;
  if (headers !== null) {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i].toLowerCase();
      const value = headers[i + 1];
      if (name === 'host') {
        if (!sawHost) out[7] = value;
        sawHost = true;
        continue;
      }
      if (CONNECTION_SPECIFIC.has(name)) continue;
      if (name === 'te' && value.toLowerCase() !== 'trailers') continue;
      if (name === 'content-length') sawLength = true;
      out[n++] = name;
      out[n++] = value;
    }
  }
  if (!hasBody && !sawLength && EXPECTS_PAYLOAD.has(method)) {
    out[n++] = 'content-length';
    out[n++] = '0';
  }
  out.length = n;
  return out;
}
