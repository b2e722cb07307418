// Strict parser of one HTTP/1.1 request head (RFC 9112 sections 2-3, 5-7),
// given as one latin1 string that ends with the blank line. It validates every
// char, decides the body framing, and produces the head to forward upstream
// with hop-by-hop fields removed (the rules of ../forwarding/hop-by-hop.ts).
// Anything ambiguous is refused: a proxy that reads a message differently
// from the server behind it is how request smuggling works
// (https://portswigger.net/web-security/request-smuggling).

import {
  equalsLower,
  fieldLineProblem,
  isToken,
  lowerListTokens,
  parseContentLength,
  skipOws,
  trimOwsEnd,
} from './http1-syntax.ts';

/** Headers the hash policy reads, keyed by lower-case name (the `HashPolicy.compute` contract). */
export type HashHeaders = Record<string, string | string[]>;

const NO_HEADERS: HashHeaders = Object.freeze({}) as HashHeaders;

/** Outcome codes of parseRequestHead. OK = 0; the others are the status to answer with. */
export const HeadResult = {
  OK: 0,
  BAD_REQUEST: 400,
  METHOD_NOT_ALLOWED: 405,
  EXPECTATION_FAILED: 417,
  NOT_IMPLEMENTED: 501,
} as const;

// Per-head scratch: [lineStart, lineEnd, drop?] for every header line. The
// head is bounded (16 KiB by default), so is the number of lines.
const MAX_LINES = 8192;
const lineStarts = new Int32Array(MAX_LINES);
const lineEnds = new Int32Array(MAX_LINES);
const lineNameEnds = new Int32Array(MAX_LINES);
const lineDrop = new Uint8Array(MAX_LINES);

/** One parsed request head; one instance is reused for every request of the process (parsing is synchronous). */
export class RequestHead {
  method = '';
  target = '';
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;
  /** -1 when there is no Content-Length. */
  contentLength = -1;
  chunked = false;
  /** The client wants the connection kept open after this exchange. */
  keepAlive = true;
  expectContinue = false;
  hasHost = false;
  isGrpc = false;
  /**
   * A protocol switch to tunnel (Upgrade with `Connection: upgrade`, HTTP/1.1,
   * not h2c): `forward` then keeps the Upgrade field and says `connection: upgrade`.
   */
  upgrade = false;
  /** The head to send upstream: HTTP/1.1 request line, end-to-end fields, blank line. */
  forward = '';
  /** The fields the hash policy reads (a shared empty object when none were present). */
  hashHeaders: HashHeaders = NO_HEADERS;
  /** Why the head was refused (for the 400 body and logs). */
  error = '';
}

/**
 * Parse `text` (the head up to and including CRLFCRLF) into `out`. Returns
 * HeadResult.OK, or the status to answer with (out.error says why).
 * `hashNames` are the lower-case field names the hash policy reads.
 */
export function parseRequestHead(text: string, out: RequestHead, hashNames: readonly string[]): number {
  out.error = '';
  out.hashHeaders = NO_HEADERS;
  const len = text.length;
  // --- request-line = method SP request-target SP HTTP-version CRLF
  const lineEnd = text.indexOf('\r\n');
  const sp1 = text.indexOf(' ');
  if (sp1 <= 0 || sp1 > lineEnd || !isToken(text, 0, sp1)) return fail(out, 'invalid method');
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 > lineEnd || lineEnd - sp2 !== 9) return fail(out, 'invalid request line');
  // request-target: visible US-ASCII only (RFC 9112 section 3.2; RFC 3986 has no spaces or controls).
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return fail(out, 'invalid request target');
  }
  if (sp2 === sp1 + 1) return fail(out, 'empty request target');
  if (!text.startsWith('HTTP/1.', sp2 + 1)) return fail(out, 'unsupported HTTP version');
  const minorChar = text.charCodeAt(sp2 + 8);
  if (minorChar !== 0x31 && minorChar !== 0x30) return fail(out, 'unsupported HTTP version');
  const minor = minorChar - 0x30;
  const method = knownMethod(text, sp1) ?? text.slice(0, sp1);
  const target = text.slice(sp1 + 1, sp2);
  const first = target.charCodeAt(0);
  // origin-form, or asterisk-form for OPTIONS (RFC 9112 section 3.2). absolute-form
  // and authority-form are for forward proxies, which a sidecar is not.
  if (first !== 0x2f && !(target === '*' && method === 'OPTIONS')) {
    if (method === 'CONNECT') return refuse(out, HeadResult.METHOD_NOT_ALLOWED, 'CONNECT is not supported');
    return fail(out, 'request target must start with /');
  }

  // --- header fields
  let lines = 0;
  let drops = 0;
  let hosts = 0;
  let contentLengths = 0;
  let contentLength = -1;
  let transferEncodings = 0;
  let chunked = false;
  let close = false;
  let keepAliveToken = false;
  let upgradeToken = false;
  let upgradeHeader = false;
  let upgradeLine = -1;
  let upgrades = 0;
  let upgradeH2c = false;
  let expectContinue = false;
  let expectOther = false;
  let isGrpc = false;
  let named: string[] | null = null;
  let hashHeaders: HashHeaders | null = null;
  let pos = lineEnd + 2;
  const last = len - 2; // the final CRLF
  while (pos < last) {
    const end = text.indexOf('\r\n', pos);
    if (lines === MAX_LINES) return fail(out, 'too many header fields');
    const colon = text.indexOf(':', pos);
    const problem = fieldLineProblem(text, pos, end, colon);
    if (problem !== null) return fail(out, problem);
    const vs = skipOws(text, colon + 1, end);
    const ve = trimOwsEnd(text, vs, end);
    let drop = 0;
    switch (colon - pos) {
      case 2:
        if (equalsLower(text, pos, colon, 'te')) {
          // `TE: trailers` is the one value kept (gRPC needs it), as hop-by-hop.ts does:
          // drop code 2 = forward this field as `TE: trailers`.
          drop = text.slice(vs, ve).toLowerCase().includes('trailers') ? 2 : 1;
        }
        break;
      case 4:
        if (equalsLower(text, pos, colon, 'host')) hosts++;
        break;
      case 6:
        if (equalsLower(text, pos, colon, 'expect')) {
          drop = 1;
          if (equalsLower(text, vs, ve, '100-continue')) expectContinue = true;
          else expectOther = true;
        }
        break;
      case 7:
        if (equalsLower(text, pos, colon, 'upgrade')) {
          drop = 1;
          upgradeHeader = true;
          upgradeLine = lines;
          upgrades++;
          // h2c is never switched to (we serve HTTP/2 on prior knowledge): such a request keeps its 501.
          if (/(?:^|,)\s*h2c\s*(?:[,/]|$)/i.test(text.slice(vs, ve)) || vs === ve) upgradeH2c = true;
        } else if (equalsLower(text, pos, colon, 'trailer')) drop = 1;
        break;
      case 10:
        if (equalsLower(text, pos, colon, 'connection')) {
          drop = 1;
          const tokens: string[] = [];
          if (!lowerListTokens(text, vs, ve, tokens)) return fail(out, 'invalid Connection header');
          for (let t = 0; t < tokens.length; t++) {
            const token = tokens[t];
            if (token === 'close') close = true;
            else if (token === 'keep-alive') keepAliveToken = true;
            else {
              if (token === 'upgrade') upgradeToken = true;
              (named ??= []).push(token);
            }
          }
        } else if (equalsLower(text, pos, colon, 'keep-alive')) drop = 1;
        break;
      case 12:
        if (equalsLower(text, pos, colon, 'content-type') && text.startsWith('application/grpc', vs)) isGrpc = true;
        break;
      case 14:
        if (equalsLower(text, pos, colon, 'content-length')) {
          contentLengths++;
          contentLength = parseContentLength(text, vs, ve);
          if (contentLength < 0) return fail(out, 'invalid Content-Length');
        } else if (equalsLower(text, pos, colon, 'http2-settings')) drop = 1;
        break;
      case 16:
        if (equalsLower(text, pos, colon, 'proxy-connection')) drop = 1;
        break;
      case 17:
        if (equalsLower(text, pos, colon, 'transfer-encoding')) {
          drop = 1;
          transferEncodings++;
          // Only exactly `chunked`: any other coding (or a list) is a framing we
          // would have to interpret differently from some upstream (RFC 9112 section 6.1).
          chunked = equalsLower(text, vs, ve, 'chunked');
          if (!chunked) return fail(out, 'unsupported Transfer-Encoding');
        }
        break;
      case 18:
        if (equalsLower(text, pos, colon, 'proxy-authenticate')) drop = 1;
        break;
      case 19:
        if (equalsLower(text, pos, colon, 'proxy-authorization')) drop = 1;
        break;
    }
    for (let h = 0; h < hashNames.length; h++) {
      const name = hashNames[h];
      if (colon - pos === name.length && equalsLower(text, pos, colon, name)) {
        const value = text.slice(vs, ve);
        hashHeaders ??= {};
        const prev = hashHeaders[name];
        if (prev === undefined) hashHeaders[name] = value;
        else if (typeof prev === 'string') hashHeaders[name] = [prev, value];
        else prev.push(value);
      }
    }
    lineStarts[lines] = pos;
    lineEnds[lines] = end;
    lineNameEnds[lines] = colon;
    lineDrop[lines] = drop;
    if (drop !== 0) drops++;
    lines++;
    pos = end + 2;
  }

  if (minor === 1 && hosts !== 1) return fail(out, hosts === 0 ? 'missing Host header' : 'several Host headers');
  if (hosts > 1) return fail(out, 'several Host headers');
  if (contentLengths > 1) return fail(out, 'several Content-Length headers');
  if (transferEncodings > 1) return fail(out, 'several Transfer-Encoding headers');
  if (transferEncodings > 0 && contentLengths > 0) return fail(out, 'both Content-Length and Transfer-Encoding');
  // HTTP/1.0 has no chunked coding (RFC 9112 section 6.1: treat as faulty framing).
  if (chunked && minor === 0) return fail(out, 'Transfer-Encoding in an HTTP/1.0 request');
  if (method === 'CONNECT') return refuse(out, HeadResult.METHOD_NOT_ALLOWED, 'CONNECT is not supported');
  // A protocol switch (Connection: upgrade + Upgrade, RFC 9110 section 7.8) becomes a tunnel
  // (../forwarding/tunnel.ts); h2c, several Upgrade fields and HTTP/1.0 (which has no Upgrade) are refused as before.
  const upgrade = upgradeHeader && upgradeToken;
  if (upgrade && (upgradeH2c || minor === 0 || upgrades > 1)) {
    return refuse(out, HeadResult.NOT_IMPLEMENTED, 'protocol upgrade is not supported');
  }
  if (expectOther) return refuse(out, HeadResult.EXPECTATION_FAILED, 'unsupported expectation');

  // Fields named by Connection are hop-by-hop too (RFC 9110 section 7.6.1).
  if (named !== null) {
    for (let l = 0; l < lines; l++) {
      if (lineDrop[l] !== 0) continue;
      const name = text.slice(lineStarts[l], lineNameEnds[l]).toLowerCase();
      if (named.includes(name)) {
        lineDrop[l] = 1;
        drops++;
      }
    }
  }

  out.method = method;
  out.target = target;
  out.minor = minor;
  out.contentLength = contentLength;
  out.chunked = chunked;
  out.keepAlive = minor === 1 ? !close : keepAliveToken && !close;
  out.expectContinue = expectContinue && minor === 1;
  out.hasHost = hosts === 1;
  out.isGrpc = isGrpc;
  out.upgrade = upgrade;
  // The handshake's Upgrade field goes upstream (hop-by-hop for other requests, not for this one).
  if (upgrade) {
    lineDrop[upgradeLine] = 0;
    drops--;
  }
  if (hashHeaders !== null) out.hashHeaders = hashHeaders;
  if (drops === 0 && minor === 1) {
    out.forward = text; // nothing to change: forward the head as received
  } else {
    let head = minor === 1 ? text.slice(0, lineEnd + 2) : `${method} ${target} HTTP/1.1\r\n`;
    for (let l = 0; l < lines; l++) {
      if (lineDrop[l] === 0) head += text.slice(lineStarts[l], lineEnds[l] + 2);
      else if (lineDrop[l] === 2) head += text.slice(lineStarts[l], lineNameEnds[l]) + ': trailers\r\n';
    }
    if (upgrade) head += 'connection: upgrade\r\n';
    // The chunked body is forwarded as received (validated), so its framing field goes with it.
    out.forward = chunked ? head + 'transfer-encoding: chunked\r\n\r\n' : head + '\r\n';
  }
  return HeadResult.OK;
}

/** The common methods as constants, so the request path does not allocate a string for them. */
function knownMethod(text: string, len: number): string | null {
  switch (len) {
    case 3:
      return text.startsWith('GET') ? 'GET' : text.startsWith('PUT') ? 'PUT' : null;
    case 4:
      return text.startsWith('POST') ? 'POST' : text.startsWith('HEAD') ? 'HEAD' : null;
    case 6:
      return text.startsWith('DELETE') ? 'DELETE' : null;
    default:
      return null;
  }
}

function fail(out: RequestHead, why: string): number {
  out.error = why;
  return HeadResult.BAD_REQUEST;
}

function refuse(out: RequestHead, status: number, why: string): number {
  out.error = why;
  return status;
}
