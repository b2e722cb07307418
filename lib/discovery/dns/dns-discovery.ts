// Discovery of a headless Service's pods by DNS: A/AAAA records of a name (each
// address with a configured port) or SRV records (ports and weights from the
// records), refreshed periodically, keeping the last known good set through
// resolver failures, in the spirit of Envoy's STRICT_DNS cluster
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/service_discovery#strict-dns)
// and linkerd2-proxy's update stream.
//
// Search domains: node:dns `Resolver.resolve4/resolve6/resolveSrv` go through
// c-ares `ares_query`, which sends the name exactly as given: resolv.conf
// `search` domains and `ndots` are NOT applied (verified by
// dns-discovery.test.ts with LOCALDOMAIN/RES_OPTIONS=ndots:5: `api` is asked as
// `api`, never `api.<search>`). So configure the fully qualified name
// (`recs.default.svc.cluster.local`, a trailing dot is accepted and changes
// nothing here); a short name like `recs` gets NXDOMAIN. In contrast,
// getaddrinfo-based lookups (dns.lookup, most HTTP clients) under Kubernetes'
// `ndots:5` try every search domain first for names with fewer than 5 dots,
// which a trailing dot avoids.

import { Resolver } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import type { Discovery, DiscoveryListener, DiscoveryUpdate, EndpointAddress, ResolutionResult } from '../discovery.ts';
import { ConfigError, DnsError } from '../../errors/errors.ts';
import type { ConfigProblem } from '../../errors/errors.ts';
import { createEndpointAddress } from '../endpoint-address.ts';
import { diffEndpointSets } from '../endpoint-set-diff.ts';
import { classifyDnsError } from './dns-result.ts';
import type { FailureResult, NegativeResult } from './dns-result.ts';
import { DEFAULT_JITTER, backoffDelayMs, successDelayMs } from './refresh-delay.ts';

export interface DiscoveryLogger {
  warn(msg: string, fields?: object): void;
  debug(msg: string, fields?: object): void;
}

export type DnsDiscoveryTarget =
  | { readonly kind: 'dns'; readonly name: string; readonly port: number }
  | { readonly kind: 'srv'; readonly name: string };

export interface DnsDiscoveryOptions {
  readonly target: DnsDiscoveryTarget;
  /** The upstream (cluster) name, for log lines and error messages. */
  readonly upstream: string;
  readonly refreshMs: number;
  readonly respectTtl: boolean;
  readonly family: 'any' | 'ipv4' | 'ipv6';
  /** Ask this server; null = the system configuration (/etc/resolv.conf). */
  readonly server: { readonly host: string; readonly port: number } | null;
  readonly logger?: DiscoveryLogger;
  /** c-ares per-try timeout. Default 1000 ms: a cluster DNS that has not answered in a second is not going to. */
  readonly queryTimeoutMs?: number;
  /** c-ares tries per server. Default 2 (c-ares' own default of 4 would hold a refresh for ~15 s). */
  readonly queryTries?: number;
  /** Fraction of random spread on refresh delays. Default 0.1 (+-10%). */
  readonly jitter?: number;
}

/** One A or AAAA address with its TTL in seconds. */
interface AddressRecord {
  readonly address: string;
  readonly ttl: number;
}

type Outcome =
  | { readonly kind: 'endpoints'; readonly endpoints: Map<string, EndpointAddress>; readonly minTtlSeconds: number | null }
  | { readonly kind: 'does-not-exist'; readonly result: NegativeResult; readonly reason: string }
  | { readonly kind: 'failure'; readonly result: FailureResult; readonly error: Error };

type AddressOutcome =
  | { readonly kind: 'addresses'; readonly records: readonly AddressRecord[] }
  | { readonly kind: 'negative'; readonly result: NegativeResult }
  | { readonly kind: 'failure'; readonly result: FailureResult; readonly error: Error };

const noopLogger: DiscoveryLogger = { warn() {}, debug() {} };

function validate(options: DnsDiscoveryOptions): void {
  const problems: ConfigProblem[] = [];
  const { target } = options;
  if (typeof target.name !== 'string' || target.name.length === 0 || target.name.length > 254) {
    problems.push({ key: 'target.name', message: 'a DNS name of 1 to 253 characters (optionally with a trailing dot)' });
  }
  if (target.kind === 'dns' && !(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535)) {
    problems.push({ key: 'target.port', message: 'an integer port from 1 to 65535' });
  }
  if (!(Number.isFinite(options.refreshMs) && options.refreshMs >= 1)) {
    problems.push({ key: 'dns.refreshMs', message: 'a positive number of milliseconds' });
  }
  if (!['any', 'ipv4', 'ipv6'].includes(options.family)) {
    problems.push({ key: 'dns.family', message: 'one of any, ipv4, ipv6' });
  }
  if (options.server && !(Number.isInteger(options.server.port) && options.server.port >= 1 && options.server.port <= 65535 && isIP(options.server.host))) {
    problems.push({ key: 'dns.server', message: 'an IP address and port, e.g. 10.96.0.10:53' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

function formatServer(server: { host: string; port: number }): string {
  return isIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function createDnsDiscovery(options: DnsDiscoveryOptions): Discovery {
  validate(options);
  const { target, family, refreshMs, respectTtl, upstream } = options;
  const logger = options.logger ?? noopLogger;
  const jitter = options.jitter ?? DEFAULT_JITTER;
  const description = target.kind === 'dns' ? `dns:${target.name}:${target.port}` : `srv:${target.name}`;

  // Our own Resolver: setServers here never touches the process-wide resolver other code uses.
  const resolver = new Resolver({ timeout: options.queryTimeoutMs ?? 1000, tries: options.queryTries ?? 2 });
  if (options.server) resolver.setServers([formatServer(options.server)]);

  let listener: DiscoveryListener | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  /** What the consumer currently holds: nothing yet, a set of endpoints, or "does not exist". */
  let state: 'initial' | 'endpoints' | 'does-not-exist' = 'initial';
  let current = new Map<string, EndpointAddress>();
  let consecutiveFailures = 0;

  const deliver = (update: DiscoveryUpdate): void => {
    try {
      listener?.onUpdate(update);
    } catch (err) {
      logger.warn('discovery listener threw on update', { upstream, source: description, error: toError(err).message });
    }
  };

  const report = (result: ResolutionResult, error?: Error): void => {
    try {
      listener?.onResolution?.(result, error);
    } catch (err) {
      logger.warn('discovery listener threw on resolution', { upstream, source: description, error: toError(err).message });
    }
  };

  /** Resolves one host name to addresses of the configured family (A and/or AAAA in parallel). */
  const resolveAddresses = async (host: string): Promise<AddressOutcome> => {
    if (isIP(host)) return { kind: 'addresses', records: [{ address: host, ttl: Number.POSITIVE_INFINITY }] };
    const queries: Promise<AddressOutcome>[] = [];
    const ask = async (type: 'A' | 'AAAA'): Promise<AddressOutcome> => {
      try {
        const records = type === 'A' ? await resolver.resolve4(host, { ttl: true }) : await resolver.resolve6(host, { ttl: true });
        return records.length > 0 ? { kind: 'addresses', records } : { kind: 'negative', result: 'nodata' };
      } catch (err) {
        const result = classifyDnsError(err);
        if (result === 'nxdomain' || result === 'nodata') return { kind: 'negative', result };
        const error = new DnsError(`${type} query for ${host} failed: ${toError(err).message}`, err, upstream);
        return { kind: 'failure', result, error };
      }
    };
    if (family !== 'ipv6') queries.push(ask('A'));
    if (family !== 'ipv4') queries.push(ask('AAAA'));
    const outcomes = await Promise.all(queries);
    // Family "any": one family failing (SERVFAIL, timeout) while the other answered is a failure of the whole
    // attempt. Applying the half we got would remove every endpoint of the other family on a transient
    // resolver hiccup and add them back a refresh later: connection churn and ring reshuffles for nothing.
    // Keeping the last known good set is what Envoy does on resolution failure.
    const failure = outcomes.find((o) => o.kind === 'failure');
    if (failure) return failure;
    const records = outcomes.flatMap((o) => (o.kind === 'addresses' ? o.records : []));
    // NODATA for A with data for AAAA (or the reverse) is a plain success. A NXDOMAIN next to data means the
    // name was created between the two queries: the data is the newer truth, and the next refresh confirms it.
    if (records.length > 0) return { kind: 'addresses', records };
    const nxdomain = outcomes.some((o) => o.kind === 'negative' && o.result === 'nxdomain');
    return { kind: 'negative', result: nxdomain ? 'nxdomain' : 'nodata' };
  };

  const familyLabel = family === 'ipv4' ? 'A' : family === 'ipv6' ? 'AAAA' : 'A/AAAA';

  const resolveDns = async (name: string, port: number): Promise<Outcome> => {
    const outcome = await resolveAddresses(name);
    if (outcome.kind === 'failure') return outcome;
    if (outcome.kind === 'negative') {
      const reason =
        outcome.result === 'nxdomain'
          ? `${name} does not exist (NXDOMAIN): no Service of that name, or not a fully qualified name`
          : `${name} has no ${familyLabel} records (NODATA): the Service has no ready pods`;
      return { kind: 'does-not-exist', result: outcome.result, reason };
    }
    const endpoints = new Map<string, EndpointAddress>();
    let minTtl = Number.POSITIVE_INFINITY;
    for (const r of outcome.records) {
      const endpoint = createEndpointAddress(r.address, port);
      endpoints.set(endpoint.key, endpoint);
      minTtl = Math.min(minTtl, r.ttl);
    }
    return { kind: 'endpoints', endpoints, minTtlSeconds: Number.isFinite(minTtl) ? minTtl : null };
  };

  const resolveSrvTarget = async (name: string): Promise<Outcome> => {
    let records;
    try {
      records = await resolver.resolveSrv(name);
    } catch (err) {
      const result = classifyDnsError(err);
      if (result === 'nxdomain') return { kind: 'does-not-exist', result, reason: `${name} does not exist (NXDOMAIN): no such SRV name` };
      if (result === 'nodata') return { kind: 'does-not-exist', result, reason: `${name} has no SRV records (NODATA)` };
      return { kind: 'failure', result, error: new DnsError(`SRV query for ${name} failed: ${toError(err).message}`, err, upstream) };
    }
    // RFC 2782: a target of "." means "decidedly not available here". Clients must use the lowest priority
    // value first; we have no failover between priorities, so only the lowest-priority group is used
    // (Kubernetes publishes every pod at priority 0, so this only matters outside Kubernetes).
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    const lowest = Math.min(...usable.map((r) => r.priority));
    const chosen = usable.filter((r) => r.priority === lowest);
    const targets = [...new Set(chosen.map((r) => r.name))];
    const resolved = await Promise.all(targets.map(async (t) => [t, await resolveAddresses(t)] as const));
    const failure = resolved.find(([, o]) => o.kind === 'failure');
    // One target failing transiently fails the whole attempt, for the same reason as family "any" above.
    if (failure) return failure[1] as Outcome;
    const byTarget = new Map(resolved);
    const endpoints = new Map<string, EndpointAddress>();
    let minTtl = Number.POSITIVE_INFINITY;
    for (const r of chosen) {
      const o = byTarget.get(r.name);
      if (!o || o.kind !== 'addresses') {
        logger.debug('SRV target has no addresses', { upstream, source: description, target: r.name });
        continue;
      }
      // RFC 2782 weight 0 means "very rarely chosen"; our balancers need weights >= 1.
      const weight = Math.max(1, r.weight);
      for (const a of o.records) {
        const endpoint = createEndpointAddress(a.address, r.port, weight);
        const existing = endpoints.get(endpoint.key);
        // Two SRV records naming the same address and port: they add up, as two entries would in a weighted pick.
        endpoints.set(endpoint.key, existing ? createEndpointAddress(a.address, r.port, existing.weight + weight) : endpoint);
        minTtl = Math.min(minTtl, a.ttl);
      }
    }
    if (endpoints.size === 0) {
      return { kind: 'does-not-exist', result: 'nodata', reason: `${name} has SRV records but none of their targets has ${familyLabel} records` };
    }
    // Node's resolveSrv does not expose the SRV TTL, so with respectTtl only the address TTLs bound the refresh.
    return { kind: 'endpoints', endpoints, minTtlSeconds: Number.isFinite(minTtl) ? minTtl : null };
  };

  const apply = (outcome: Outcome): void => {
    if (outcome.kind === 'failure') return;
    if (outcome.kind === 'does-not-exist') {
      if (state !== 'does-not-exist') {
        state = 'does-not-exist';
        current = new Map();
        deliver({ type: 'does-not-exist', reason: `upstream "${upstream}" (${description}): ${outcome.reason}` });
      }
      return;
    }
    const next = outcome.endpoints;
    if (state !== 'endpoints') {
      // First data, or data again after "does not exist": the consumer holds nothing, so hand it the whole set.
      state = 'endpoints';
      current = next;
      deliver({ type: 'reset', endpoints: [...next.values()].sort((a, b) => (a.key < b.key ? -1 : 1)) });
      return;
    }
    const { added, removed } = diffEndpointSets(current, next);
    current = next;
    // Adds before removes: a consumer applying them one by one never sees an empty set during a full replacement.
    if (added.length > 0) deliver({ type: 'add', endpoints: added });
    if (removed.length > 0) deliver({ type: 'remove', keys: removed });
  };

  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = setTimeout(runOnce, delayMs);
    // The proxy's servers keep the process alive; discovery alone should not.
    timer.unref();
  };

  const runOnce = async (): Promise<void> => {
    timer = null;
    let outcome: Outcome;
    try {
      outcome = target.kind === 'dns' ? await resolveDns(target.name, target.port) : await resolveSrvTarget(target.name);
    } catch (err) {
      outcome = { kind: 'failure', result: 'error', error: new DnsError(`resolving ${description} failed: ${toError(err).message}`, err, upstream) };
    }
    // stop() cancels pending queries; their rejections (ECANCELLED) land here and must not surface.
    if (stopped) return;
    apply(outcome);
    if (outcome.kind === 'failure') {
      consecutiveFailures++;
      const delay = backoffDelayMs(consecutiveFailures, refreshMs, jitter, Math.random());
      const fields = { upstream, source: description, result: outcome.result, error: outcome.error.message, retryInMs: delay, failures: consecutiveFailures };
      if (consecutiveFailures === 1) logger.warn('DNS resolution failed; keeping the last known endpoints', fields);
      else logger.debug('DNS resolution still failing', fields);
      report(outcome.result, outcome.error);
      schedule(delay);
      return;
    }
    if (consecutiveFailures > 0) logger.debug('DNS resolution recovered', { upstream, source: description, failures: consecutiveFailures });
    consecutiveFailures = 0;
    if (outcome.kind === 'does-not-exist') {
      report(outcome.result);
      // The negative-caching TTL (SOA minimum) is not exposed by c-ares through Node: poll at the normal rate.
      schedule(successDelayMs({ refreshMs, respectTtl: false, minTtlSeconds: null, jitter, random: Math.random() }));
      return;
    }
    report('success');
    schedule(successDelayMs({ refreshMs, respectTtl, minTtlSeconds: outcome.minTtlSeconds, jitter, random: Math.random() }));
  };

  return {
    description,
    start(l: DiscoveryListener) {
      if (listener) throw new Error(`${description}: discovery already started`);
      if (stopped) throw new Error(`${description}: discovery already stopped`);
      listener = l;
      // runOnce awaits the resolver before delivering anything, so the first update is asynchronous.
      void runOnce();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      resolver.cancel();
    },
  };
}
