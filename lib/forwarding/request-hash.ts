// The request's hash under its route's hash policy, the same way whatever
// codec read the request: the codecs only hand over the fields in the policy's
// form (../hash/hash-policy.ts RequestHeaders), the path and the client's
// address. A request that carries none of the configured keys has no hash (it
// goes to the fallback pick) and is counted.

import type { Hash64 } from '../hash/hash64.ts';
import type { RequestHeaders } from '../hash/hash-policy.ts';
import type { Route } from './route.ts';

/** The hash (route.hash, shared scratch: read it before the next request) or null; call only when route.hashPolicy is set. */
export function requestHash(route: Route, fields: RequestHeaders, path: string, remoteAddress: string | undefined): Hash64 | null {
  if (route.hashPolicy!.compute(fields, path, remoteAddress, route.hash)) return route.hash;
  route.observer.hashKeyMissing(route);
  return null;
}

/** requestHash() for a flat [name, value, ...] field list (our HTTP/2 server's decoded request). */
export function requestHashOfFields(route: Route, fields: readonly string[], path: string, remoteAddress: string | undefined): Hash64 | null {
  if (route.hashPolicy!.computeFields(fields, path, remoteAddress, route.hash)) return route.hash;
  route.observer.hashKeyMissing(route);
  return null;
}
