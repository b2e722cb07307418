// Maps c-ares error codes (as surfaced by node:dns) to what a resolution
// attempt ended as. Only NXDOMAIN and NODATA are authoritative "nothing here";
// everything else is a failure that must not empty the endpoint set.
// Codes: https://nodejs.org/docs/latest-v24.x/api/dns.html#error-codes

import type { ResolutionResult } from '../discovery.ts';
import { errorCode } from '../../errors/errors.ts';

export type NegativeResult = 'nxdomain' | 'nodata';
export type FailureResult = 'servfail' | 'timeout' | 'error';

export function classifyDnsError(err: unknown): NegativeResult | FailureResult {
  switch (errorCode(err)) {
    // c-ares: rcode NXDOMAIN -> ARES_ENOTFOUND.
    case 'ENOTFOUND':
      return 'nxdomain';
    // c-ares: rcode NOERROR with an empty answer section -> ARES_ENODATA.
    case 'ENODATA':
      return 'nodata';
    case 'ESERVFAIL':
      return 'servfail';
    case 'ETIMEOUT':
      return 'timeout';
    // EREFUSED (rcode REFUSED), ECONNREFUSED (server unreachable), EBADRESP, EFORMERR, ECANCELLED, ...
    default:
      return 'error';
  }
}

export function isNegative(result: ResolutionResult): result is NegativeResult {
  return result === 'nxdomain' || result === 'nodata';
}
