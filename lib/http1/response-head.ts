// Parser of one HTTP/1.1 response head from an upstream (RFC 9112 sections 4, 6),
// given as one latin1 string ending with the blank line. It decides how the
// body is framed (RFC 9112 section 6.3) and builds the head to send the
// client: status line as HTTP/1.1, end-to-end fields in the upstream's order
// and case, hop-by-hop fields removed. The caller appends its own framing
// fields and the blank line.

import {
  equalsLower,
  fieldLineProblem,
  isFieldValue,
  lowerListTokens,
  parseContentLength,
  skipOws,
  trimOwsEnd,
} from './http1-syntax.ts';

/** How the response body ends. */
export const Framing = {
  /** No body (HEAD, 1xx, 204, 304, or Content-Length: 0). */
  NONE: 0,
  LENGTH: 1,
  CHUNKED: 2,
  /** Read until the upstream closes (RFC 9112 section 6.3 rule 8). */
  CLOSE: 3,
} as const;
export type Framing = (typeof Framing)[keyof typeof Framing];

export class ResponseHead {
  status = 0;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;
  framing: Framing = Framing.NONE;
  contentLength = -1;
  /** The upstream keeps the connection open after this response. */
  keepAlive = true;
  /** Status line and end-to-end fields for the client (no framing fields, no blank line). */
  forward = '';
  /** Whether `forward` carries the upstream's Content-Length line. */
  forwardsLength = false;
  /** The upstream's `Keep-Alive: timeout=N` hint in ms (RFC 2068 section 19.7.1.1), -1 when absent. */
  keepAliveHintMs = -1;
  /** grpc-status of a trailers-only gRPC response, -1 when absent. */
  grpcStatus = -1;
  error = '';
  /**
   * The client head a user built from this head (for `encodedVariant`), kept
   * while the same head is reused (./upstream-pool.ts LastResponseHead);
   * null after every parse. Shared: never modified once set.
   */
  encoded: Buffer | null = null;
  encodedVariant = -1;
}

const MAX_LINES = 8192;
const lineStarts = new Int32Array(MAX_LINES);
const lineEnds = new Int32Array(MAX_LINES);
const lineNameEnds = new Int32Array(MAX_LINES);
const lineDrop = new Uint8Array(MAX_LINES);

/** Parse `text` into `out`; false (out.error says why) when the head is malformed or ambiguous. */
export function parseResponseHead(text: string, out: ResponseHead, requestWasHead: boolean): boolean {
  const len = text.length;
  out.error = '';
  out.encoded = null;
  out.encodedVariant = -1;
  out.grpcStatus = -1;
  out.keepAliveHintMs = -1;
  const lineEnd = text.indexOf('\r\n');
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]; some servers omit the second SP.
  if (!text.startsWith('HTTP/1.', 0) || text.charCodeAt(8) !== 0x20 || lineEnd < 12) return bad(out, 'invalid status line');
  const minorChar = text.charCodeAt(7);
  if (minorChar !== 0x30 && minorChar !== 0x31) return bad(out, 'unsupported HTTP version');
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return bad(out, 'invalid status code');
    status = status * 10 + d;
  }
  if (status < 100) return bad(out, 'invalid status code');
  if (lineEnd > 12 && text.charCodeAt(12) !== 0x20) return bad(out, 'invalid status line');
  if (!isFieldValue(text, 12, lineEnd)) return bad(out, 'invalid reason phrase');

  let lines = 0;
  let drops = 0;
  let contentLengths = 0;
  let contentLength = -1;
  let lengthLine = -1;
  let transferEncoding = false;
  let chunked = false;
  let close = false;
  let keepAliveToken = false;
  let named: string[] | null = null;
  let grpcStatus = -1;
  let pos = lineEnd + 2;
  const last = len - 2;
  while (pos < last) {
    const end = text.indexOf('\r\n', pos);
    if (lines === MAX_LINES) return bad(out, 'too many header fields');
    const colon = text.indexOf(':', pos);
    const problem = fieldLineProblem(text, pos, end, colon);
    if (problem !== null) return bad(out, problem);
    const vs = skipOws(text, colon + 1, end);
    const ve = trimOwsEnd(text, vs, end);
    let drop = 0;
    switch (colon - pos) {
      case 7:
        if (equalsLower(text, pos, colon, 'upgrade')) drop = 1;
        break;
      case 10:
        if (equalsLower(text, pos, colon, 'connection')) {
          drop = 1;
          const tokens: string[] = [];
          if (!lowerListTokens(text, vs, ve, tokens)) return bad(out, 'invalid Connection header');
          for (let t = 0; t < tokens.length; t++) {
            if (tokens[t] === 'close') close = true;
            else if (tokens[t] === 'keep-alive') keepAliveToken = true;
            else (named ??= []).push(tokens[t]);
          }
        } else if (equalsLower(text, pos, colon, 'keep-alive')) {
          drop = 1;
          const m = /(?:^|[\s,])timeout=(\d{1,6})/i.exec(text.slice(vs, ve));
          if (m !== null) out.keepAliveHintMs = Number(m[1]) * 1000;
        }
        break;
      case 11:
        if (equalsLower(text, pos, colon, 'grpc-status')) grpcStatus = Number(text.slice(vs, ve));
        break;
      case 14:
        if (equalsLower(text, pos, colon, 'content-length')) {
          const n = parseContentLength(text, vs, ve);
          if (n < 0 || (contentLengths > 0 && n !== contentLength)) return bad(out, 'invalid Content-Length');
          // Identical repeats are tolerated on responses (RFC 9110 section 8.6) but forwarded once.
          if (contentLengths > 0) drop = 1;
          else lengthLine = lines;
          contentLength = n;
          contentLengths++;
        }
        break;
      case 16:
        if (equalsLower(text, pos, colon, 'proxy-connection')) drop = 1;
        break;
      case 17:
        if (equalsLower(text, pos, colon, 'transfer-encoding')) {
          drop = 1;
          transferEncoding = true;
          // The final coding decides: chunked, else the body runs to the close (RFC 9112 section 6.3 rule 4).
          const v = text.slice(vs, ve).toLowerCase();
          const lastComma = v.lastIndexOf(',');
          chunked = (lastComma < 0 ? v : v.slice(lastComma + 1).trim()) === 'chunked';
        }
        break;
    }
    lineStarts[lines] = pos;
    lineEnds[lines] = end;
    lineNameEnds[lines] = colon;
    lineDrop[lines] = drop;
    drops += drop;
    lines++;
    pos = end + 2;
  }
  if (transferEncoding && contentLengths > 0) return bad(out, 'both Content-Length and Transfer-Encoding');
  if (transferEncoding && !chunked) {
    // A transfer coding we do not decode: we cannot pass it on without re-framing. Refused (502).
    return bad(out, 'unsupported Transfer-Encoding');
  }
  if (named !== null) {
    for (let l = 0; l < lines; l++) {
      if (lineDrop[l] === 1) continue;
      if (named.includes(text.slice(lineStarts[l], lineNameEnds[l]).toLowerCase())) {
        lineDrop[l] = 1;
        drops++;
      }
    }
  }

  const minor = minorChar - 0x30;
  out.status = status;
  out.minor = minor;
  out.contentLength = contentLength;
  out.keepAlive = minor === 1 ? !close : keepAliveToken && !close;
  out.grpcStatus = grpcStatus;
  if (requestWasHead || status < 200 || status === 204 || status === 304) out.framing = Framing.NONE;
  else if (chunked) out.framing = Framing.CHUNKED;
  else if (contentLengths > 0) out.framing = contentLength === 0 ? Framing.NONE : Framing.LENGTH;
  else {
    out.framing = Framing.CLOSE;
    out.keepAlive = false;
  }
  out.forwardsLength = lengthLine >= 0 && lineDrop[lengthLine] === 0;
  let head = minor === 1 ? text.slice(0, lineEnd + 2) : 'HTTP/1.1' + text.slice(8, lineEnd + 2);
  if (drops === 0) head += text.slice(lineEnd + 2, last);
  else for (let l = 0; l < lines; l++) if (lineDrop[l] === 0) head += text.slice(lineStarts[l], lineEnds[l] + 2);
  out.forward = head;
  return true;
}

function bad(out: ResponseHead, why: string): boolean {
  out.error = why;
  return false;
}
