// The response head and trailers our h2c client reads from an upstream
// (RFC 9113 section 8.3.2 and 8.1): checked, and turned into undici's header
// object, from the flat [name, value, ...] list the HPACK decoder produced.

import { CONNECTION_SPECIFIC, isLowerToken, SINGLE_VALUE } from './header-fields.ts';

type Headers = Record<string, string | string[]>;

/** The :status of a response head (which must come first), or -1 when missing or invalid. */
export function responseStatus(fields: readonly string[]): number {
  if (fields.length < 2 || fields[0] !== ':status') return -1;
  const text = fields[1];
  if (text.length !== 3) return -1;
  const status = Number(text);
  return status >= 100 && status <= 999 && Number.isInteger(status) ? status : -1;
}

/**
 * Decoded fields from `from` on as undici's header object (lower-case names;
 * repeats joined like node:http2 does), or what makes them malformed.
 */
export function toResponseHeaders(fields: readonly string[], from: number): Headers | string {
  const headers: Headers = {};
  for (let i = from; i < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (!isLowerToken(name)) return name.charCodeAt(0) === 58 ? `unexpected pseudo-header field ${name}` : `invalid field name ${JSON.stringify(name)}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (name === 'set-cookie') {
      if (typeof existing === 'string') headers[name] = [existing, value];
      else existing.push(value);
    } else if (SINGLE_VALUE.has(name)) continue;
    else headers[name] = `${existing}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}

/** A response content-length as a number, or -1 when it is not a valid one. */
export function parseContentLength(value: string | string[]): number {
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : -1;
}
