// Fields a trailer section may not carry on, in either direction: framing,
// routing and connection fields (RFC 9110 section 6.5.1; HTTP/2 refuses the
// connection ones outright, RFC 9113 section 8.2.2, and node:http2's
// sendTrailers throws on them). Every codec that writes trailers asks here.

const NOT_IN_TRAILERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings', 'content-length', 'host']);

/** Whether a trailer field named `name` (any case) may be forwarded. */
export function forwardableTrailer(name: string): boolean {
  return !NOT_IN_TRAILERS.has(name.toLowerCase());
}
