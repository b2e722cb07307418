import { describe, expect, it } from 'vitest';
import { ClientCancelledError, ConnectFailedError, HeadersTooLargeError, TimeoutError, UpstreamResetError } from '../errors/errors.ts';
import type { Route } from './route.ts';
import { retryAllowed } from './retry-policy.ts';

const route = { upstream: { config: { retries: 2 } } } as unknown as Route;
const reset = new UpstreamResetError('u', 'e');

describe('retryAllowed (the rules of every codec)', () => {
  it('a request the endpoint never processed may go elsewhere, whatever its method', () => {
    expect(retryAllowed(route, 1, new ConnectFailedError('u', 'e'), true, 'POST')).toBe(true);
    expect(retryAllowed(route, 1, reset, true, 'PATCH')).toBe(true);
  });

  it('a processed request only when idempotent (RFC 9110 section 9.2.2)', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) expect(retryAllowed(route, 1, reset, false, m)).toBe(true);
    for (const m of ['POST', 'PATCH', 'CONNECT', 'QUERY']) expect(retryAllowed(route, 1, reset, false, m)).toBe(false);
  });

  it('within --retries: attempts 1 and 2 may be followed by another, attempt 3 not', () => {
    expect(retryAllowed(route, 2, reset, true, 'GET')).toBe(true);
    expect(retryAllowed(route, 3, reset, true, 'GET')).toBe(false);
  });

  it('never when another endpoint would not help', () => {
    expect(retryAllowed(route, 1, new TimeoutError('u', 'e', 'request'), true, 'GET')).toBe(false);
    expect(retryAllowed(route, 1, new ClientCancelledError('u', 'e'), true, 'GET')).toBe(false);
    expect(retryAllowed(route, 1, new HeadersTooLargeError('u', 'e'), true, 'GET')).toBe(false);
  });
});
