// Chooses the discovery source for one upstream from its configuration:
// static endpoints, A/AAAA records of a name, or SRV records.

import type { UpstreamConfig } from '../config/config.ts';
import type { Discovery } from './discovery.ts';
import { createDnsDiscovery } from './dns/dns-discovery.ts';
import type { DiscoveryLogger } from './dns/dns-discovery.ts';
import { createStaticDiscovery } from './static/static-discovery.ts';

export type { DiscoveryLogger } from './dns/dns-discovery.ts';

export function createDiscovery(upstream: UpstreamConfig, logger?: DiscoveryLogger): Discovery {
  const { target, dns } = upstream;
  if (target.kind === 'static') return createStaticDiscovery(target.endpoints);
  return createDnsDiscovery({
    target,
    upstream: upstream.name,
    refreshMs: dns.refreshMs,
    respectTtl: dns.respectTtl,
    family: dns.family,
    server: dns.server,
    logger,
  });
}
