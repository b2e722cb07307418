import { describe, expect, it } from 'vitest';
import { errorResponse, grpcErrorTrailers, http1ErrorText } from './error-response.ts';
import { BadRequestError, ClientCancelledError, ConnectFailedError, HeadersTooLargeError, NoEndpointsError, RateLimitedError, TimeoutError, UpstreamProtocolError, UpstreamResetError, UpstreamTruncatedError } from './errors.ts';

const ALL = [
  new NoEndpointsError('recs'),
  new ConnectFailedError('recs', '10.0.0.1:80'),
  new UpstreamResetError('recs', '10.0.0.1:80'),
  new TimeoutError('recs', '10.0.0.1:80', 'request'),
  new ClientCancelledError('recs', '10.0.0.1:80'),
  new HeadersTooLargeError('recs', '10.0.0.1:80'),
  new UpstreamProtocolError('recs', '10.0.0.1:80', 'speaks only HTTP/1.1'),
  new UpstreamTruncatedError('recs', '10.0.0.1:80'),
  new RateLimitedError('recs', 1500),
  new BadRequestError('bad'),
];

describe('error responses (one mapping for every writer)', () => {
  it('an HTTP/1.1 error is a well-formed response with a reason phrase, the error code and an exact content-length', () => {
    for (const err of ALL) {
      const text = http1ErrorText(err, false, true);
      const [head, body] = text.split('\r\n\r\n');
      const [statusLine, ...fields] = head.split('\r\n');
      expect(statusLine).toMatch(/^HTTP\/1\.1 \d{3} [A-Za-z ]+$/);
      if (!statusLine.includes(' 499 ')) expect(statusLine.endsWith(' Error')).toBe(false);
      expect(fields).toContain(`x-ringside-error: ${err.code}`);
      expect(fields).toContain(`content-length: ${Buffer.byteLength(body)}`);
      expect(fields.at(-1)).toBe('connection: close');
      expect(body).toBe(`ringside: ${err.message}\n`);
    }
  });

  it('a rate-limited request says when to come back, in seconds rounded up, on every form', () => {
    const err = new RateLimitedError('recs', 1500);
    expect(http1ErrorText(err, false, false)).toContain('\r\nretry-after: 2\r\n');
    expect(http1ErrorText(err, false, false)).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    const grpc = errorResponse(err, true, true);
    expect(grpc.status).toBe(200);
    expect(grpc.fields).toEqual(expect.arrayContaining(['grpc-status', '8', 'retry-after', '2']));
  });

  it('gRPC from an HTTP/2 client is trailers-only: HTTP 200, no body, the gRPC status and a percent-encoded message', () => {
    const r = errorResponse(new NoEndpointsError('recs', 'ünïcode 100%'), true, true);
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    const fields = Object.fromEntries(r.fields.flatMap((_, i) => (i % 2 === 0 ? [[r.fields[i], r.fields[i + 1]]] : [])));
    expect(fields).toMatchObject({ 'content-type': 'application/grpc', 'grpc-status': '14', 'x-ringside-error': 'RS_ERR_NO_ENDPOINTS' });
    expect(fields['grpc-message']).toMatch(/%C3%BC/);
    expect(fields['grpc-message']).toMatch(/100%25/);
  });

  it('after the head, gRPC trailers carry the error status, never OK', () => {
    expect(grpcErrorTrailers(new UpstreamResetError('recs', 'x'))['grpc-status']).toBe('14');
    expect(grpcErrorTrailers(new UpstreamTruncatedError('recs', 'x'))['grpc-status']).toBe('14');
    expect(grpcErrorTrailers(new TimeoutError('recs', 'x', 'gRPC deadline'))['grpc-status']).toBe('4');
  });
});
