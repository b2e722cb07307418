// Builds the RingsideConfig from the layers (flags > environment > file >
// defaults): the single-listener form, or listeners and upstreams from the
// file, with the checks that span options (ring_hash and its sources, ring
// sizes, colliding addresses).

import type {
  DnsFamily,
  Engine,
  FallbackPolicy,
  HostPort,
  LbPolicy,
  ListenerConfig,
  LogLevel,
  RateLimitConfig,
  RateLimitKey,
  RateLimitRedisConfig,
  Rate,
  RingMode,
  RingsideConfig,
  SameSite,
  SessionCookieConfig,
  UpstreamConfig,
  UpstreamProtocol,
  UpstreamTarget,
} from './config.ts';
import { isMapping, readFileSettings, unknownKey, type FileMapping } from './config-file.ts';
import { formatHostPort } from './host-port.ts';
import { parseGiven, type Given, type GivenHash, type Layer } from './layer.ts';
import { DEFAULTS, OPTIONS, OPTIONS_BY_NAME, type OptionSpec } from './options.ts';
import type { Problems } from './problems.ts';
import { suggestClosest } from './suggest.ts';

/** The file keys of the single-listener form (top level) and of one `upstreams.NAME` entry. */
const TOP_LEVEL_KEYS: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.fileKey !== null).map((o) => [o.fileKey as string, o]));
const UPSTREAM_KEYS: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.upstreamKey !== null).map((o) => [o.upstreamKey as string, o]));
const MULTI_LISTENER_KEYS = ['listeners', 'upstreams'];

/** The first layer that has the option: flags, then environment, then file. */
function pick(name: string, layers: readonly (Layer | undefined)[]): Given | undefined {
  for (const layer of layers) {
    const given = layer?.values.get(name);
    if (given !== undefined) return given;
  }
  return undefined;
}

function valueOr<T>(name: string, layers: readonly (Layer | undefined)[], fallback: T): T {
  const given = pick(name, layers);
  return given?.valid ? (given.value as T) : fallback;
}

/** What the Redis password is read from: the injected file reader and environment of loadConfig. */
export interface SecretSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

function buildGlobal(
  layers: readonly (Layer | undefined)[],
  secrets: SecretSources,
  problems: Problems,
): { logLevel: LogLevel; admin: HostPort; drainTimeoutMs: number; maxTunnels: number; tunnelIdleTimeoutMs: number; h2IdleTimeoutMs: number; engine: Engine; rateLimitRedis: RateLimitRedisConfig | undefined; sessionCookieSecret: string | undefined } {
  return {
    logLevel: valueOr<LogLevel>('log-level', layers, DEFAULTS.logLevel),
    admin: valueOr<HostPort>('admin', layers, DEFAULTS.admin),
    drainTimeoutMs: valueOr('drain-timeout', layers, DEFAULTS.drainTimeoutMs),
    maxTunnels: valueOr('max-tunnels', layers, DEFAULTS.maxTunnels),
    tunnelIdleTimeoutMs: valueOr('tunnel-idle-timeout', layers, DEFAULTS.tunnelIdleTimeoutMs),
    h2IdleTimeoutMs: valueOr('h2-idle-timeout', layers, DEFAULTS.h2IdleTimeoutMs),
    engine: valueOr<Engine>('engine', layers, DEFAULTS.engine),
    rateLimitRedis: buildRateLimitRedis(layers, secrets, problems),
    sessionCookieSecret: sessionCookieSecret(pick('session-cookie-secret-file', layers), secrets, problems),
  };
}

/** At least 128 bits, as RFC 2104 section 3 asks of an HMAC key (shorter keys are guessable). */
const MIN_SECRET_BYTES = 16;

/** The session cookies' MAC key from --session-cookie-secret-file (one trailing newline dropped); left out when not given. */
function sessionCookieSecret(given: Given | undefined, secrets: SecretSources, problems: Problems): string | undefined {
  if (given === undefined || !given.valid) return undefined;
  let text: string;
  try {
    text = secrets.readFile(String(given.value)).replace(/\r?\n$/, '');
  } catch (err) {
    problems.add(given.key, `cannot read ${JSON.stringify(given.value)} (${(err as Error).message}); expected a readable file holding the session cookie secret`);
    return undefined;
  }
  if (Buffer.byteLength(text) < MIN_SECRET_BYTES) {
    problems.add(given.key, `the secret in ${JSON.stringify(given.value)} has ${Buffer.byteLength(text)} bytes; expected at least ${MIN_SECRET_BYTES}`);
    return undefined;
  }
  return text;
}

/** A secret with no session cookie to sign is a mistake worth naming. */
function checkSessionCookieSecret(given: Given | undefined, upstreams: readonly UpstreamConfig[], problems: Problems): void {
  if (given?.valid && upstreams.length > 0 && upstreams.every((u) => u.sessionCookie == null)) {
    problems.add(given.key, 'no upstream issues a session cookie to sign; expected --session-cookie NAME (or sessionCookie per upstream in the config file) alongside it');
  }
}

const SESSION_COOKIE_ATTRIBUTES = ['session-cookie-ttl', 'session-cookie-path', 'session-cookie-http-only', 'session-cookie-same-site', 'session-cookie-secure'];

/**
 * An upstream's session cookie; its attributes mean nothing without a name,
 * and a name that is also a hash source would make ringside hash on its own
 * token (the cookie decides alone where a session goes).
 */
function buildSessionCookie(layers: readonly (Layer | undefined)[], hash: GivenHash | undefined, problems: Problems): SessionCookieConfig | undefined {
  const nameGiven = pick('session-cookie', layers);
  if (nameGiven === undefined) {
    for (const name of SESSION_COOKIE_ATTRIBUTES) {
      const given = pick(name, layers);
      if (given !== undefined) problems.add(given.key, 'applies only to a session cookie; expected --session-cookie NAME (or sessionCookie in the config file) alongside it');
    }
    return undefined;
  }
  if (!nameGiven.valid) return undefined;
  const name = nameGiven.value as string;
  if (hash?.sources.some((s) => s.type === 'cookie' && s.name === name)) {
    problems.add(nameGiven.key, `the cookie ${JSON.stringify(name)} is also a hash source (${hash.key}); expected a session cookie name that no --hash-cookie (hashOn cookie) uses`);
  }
  const sameSite = valueOr<SameSite | null>('session-cookie-same-site', layers, null);
  const secure = valueOr('session-cookie-secure', layers, false);
  if (sameSite === 'None' && !secure) {
    // RFC 6265bis section 5.6.7.1 (and every current browser): SameSite=None without Secure is refused.
    problems.add(pick('session-cookie-same-site', layers)!.key, 'SameSite=None is refused by browsers without Secure; expected --session-cookie-secure (sessionCookie.secure: true) alongside it, or Lax/Strict');
  }
  return {
    name,
    maxAgeSeconds: Math.ceil(valueOr('session-cookie-ttl', layers, 0) / 1000),
    path: valueOr('session-cookie-path', layers, '/'),
    httpOnly: valueOr('session-cookie-http-only', layers, true),
    sameSite,
    secure,
  };
}

/** The Redis of global rate limits; its password is read afterwards (./load-config.ts), from a file or the environment. */
function buildRateLimitRedis(layers: readonly (Layer | undefined)[], secrets: SecretSources, problems: Problems): RateLimitRedisConfig | undefined {
  const address = valueOr<HostPort | null>('rate-limit-redis', layers, null);
  // Left out (not null) when off, like every optional part of the config.
  if (address === null) return undefined;
  return {
    address,
    tls: valueOr('rate-limit-redis-tls', layers, false),
    user: valueOr<string | null>('rate-limit-redis-user', layers, null),
    password: redisPassword(pick('rate-limit-redis-password-file', layers), secrets, problems),
    fail: valueOr<'open' | 'closed'>('rate-limit-redis-fail', layers, 'open'),
  };
}

const PASSWORD_VARIABLE = 'RINGSIDE_RATE_LIMIT_REDIS_PASSWORD';

/** From --rate-limit-redis-password-file (one trailing newline dropped), else RINGSIDE_RATE_LIMIT_REDIS_PASSWORD, else none. */
function redisPassword(fileGiven: Given | undefined, secrets: SecretSources, problems: Problems): string | null {
  if (fileGiven !== undefined) {
    if (!fileGiven.valid) return null;
    try {
      return secrets.readFile(String(fileGiven.value)).replace(/\r?\n$/, '');
    } catch (err) {
      problems.add(fileGiven.key, `cannot read ${JSON.stringify(fileGiven.value)} (${(err as Error).message}); expected a readable file holding the Redis password`);
      return null;
    }
  }
  const fromEnv = secrets.env[PASSWORD_VARIABLE];
  return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
}

/** An upstream's rate limit; burst, key and max-keys mean nothing without a rate, so they alone are a problem. */
function buildRateLimit(layers: readonly (Layer | undefined)[], problems: Problems): RateLimitConfig | undefined {
  const rate = pick('rate-limit', layers);
  if (rate === undefined) {
    for (const name of ['rate-limit-burst', 'rate-limit-key', 'rate-limit-max-keys']) {
      const given = pick(name, layers);
      if (given !== undefined) problems.add(given.key, 'applies only to a rate limit; expected --rate-limit RATE (or rateLimit in the config file) alongside it');
    }
    return undefined;
  }
  if (!rate.valid) return undefined;
  const perSecond = (rate.value as Rate).perSecond;
  return {
    rate: rate.value as Rate,
    burst: valueOr('rate-limit-burst', layers, Math.max(1, Math.ceil(perSecond))),
    key: valueOr<RateLimitKey | null>('rate-limit-key', layers, null),
    maxKeys: valueOr('rate-limit-max-keys', layers, DEFAULTS.rateLimitMaxKeys),
  };
}

/** A shared Redis with no rate limit to share is a mistake worth naming. */
function checkRateLimitRedis(redisGiven: Given | undefined, upstreams: readonly UpstreamConfig[], problems: Problems): void {
  if (redisGiven?.valid && upstreams.length > 0 && upstreams.every((u) => u.rateLimit == null)) {
    problems.add(redisGiven.key, 'no upstream has a rate limit to share; expected --rate-limit RATE (or rateLimit per upstream in the config file) alongside it');
  }
}

export function buildSingleListener(flags: Layer, env: Layer, file: FileMapping | undefined, problems: Problems, secrets: SecretSources): RingsideConfig {
  const fileLayer = file === undefined ? undefined : readFileSettings(file, '', TOP_LEVEL_KEYS, MULTI_LISTENER_KEYS, problems);
  const layers = [flags, env, fileLayer];
  const upstreamGiven = pick('upstream', layers);
  let target: UpstreamTarget | undefined;
  if (upstreamGiven === undefined) {
    problems.add('--upstream', 'required (or RINGSIDE_UPSTREAM, or `upstream` / `listeners` and `upstreams` in the config file); expected static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT, NAME:PORT or srv:_PORTNAME._tcp.NAME');
  } else if (upstreamGiven.valid) {
    target = upstreamGiven.value as UpstreamTarget;
  }
  const listen = valueOr<HostPort>('listen', layers, DEFAULTS.listen);
  const upstream = buildUpstream('default', target, layers, problems);
  const global = buildGlobal(layers, secrets, problems);
  const listeners: ListenerConfig[] = [{ name: 'default', listen, upstream: 'default' }];
  checkAddresses(
    [
      { address: listen, key: pick('listen', layers)?.key ?? '--listen' },
      { address: global.admin, key: pick('admin', layers)?.key ?? '--admin' },
    ],
    problems,
  );
  checkRateLimitRedis(pick('rate-limit-redis', layers), upstream === undefined ? [] : [upstream], problems);
  checkSessionCookieSecret(pick('session-cookie-secret-file', layers), upstream === undefined ? [] : [upstream], problems);
  return { ...global, listeners, upstreams: upstream === undefined ? [] : [upstream] };
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const NAME_FORM = 'a name of letters, digits, -, _ and . (at most 63, starting and ending with a letter or digit)';

export function buildMultiListener(flags: Layer, env: Layer, file: FileMapping, problems: Problems, secrets: SecretSources): RingsideConfig {
  // The top level may still carry logLevel and admin; listener and upstream settings belong in listeners/upstreams.
  const globalKeys = new Map(OPTIONS.filter((o) => o.scope === 'global' || o.scope === 'meta').filter((o) => o.fileKey !== null).map((o) => [o.fileKey as string, o]));
  const topLevel = readFileSettings(file, '', globalKeys, [...MULTI_LISTENER_KEYS, ...TOP_LEVEL_KEYS.keys()], problems);
  for (const fileKey of [...TOP_LEVEL_KEYS.keys(), 'hashOn']) {
    if (file.has(fileKey) && !globalKeys.has(fileKey)) {
      problems.add(fileKey, 'only applies to the single-listener form; expected it inside each upstreams.NAME (or listeners[i]) when listeners/upstreams are used');
    }
  }
  for (const name of ['listen', 'upstream']) {
    for (const layer of [flags, env]) {
      const given = layer.values.get(name);
      if (given !== undefined) problems.add(given.key, 'cannot be combined with listeners/upstreams in the config file; expected the listener and upstream to be declared in the file');
    }
  }
  if (!file.has('listeners')) problems.add('listeners', 'missing; expected a list like [{listen: 127.0.0.1:15001, upstream: NAME}] alongside upstreams');
  if (!file.has('upstreams')) problems.add('upstreams', 'missing; expected a mapping like {NAME: {target: dns:NAME:PORT}} alongside listeners');

  const upstreams: UpstreamConfig[] = [];
  const upstreamNames = new Set<string>();
  const rawUpstreams = file.get('upstreams');
  if (file.has('upstreams')) {
    if (!isMapping(rawUpstreams) || Object.keys(rawUpstreams).length === 0) {
      problems.invalid('upstreams', rawUpstreams, 'a non-empty mapping like {NAME: {target: dns:NAME:PORT}}');
    } else {
      for (const [name, entry] of Object.entries(rawUpstreams)) {
        const path = `upstreams.${name}`;
        upstreamNames.add(name);
        if (!NAME.test(name)) problems.add(path, `invalid upstream name; expected ${NAME_FORM}`);
        if (!isMapping(entry)) {
          problems.invalid(path, entry, 'a mapping with at least target');
          continue;
        }
        const entryLayer = readFileSettings(new Map(Object.entries(entry)), path, UPSTREAM_KEYS, ['target'], problems);
        let target: UpstreamTarget | undefined;
        if (!Object.hasOwn(entry, 'target')) {
          problems.add(`${path}.target`, 'missing; expected static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT, NAME:PORT or srv:_PORTNAME._tcp.NAME');
        } else {
          const given = parseGiven(OPTIONS_BY_NAME.get('upstream') as OptionSpec, entry.target, `${path}.target`, problems);
          if (given.valid) target = given.value as UpstreamTarget;
        }
        const upstream = buildUpstream(name, target, [flags, env, entryLayer], problems);
        if (upstream !== undefined) upstreams.push(upstream);
      }
    }
  }

  const listeners: ListenerConfig[] = [];
  const addresses: { address: HostPort; key: string }[] = [];
  const rawListeners = file.get('listeners');
  if (file.has('listeners')) {
    if (!Array.isArray(rawListeners) || rawListeners.length === 0) {
      problems.invalid('listeners', rawListeners, 'a non-empty list like [{listen: 127.0.0.1:15001, upstream: NAME}]');
    } else {
      const namesSeen = new Map<string, string>();
      rawListeners.forEach((entry: unknown, index) => {
        const path = `listeners[${index}]`;
        if (!isMapping(entry)) {
          problems.invalid(path, entry, 'a mapping like {name: NAME, listen: HOST:PORT, upstream: NAME}');
          return;
        }
        for (const key of Object.keys(entry)) {
          if (!['name', 'listen', 'upstream'].includes(key)) unknownKey(`${path}.${key}`, key, ['name', 'listen', 'upstream'], entry[key], problems);
        }
        let ok = true;
        const listenSpec = OPTIONS_BY_NAME.get('listen') as OptionSpec;
        const listen = Object.hasOwn(entry, 'listen') ? parseGiven(listenSpec, entry.listen, `${path}.listen`, problems) : undefined;
        if (listen === undefined) problems.add(`${path}.listen`, 'missing; expected HOST:PORT (IPv6 as [::1]:15001), port 0..65535');
        if (listen?.valid) addresses.push({ address: listen.value as HostPort, key: `${path}.listen` });
        else ok = false;
        const upstream = entry.upstream;
        if (typeof upstream !== 'string') {
          problems.invalid(`${path}.upstream`, upstream, `the name of an entry in upstreams${upstreamNames.size > 0 ? ` (${[...upstreamNames].join(', ')})` : ''}`);
          ok = false;
        } else if (!upstreamNames.has(upstream) && isMapping(rawUpstreams)) {
          const suggestion = suggestClosest(upstream, [...upstreamNames]);
          problems.add(`${path}.upstream`, `no upstream named ${JSON.stringify(upstream)}; expected one of ${[...upstreamNames].join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
          ok = false;
        }
        let name = typeof upstream === 'string' ? upstream : '';
        if (Object.hasOwn(entry, 'name')) {
          if (typeof entry.name === 'string' && NAME.test(entry.name)) name = entry.name;
          else {
            problems.invalid(`${path}.name`, entry.name, NAME_FORM);
            ok = false;
          }
        }
        if (ok) {
          const earlier = namesSeen.get(name);
          if (earlier !== undefined) {
            problems.add(`${path}.name`, `duplicate listener name ${JSON.stringify(name)} (also ${earlier}); expected a unique name (it defaults to the upstream name)`);
            return;
          }
          namesSeen.set(name, path);
          listeners.push({ name, listen: listen!.value as HostPort, upstream: upstream as string });
        }
      });
    }
  }
  const global = buildGlobal([flags, env, topLevel], secrets, problems);
  addresses.push({ address: global.admin, key: pick('admin', [flags, env, topLevel])?.key ?? '--admin' });
  checkAddresses(addresses, problems);
  checkRateLimitRedis(pick('rate-limit-redis', [flags, env, topLevel]), upstreams, problems);
  checkSessionCookieSecret(pick('session-cookie-secret-file', [flags, env, topLevel]), upstreams, problems);
  return { ...global, listeners, upstreams };
}

function buildUpstream(name: string, target: UpstreamTarget | undefined, layers: readonly (Layer | undefined)[], problems: Problems): UpstreamConfig | undefined {
  let hash: GivenHash | undefined;
  for (const layer of layers) {
    if (layer?.hash !== undefined) {
      hash = layer.hash;
      break;
    }
  }
  const hashOn = hash?.sources ?? [];
  const lbGiven = pick('lb', layers);
  let lb: LbPolicy = hashOn.length > 0 || (hash !== undefined && !hash.valid) ? 'ring_hash' : 'least_request';
  if (lbGiven?.valid) {
    lb = lbGiven.value as LbPolicy;
    if (lb === 'ring_hash' && hash === undefined) {
      problems.add(lbGiven.key, 'ring_hash needs a hash source; expected at least one of --hash-header, --hash-query, --hash-cookie, --hash-source-ip (or hashOn in the config file), or another policy');
    } else if (lb !== 'ring_hash' && hashOn.length > 0) {
      problems.add(lbGiven.key, `hash sources (${hash!.key}) only apply to ring_hash; expected ring_hash, or no hash sources with ${lb}`);
    }
  }
  const minRing = pick('min-ring-size', layers);
  const maxRing = pick('max-ring-size', layers);
  const minRingSize = valueOr('min-ring-size', layers, DEFAULTS.minRingSize);
  const maxRingSize = valueOr('max-ring-size', layers, DEFAULTS.maxRingSize);
  if ((minRing === undefined || minRing.valid) && (maxRing === undefined || maxRing.valid) && minRingSize > maxRingSize) {
    const key = minRing?.key ?? maxRing!.key;
    problems.add(key, `minimum ring size ${minRingSize} is larger than the maximum ${maxRingSize}; expected min-ring-size <= max-ring-size`);
  }
  const rateLimit = buildRateLimit(layers, problems);
  const sessionCookie = buildSessionCookie(layers, hash, problems);
  if (target === undefined) return undefined;
  return {
    name,
    target,
    protocol: valueOr<UpstreamProtocol>('upstream-protocol', layers, DEFAULTS.upstreamProtocol),
    lb,
    hashOn: lb === 'ring_hash' ? hashOn : [],
    hashFallback: valueOr<FallbackPolicy>('hash-fallback', layers, DEFAULTS.hashFallback),
    ringMode: valueOr<RingMode>('ring-mode', layers, DEFAULTS.ringMode),
    ringEntriesPerEndpoint: valueOr('ring-entries-per-endpoint', layers, DEFAULTS.ringEntriesPerEndpoint),
    minRingSize,
    maxRingSize,
    hashBalanceFactor: valueOr<number | null>('hash-balance-factor', layers, DEFAULTS.hashBalanceFactor),
    connectTimeoutMs: valueOr('connect-timeout', layers, DEFAULTS.connectTimeoutMs),
    requestTimeoutMs: valueOr('request-timeout', layers, DEFAULTS.requestTimeoutMs),
    idleTimeoutMs: valueOr('idle-timeout', layers, DEFAULTS.idleTimeoutMs),
    h2KeepaliveIntervalMs: valueOr('h2-keepalive-interval', layers, DEFAULTS.h2KeepaliveIntervalMs),
    h2PingTimeoutMs: valueOr('h2-ping-timeout', layers, DEFAULTS.h2PingTimeoutMs),
    retries: valueOr('retries', layers, DEFAULTS.retries),
    retryBufferBytes: valueOr('retry-buffer', layers, DEFAULTS.retryBufferBytes),
    ejection: {
      consecutiveFailures: valueOr('eject-consecutive-failures', layers, DEFAULTS.ejectConsecutiveFailures),
      baseTimeMs: valueOr('eject-base-time', layers, DEFAULTS.ejectBaseTimeMs),
      maxTimeMs: valueOr('eject-max-time', layers, DEFAULTS.ejectMaxTimeMs),
      maxPercent: valueOr('max-ejection-percent', layers, DEFAULTS.maxEjectionPercent),
    },
    dns: {
      refreshMs: valueOr('dns-refresh', layers, DEFAULTS.dnsRefreshMs),
      respectTtl: valueOr('dns-respect-ttl', layers, DEFAULTS.dnsRespectTtl),
      family: valueOr<DnsFamily>('dns-family', layers, DEFAULTS.dnsFamily),
      server: valueOr<HostPort | null>('dns-server', layers, DEFAULTS.dnsServer),
    },
    slowStart: {
      windowMs: valueOr('slow-start', layers, DEFAULTS.slowStartMs),
      minWeightPercent: valueOr('slow-start-min-weight', layers, DEFAULTS.slowStartMinWeightPercent),
      aggression: valueOr('slow-start-aggression', layers, DEFAULTS.slowStartAggression),
    },
    rateLimit,
    sessionCookie,
  };
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/**
 * Two listeners (or a listener and the admin server) on the same port collide
 * when their hosts are equal or one is a wildcard (0.0.0.0 or ::) that covers
 * the other. Port 0 never collides: the kernel picks a free port each time.
 */
function checkAddresses(all: readonly { address: HostPort; key: string }[], problems: Problems): void {
  const bound: { address: HostPort; key: string }[] = [];
  for (const { address, key } of all) {
    if (address.port === 0) continue;
    const clash = bound.find(
      (b) => b.address.port === address.port && (b.address.host === address.host || WILDCARD_HOSTS.has(b.address.host) || WILDCARD_HOSTS.has(address.host)),
    );
    if (clash !== undefined) {
      problems.add(key, `${formatHostPort(address)} is already used by ${clash.key} (${formatHostPort(clash.address)}); expected a distinct address`);
    } else {
      bound.push({ address, key });
    }
  }
}
