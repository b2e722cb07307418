// `--upstream-protocol auto`: what an endpoint was seen to speak, remembered
// on the endpoint and logged once per change, whichever codec saw it (our
// HTTP/1.1 pool, our HTTP/2 client, or the compat engine's probe).

import type { Route } from './route.ts';
import type { Endpoint, LearnedProtocol } from '../upstream/endpoint.ts';

/** Remember what `endpoint` speaks; logged at info once per change (a new endpoint, or after a re-check found otherwise). */
export function learnProtocol(route: Route, endpoint: Endpoint, learned: LearnedProtocol): void {
  if (endpoint.learnProtocol(learned)) {
    route.logger.info('upstream endpoint speaks only one protocol', { upstream: route.upstream.name, endpoint: endpoint.key, protocol: endpoint.protocolName });
  }
}
