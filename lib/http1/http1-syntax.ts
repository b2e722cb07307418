// Character classes of HTTP/1.1 messages (RFC 9110 section 5.6.2 tokens,
// section 5.5 field values) as lookup tables over latin1 text, so the parsers
// validate one char code at a time without regular expressions.

/** tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/**
 * field-vchar / SP / HTAB / obs-text. Everything else (NUL, bare CR, bare LF,
 * other controls, DEL) makes the field invalid (RFC 9110 section 5.5: a
 * recipient must reject or replace CR, LF and NUL; we reject all controls).
 */
const FIELD_CHAR = new Uint8Array(256);
FIELD_CHAR[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_CHAR[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_CHAR[c] = 1;

/** True when text[start, end) is a non-empty token. */
export function isToken(text: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || TCHAR[c] === 0) return false;
  }
  return true;
}

/** True when every char of text[start, end) may appear in a field value. */
export function isFieldValue(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || FIELD_CHAR[c] === 0) return false;
  }
  return true;
}

/** Case-insensitive comparison of text[start, end) with an all-lower-case ASCII name. */
export function equalsLower(text: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(start + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** First index >= start whose char is not SP/HTAB (optional whitespace, RFC 9110 section 5.6.3). */
export function skipOws(text: string, start: number, end: number): number {
  while (start < end) {
    const c = text.charCodeAt(start);
    if (c !== 0x20 && c !== 0x09) break;
    start++;
  }
  return start;
}

/** Index just past the last non-SP/HTAB char of text[start, end). */
export function trimOwsEnd(text: string, start: number, end: number): number {
  while (end > start) {
    const c = text.charCodeAt(end - 1);
    if (c !== 0x20 && c !== 0x09) break;
    end--;
  }
  return end;
}

/** A Content-Length value: 1*DIGIT, bounded so the number stays exact (< 2^53). -1 when invalid. */
export function parseContentLength(text: string, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Calls `onToken(lowerToken)` for each comma-separated token of a list value
 * such as Connection (RFC 9110 section 5.6.1); empty elements are skipped.
 * Returns false if an element is not a token.
 */
export function lowerListTokens(text: string, start: number, end: number, out: string[]): boolean {
  let i = start;
  while (i < end) {
    let comma = text.indexOf(',', i);
    if (comma < 0 || comma > end) comma = end;
    const s = skipOws(text, i, comma);
    const e = trimOwsEnd(text, s, comma);
    if (e > s) {
      if (!isToken(text, s, e)) return false;
      out.push(text.slice(s, e).toLowerCase());
    }
    i = comma + 1;
  }
  return true;
}

/**
 * Why the header field line text[pos, end) is malformed (RFC 9112 section 5),
 * or null when it is well-formed. `colon` is the first ':' at or after `pos`
 * (-1 when there is none). Shared by the request and the response head parsers.
 */
export function fieldLineProblem(text: string, pos: number, end: number, colon: number): string | null {
  const c0 = text.charCodeAt(pos);
  // obs-fold (RFC 9112 section 5.2): a line starting with whitespace continues the previous one. Refused.
  if (c0 === 0x20 || c0 === 0x09) return 'obsolete line folding';
  if (colon < 0 || colon > end || !isToken(text, pos, colon)) return 'invalid header field name';
  if (!isFieldValue(text, colon + 1, end)) return 'invalid header field value';
  return null;
}
