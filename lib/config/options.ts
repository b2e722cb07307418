// Every option ringside accepts, declared once: its flag, its RINGSIDE_* twin,
// its key in the config file, how its value is parsed, and its default. The
// loader (./load-config.ts), the --help text (./help.ts) and ENV_VARS all read
// this table, so an option cannot exist in one place and be missing in another.

import type { DnsFamily, Engine, FallbackPolicy, HostPort, LbPolicy, LogLevel, RateLimitKey, RingMode, SameSite, UpstreamProtocol } from './config.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { formatHostPort, HOST_PORT_FORM, parseHostPort } from './host-port.ts';
import { expected, parsedValue, type Parsed } from './parsed.ts';
import { formatSize, parseSize } from './size.ts';
import { parseUpstreamTarget, UPSTREAM_TARGET_FORM } from './upstream-target.ts';
import { parseRate, RATE_FORM } from './rate.ts';

/**
 * Where an option lives: `meta` options steer the loader itself, `global` ones
 * configure the process, `listener` ones the single listener, `upstream` ones
 * every upstream, and `hash` ones build the hash policy list (hashOn).
 */
export type OptionScope = 'meta' | 'global' | 'listener' | 'upstream' | 'hash';

export interface OptionSpec {
  /** The flag without its dashes, e.g. `lb`. */
  readonly name: string;
  readonly short?: string;
  /** `value` takes an argument, `boolean` takes none or `=true|false`, `switch` (help, version) takes none. */
  readonly kind: 'value' | 'boolean' | 'switch';
  /** May be given several times (hash sources). */
  readonly repeatable: boolean;
  readonly scope: OptionScope;
  /** The environment twin, or null for --help/--version. */
  readonly env: string | null;
  /** Key in the single-listener form of the config file, or null. */
  readonly fileKey: string | null;
  /** Key path inside `upstreams.NAME` (`dns.refresh`), or null. */
  readonly upstreamKey: string | null;
  /** What the value looks like in --help. */
  readonly placeholder: string;
  readonly description: string;
  /** The default as --help shows it. */
  readonly defaultText: string | null;
  /** Parses a value from a flag, an environment variable (strings) or the file (any YAML/JSON value). */
  readonly parse: (raw: unknown) => Parsed<unknown>;
}

export const DEFAULTS = {
  listen: { host: '127.0.0.1', port: 15001 } as HostPort,
  admin: { host: '0.0.0.0', port: 15090 } as HostPort,
  upstreamProtocol: 'auto' as UpstreamProtocol,
  hashFallback: 'least_request' as FallbackPolicy,
  ringMode: 'stable' as RingMode,
  ringEntriesPerEndpoint: 256,
  minRingSize: 1024,
  maxRingSize: 8_388_608,
  hashBalanceFactor: null as number | null,
  connectTimeoutMs: 5000,
  requestTimeoutMs: 0,
  logLevel: 'info' as LogLevel,
  dnsRefreshMs: 5000,
  dnsRespectTtl: false,
  dnsFamily: 'any' as DnsFamily,
  dnsServer: null as HostPort | null,
  retries: 2,
  retryBufferBytes: 64 * 1024,
  idleTimeoutMs: 30_000,
  h2KeepaliveIntervalMs: 0,
  h2PingTimeoutMs: 20_000,
  ejectConsecutiveFailures: 5,
  ejectBaseTimeMs: 30_000,
  ejectMaxTimeMs: 300_000,
  maxEjectionPercent: 50,
  drainTimeoutMs: 20_000,
  maxTunnels: 10_000,
  tunnelIdleTimeoutMs: 3_600_000,
  h2IdleTimeoutMs: 300_000,
  engine: 'lean' as Engine,
  slowStartMs: 0,
  slowStartMinWeightPercent: 10,
  slowStartAggression: 1,
  rateLimitMaxKeys: 10_000,
} as const;

/** Envoy bounds ring sizes to 8M entries (RingHashLbConfig.maximum_ring_size). */
export const MAX_RING_SIZE = 8_388_608;
export const DNS_REFRESH_MIN_MS = 250;

/** Strings from flags and env, and scalars from the file, as text; objects and lists are never text. */
function asText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw === 'boolean') return String(raw);
  return undefined;
}

function withText<T>(form: string, parse: (text: string) => Parsed<T>): (raw: unknown) => Parsed<T> {
  return (raw) => {
    const text = asText(raw);
    return text === undefined ? expected(form) : parse(text);
  };
}

function oneOf<T extends string>(values: readonly T[]): (raw: unknown) => Parsed<T> {
  const form = `one of ${values.join('|')}`;
  return withText(form, (text) => ((values as readonly string[]).includes(text) ? parsedValue(text as T) : expected(form)));
}

export function parseBoolean(raw: unknown): Parsed<boolean> {
  if (raw === true || raw === 'true' || raw === '1') return parsedValue(true);
  if (raw === false || raw === 'false' || raw === '0') return parsedValue(false);
  return expected('true or false');
}

function integerIn(min: number, max: number): (raw: unknown) => Parsed<number> {
  const form = `an integer from ${min} to ${max}`;
  return withText(form, (text) => {
    if (!/^\d+$/.test(text)) return expected(form);
    const n = Number(text);
    return n >= min && n <= max ? parsedValue(n) : expected(form);
  });
}

function durationOption(options: { allowZero?: boolean; minMs?: number } = {}): (raw: unknown) => Parsed<number> {
  // A YAML number (`timeout: 5`) is a bare number: reject it like the text "5".
  return withText('a duration like 250ms, 5s, 1m', (text) => parseDuration(text, options));
}

function sizeOption(max: number): (raw: unknown) => Parsed<number> {
  const form = `a size like 64KiB or 1MiB (at most ${formatSize(max)})`;
  return withText(form, (text) => {
    const size = parseSize(text);
    return size.ok && size.value > max ? expected(form) : size;
  });
}

function hostPortOption(minPort: 0 | 1, ipOnly = false): (raw: unknown) => Parsed<HostPort> {
  return (raw) => (typeof raw === 'string' ? parseHostPort(raw, { minPort, ipOnly }) : expected(`${HOST_PORT_FORM}, port ${minPort}..65535`));
}

function parseSlowStartAggression(raw: unknown): Parsed<number> {
  const form = 'a number > 0, like 1 (linear) or 2';
  const text = typeof raw === 'number' ? String(raw) : asText(raw);
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return expected(form);
  const n = Number(text);
  return n > 0 && n <= 100 ? parsedValue(n) : expected(form);
}

function parseHashBalanceFactor(raw: unknown): Parsed<number> {
  const form = 'a number >= 1.0, like 1.25';
  const text = asText(raw);
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return expected(form);
  const n = Number(text);
  return n >= 1 && Number.isFinite(n) ? parsedValue(n) : expected(form);
}

// RFC 9110 section 5.1: field names are tokens. A leading colon admits HTTP/2
// pseudo-headers (`:authority`, `:path`), which Envoy's header hash policy also accepts.
const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 6265 section 4.1.1: a cookie name is a token.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const QUERY_NAME = /^[^\s&=#]+$/;

export const HEADER_NAME_FORM = 'an HTTP header name like x-user-id';
export const COOKIE_NAME_FORM = 'a cookie name like session_id';
export const QUERY_NAME_FORM = 'a query parameter name like user (no spaces, &, = or #)';

export function parseHeaderName(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && HEADER_NAME.test(raw) ? parsedValue(raw.toLowerCase()) : expected(HEADER_NAME_FORM);
}
export function parseCookieName(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && COOKIE_NAME.test(raw) ? parsedValue(raw) : expected(COOKIE_NAME_FORM);
}
export function parseQueryName(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && QUERY_NAME.test(raw) ? parsedValue(raw) : expected(QUERY_NAME_FORM);
}

export const SAME_SITE_VALUES: readonly SameSite[] = ['Strict', 'Lax', 'None'];

/** Strict, Lax or None, in any case (RFC 6265bis section 5.6.7), stored as written there. */
function parseSameSite(raw: unknown): Parsed<SameSite> {
  const form = 'one of Strict|Lax|None';
  const text = asText(raw);
  const found = text === undefined ? undefined : SAME_SITE_VALUES.find((v) => v.toLowerCase() === text.toLowerCase());
  return found === undefined ? expected(form) : parsedValue(found);
}

// RFC 6265 section 4.1.1: path-value is any CHAR except CTLs or ";"; a cookie path starts with "/" (section 5.1.4).
const COOKIE_PATH = /^\/[\x20-\x3a\x3c-\x7e]*$/;

function parseCookiePath(raw: unknown): Parsed<string> {
  const form = 'a path starting with / (no ; or control characters)';
  return typeof raw === 'string' && COOKIE_PATH.test(raw) ? parsedValue(raw) : expected(form);
}

export const RATE_LIMIT_KEY_FORM = 'header:NAME, query:NAME or cookie:NAME (like header:x-api-key)';

/** `header:x-api-key`, `query:user`, `cookie:sid`: the name checked as the hash sources check theirs. */
function parseRateLimitKey(raw: unknown): Parsed<RateLimitKey> {
  if (typeof raw !== 'string') return expected(RATE_LIMIT_KEY_FORM);
  const colon = raw.indexOf(':');
  const type = raw.slice(0, colon);
  const parse = type === 'header' ? parseHeaderName : type === 'query' ? parseQueryName : type === 'cookie' ? parseCookieName : null;
  if (colon < 0 || parse === null) return expected(RATE_LIMIT_KEY_FORM);
  const name = parse(raw.slice(colon + 1));
  if (!name.ok) return expected(`${RATE_LIMIT_KEY_FORM}; after ${type}: ${name.expected}`);
  return parsedValue({ type: type as RateLimitKey['type'], name: name.value });
}

function envName(flag: string): string {
  return 'RINGSIDE_' + flag.toUpperCase().replaceAll('-', '_');
}

type OptionInput = Omit<OptionSpec, 'env' | 'repeatable' | 'kind' | 'fileKey' | 'upstreamKey' | 'defaultText'> &
  Partial<Pick<OptionSpec, 'repeatable' | 'kind' | 'fileKey' | 'upstreamKey' | 'defaultText'>> & { readonly noEnv?: boolean };

function option(input: OptionInput): OptionSpec {
  const { noEnv, ...rest } = input;
  return {
    kind: 'value',
    repeatable: false,
    fileKey: null,
    upstreamKey: null,
    defaultText: null,
    ...rest,
    env: noEnv ? null : envName(input.name),
  };
}

const noValue = (): Parsed<unknown> => parsedValue(true);

export const OPTIONS: readonly OptionSpec[] = [
  option({ name: 'config', scope: 'meta', placeholder: 'FILE', description: 'Read settings from a YAML or JSON file (flags and environment override it).', parse: withText('a file path', (t) => (t === '' ? expected('a file path') : parsedValue(t))) }),
  option({ name: 'help', short: 'h', kind: 'switch', scope: 'meta', noEnv: true, placeholder: '', description: 'Print this help and exit.', parse: noValue }),
  option({ name: 'version', short: 'v', kind: 'switch', scope: 'meta', noEnv: true, placeholder: '', description: 'Print the version and exit.', parse: noValue }),

  option({ name: 'listen', scope: 'listener', fileKey: 'listen', placeholder: 'HOST:PORT', description: 'Where the application sends its requests (HTTP/1.1 and h2c on one port). Port 0 picks a free port.', defaultText: formatHostPort(DEFAULTS.listen), parse: hostPortOption(0) }),
  option({ name: 'upstream', scope: 'listener', fileKey: 'upstream', placeholder: 'TARGET', description: `Where requests go: ${UPSTREAM_TARGET_FORM}. Required unless the config file declares listeners and upstreams.`, parse: withText(UPSTREAM_TARGET_FORM, parseUpstreamTarget) }),
  option({ name: 'upstream-protocol', scope: 'upstream', fileKey: 'upstreamProtocol', upstreamKey: 'protocol', placeholder: 'auto|http1|h2c', description: 'Protocol spoken to the upstream; auto forwards in the protocol the application used.', defaultText: DEFAULTS.upstreamProtocol, parse: oneOf<UpstreamProtocol>(['auto', 'http1', 'h2c']) }),

  option({ name: 'lb', scope: 'upstream', fileKey: 'lb', upstreamKey: 'lb', placeholder: 'round_robin|random|least_request|ring_hash', description: 'Load-balancing policy. ring_hash needs at least one hash source.', defaultText: 'ring_hash when a hash source is set, else least_request', parse: oneOf<LbPolicy>(['round_robin', 'random', 'least_request', 'ring_hash']) }),
  option({ name: 'hash-header', scope: 'hash', repeatable: true, placeholder: 'NAME', description: 'Hash on this request header (stored lower-case). Repeatable; sources combine in command-line order.', parse: parseHeaderName }),
  option({ name: 'hash-query', scope: 'hash', repeatable: true, placeholder: 'NAME', description: 'Hash on this query parameter. Repeatable.', parse: parseQueryName }),
  option({ name: 'hash-cookie', scope: 'hash', repeatable: true, placeholder: 'NAME', description: 'Hash on this cookie. Repeatable.', parse: parseCookieName }),
  option({ name: 'hash-source-ip', kind: 'boolean', scope: 'hash', placeholder: '', description: "Hash on the client's IP address.", defaultText: 'false', parse: parseBoolean }),
  option({ name: 'hash-fallback', scope: 'upstream', fileKey: 'hashFallback', upstreamKey: 'hashFallback', placeholder: 'least_request|round_robin|random', description: 'Policy for requests that yield no hash (no hash source matched).', defaultText: DEFAULTS.hashFallback, parse: oneOf<FallbackPolicy>(['least_request', 'round_robin', 'random']) }),
  option({ name: 'ring-mode', scope: 'upstream', fileKey: 'ringMode', upstreamKey: 'ringMode', placeholder: 'stable|envoy', description: "Ring construction: stable (fixed entries per endpoint, minimal remapping) or envoy (Envoy's min/max ring size scaling).", defaultText: DEFAULTS.ringMode, parse: oneOf<RingMode>(['stable', 'envoy']) }),
  option({ name: 'ring-entries-per-endpoint', scope: 'upstream', fileKey: 'ringEntriesPerEndpoint', upstreamKey: 'ringEntriesPerEndpoint', placeholder: 'N', description: 'Ring entries per endpoint of weight 1 in stable mode (1..65536).', defaultText: String(DEFAULTS.ringEntriesPerEndpoint), parse: integerIn(1, 65536) }),
  option({ name: 'min-ring-size', scope: 'upstream', fileKey: 'minRingSize', upstreamKey: 'minRingSize', placeholder: 'N', description: `Smallest ring in envoy mode (1..${MAX_RING_SIZE}, at most --max-ring-size).`, defaultText: String(DEFAULTS.minRingSize), parse: integerIn(1, MAX_RING_SIZE) }),
  option({ name: 'max-ring-size', scope: 'upstream', fileKey: 'maxRingSize', upstreamKey: 'maxRingSize', placeholder: 'N', description: `Largest ring (1..${MAX_RING_SIZE}, the bound Envoy enforces).`, defaultText: String(DEFAULTS.maxRingSize), parse: integerIn(1, MAX_RING_SIZE) }),
  option({ name: 'hash-balance-factor', scope: 'upstream', fileKey: 'hashBalanceFactor', upstreamKey: 'hashBalanceFactor', placeholder: 'F', description: 'Bounded load: no endpoint takes more than F times the average in-flight requests (a number >= 1.0, like 1.25).', defaultText: 'off', parse: parseHashBalanceFactor }),

  option({ name: 'admin', scope: 'global', fileKey: 'admin', placeholder: 'HOST:PORT', description: 'Admin server: /metrics, /healthz, /readyz, /status. Port 0 picks a free port.', defaultText: formatHostPort(DEFAULTS.admin), parse: hostPortOption(0) }),
  option({ name: 'connect-timeout', scope: 'upstream', fileKey: 'connectTimeout', upstreamKey: 'connectTimeout', placeholder: 'DURATION', description: 'Time allowed to connect to an endpoint.', defaultText: formatDuration(DEFAULTS.connectTimeoutMs), parse: durationOption() }),
  option({ name: 'request-timeout', scope: 'upstream', fileKey: 'requestTimeout', upstreamKey: 'requestTimeout', placeholder: 'DURATION', description: 'Time allowed from sending a request until the response head arrives (streams may then run on); 0 turns it off.', defaultText: '0 (off)', parse: durationOption({ allowZero: true }) }),
  option({ name: 'log-level', scope: 'global', fileKey: 'logLevel', placeholder: 'debug|info|warn|error', description: 'Least severe log level written.', defaultText: DEFAULTS.logLevel, parse: oneOf<LogLevel>(['debug', 'info', 'warn', 'error']) }),

  option({ name: 'retries', scope: 'upstream', fileKey: 'retries', upstreamKey: 'retries', placeholder: 'N', description: 'Retries on another endpoint for a request that never reached an upstream (or an idempotent one whose body fits the retry buffer); 0..10.', defaultText: String(DEFAULTS.retries), parse: integerIn(0, 10) }),
  option({ name: 'retry-buffer', scope: 'upstream', fileKey: 'retryBuffer', upstreamKey: 'retryBuffer', placeholder: 'SIZE', description: 'Request body bytes kept for replay on a retry (at most 1MiB); a larger body is not retried once sent.', defaultText: formatSize(DEFAULTS.retryBufferBytes), parse: sizeOption(1024 * 1024) }),
  option({ name: 'idle-timeout', scope: 'upstream', fileKey: 'idleTimeout', upstreamKey: 'idleTimeout', placeholder: 'DURATION', description: 'Close an upstream connection after it has been idle this long.', defaultText: formatDuration(DEFAULTS.idleTimeoutMs), parse: durationOption() }),
  option({ name: 'h2-keepalive-interval', scope: 'upstream', fileKey: 'h2KeepaliveInterval', upstreamKey: 'h2KeepaliveInterval', placeholder: 'DURATION', description: 'PING an h2c upstream connection that has open streams after this long without a frame from the upstream, to find dead peers (lean engine); 0 turns it off. gRPC servers refuse pings more often than every 5m by default.', defaultText: '0 (off)', parse: durationOption({ allowZero: true }) }),
  option({ name: 'h2-ping-timeout', scope: 'upstream', fileKey: 'h2PingTimeout', upstreamKey: 'h2PingTimeout', placeholder: 'DURATION', description: 'How long an h2c upstream may take to acknowledge a keepalive PING or our SETTINGS before its connection is closed and its streams fail (lean engine).', defaultText: formatDuration(DEFAULTS.h2PingTimeoutMs), parse: durationOption() }),
  option({ name: 'slow-start', scope: 'upstream', fileKey: 'slowStart', upstreamKey: 'slowStart.window', placeholder: 'DURATION', description: 'Ramp an endpoint that joins after the first answer, or returns from ejection, from --slow-start-min-weight of its weight up to all of it over this window (round robin, random, least request, and ring hash\'s fallback; ring hash keys keep full weights); 0 turns it off.', defaultText: '0 (off)', parse: durationOption({ allowZero: true }) }),
  option({ name: 'slow-start-min-weight', scope: 'upstream', fileKey: 'slowStartMinWeight', upstreamKey: 'slowStart.minWeight', placeholder: 'PERCENT', description: 'The share of its weight an endpoint starts slow start with (1..100).', defaultText: String(DEFAULTS.slowStartMinWeightPercent), parse: integerIn(1, 100) }),
  option({ name: 'slow-start-aggression', scope: 'upstream', fileKey: 'slowStartAggression', upstreamKey: 'slowStart.aggression', placeholder: 'A', description: "The ramp's shape, as Envoy's: weight x (elapsed / window)^(1/A); 1 is linear, larger rises faster at first.", defaultText: String(DEFAULTS.slowStartAggression), parse: parseSlowStartAggression }),
  option({ name: 'eject-consecutive-failures', scope: 'upstream', fileKey: 'ejectConsecutiveFailures', upstreamKey: 'ejectConsecutiveFailures', placeholder: 'N', description: 'Eject an endpoint after N consecutive failures (connect errors, 5xx, gRPC UNAVAILABLE); 0 turns ejection off.', defaultText: String(DEFAULTS.ejectConsecutiveFailures), parse: integerIn(0, 10_000) }),
  option({ name: 'eject-base-time', scope: 'upstream', fileKey: 'ejectBaseTime', upstreamKey: 'ejectBaseTime', placeholder: 'DURATION', description: 'An ejection lasts this long times the number of times the endpoint was ejected, capped by --eject-max-time.', defaultText: formatDuration(DEFAULTS.ejectBaseTimeMs), parse: durationOption() }),
  option({ name: 'eject-max-time', scope: 'upstream', fileKey: 'ejectMaxTime', upstreamKey: 'ejectMaxTime', placeholder: 'DURATION', description: 'Longest ejection.', defaultText: formatDuration(DEFAULTS.ejectMaxTimeMs), parse: durationOption() }),
  option({ name: 'max-ejection-percent', scope: 'upstream', fileKey: 'maxEjectionPercent', upstreamKey: 'maxEjectionPercent', placeholder: 'PERCENT', description: "Never eject more than this share of an upstream's endpoints at once (0..100).", defaultText: String(DEFAULTS.maxEjectionPercent), parse: integerIn(0, 100) }),
  option({ name: 'rate-limit', scope: 'upstream', fileKey: 'rateLimit', upstreamKey: 'rateLimit.rate', placeholder: 'RATE', description: "Admit at most this many requests to the upstream per second, minute or hour (100/s, 6000/m; a token bucket). A request over it gets 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED) and never reaches an endpoint; ringside's own retries take no token.", defaultText: 'off', parse: withText(RATE_FORM, parseRate) }),
  option({ name: 'rate-limit-burst', scope: 'upstream', fileKey: 'rateLimitBurst', upstreamKey: 'rateLimit.burst', placeholder: 'N', description: 'Requests the bucket admits at once after a quiet spell (1..1000000).', defaultText: "one second of --rate-limit, at least 1", parse: integerIn(1, 1_000_000) }),
  option({ name: 'rate-limit-key', scope: 'upstream', fileKey: 'rateLimitKey', upstreamKey: 'rateLimit.key', placeholder: 'header:NAME|query:NAME|cookie:NAME', description: 'A bucket per value of this request header, query parameter or cookie (read as the hash sources read theirs); requests without it share one bucket.', defaultText: 'one bucket per upstream', parse: parseRateLimitKey }),
  option({ name: 'rate-limit-max-keys', scope: 'upstream', fileKey: 'rateLimitMaxKeys', upstreamKey: 'rateLimit.maxKeys', placeholder: 'N', description: 'Key buckets kept per upstream; the least recently used goes first (1..1000000).', defaultText: String(DEFAULTS.rateLimitMaxKeys), parse: integerIn(1, 1_000_000) }),
  option({ name: 'rate-limit-redis', scope: 'global', fileKey: 'rateLimitRedis', placeholder: 'HOST:PORT', description: 'Share every --rate-limit among all sidecars using this Redis (tokens leased in small batches, off the request path).', defaultText: 'off (limits per process)', parse: hostPortOption(1) }),
  option({ name: 'rate-limit-redis-tls', kind: 'boolean', scope: 'global', fileKey: 'rateLimitRedisTls', placeholder: '', description: 'Speak TLS to Redis (the system CAs verify it).', defaultText: 'false', parse: parseBoolean }),
  option({ name: 'rate-limit-redis-user', scope: 'global', fileKey: 'rateLimitRedisUser', placeholder: 'NAME', description: 'Redis ACL user to authenticate as (with the password).', defaultText: 'the default user', parse: withText('a Redis user name (no spaces)', (t) => (/^\S+$/.test(t) ? parsedValue(t) : expected('a Redis user name (no spaces)'))) }),
  option({ name: 'rate-limit-redis-password-file', scope: 'global', fileKey: 'rateLimitRedisPasswordFile', placeholder: 'FILE', description: 'Read the Redis password from this file (a trailing newline is dropped). RINGSIDE_RATE_LIMIT_REDIS_PASSWORD gives it directly instead.', defaultText: 'none', parse: withText('a file path', (t) => (t === '' ? expected('a file path') : parsedValue(t))) }),
  option({ name: 'rate-limit-redis-fail', scope: 'global', fileKey: 'rateLimitRedisFail', placeholder: 'open|closed', description: 'When Redis cannot be reached: open admits requests (logged once, counted), closed refuses them with 429.', defaultText: 'open', parse: oneOf<'open' | 'closed'>(['open', 'closed']) }),
  option({ name: 'session-cookie', scope: 'upstream', fileKey: 'sessionCookie', upstreamKey: 'sessionCookie.name', placeholder: 'NAME', description: "Sticky sessions: answer a request without a valid cookie NAME with Set-Cookie naming the endpoint that served it, and send later requests carrying it to that endpoint while it is in the set and available (whatever --lb would pick); otherwise the policy picks and the cookie is issued again. Must differ from every --hash-cookie.", defaultText: 'off', parse: parseCookieName }),
  option({ name: 'session-cookie-ttl', scope: 'upstream', fileKey: 'sessionCookieTtl', upstreamKey: 'sessionCookie.ttl', placeholder: 'DURATION', description: 'Max-Age of the session cookie (whole seconds, rounded up); 0 sends none, so the client keeps it until it drops it.', defaultText: '0 (none)', parse: durationOption({ allowZero: true }) }),
  option({ name: 'session-cookie-path', scope: 'upstream', fileKey: 'sessionCookiePath', upstreamKey: 'sessionCookie.path', placeholder: 'PATH', description: 'Path attribute of the session cookie.', defaultText: '/', parse: parseCookiePath }),
  option({ name: 'session-cookie-http-only', kind: 'boolean', scope: 'upstream', fileKey: 'sessionCookieHttpOnly', upstreamKey: 'sessionCookie.httpOnly', placeholder: '', description: 'Mark the session cookie HttpOnly (hidden from browser scripts).', defaultText: 'true', parse: parseBoolean }),
  option({ name: 'session-cookie-same-site', scope: 'upstream', fileKey: 'sessionCookieSameSite', upstreamKey: 'sessionCookie.sameSite', placeholder: 'Strict|Lax|None', description: 'SameSite attribute of the session cookie, for browsers behind the application (None needs --session-cookie-secure).', defaultText: 'none sent', parse: parseSameSite }),
  option({ name: 'session-cookie-secure', kind: 'boolean', scope: 'upstream', fileKey: 'sessionCookieSecure', upstreamKey: 'sessionCookie.secure', placeholder: '', description: 'Mark the session cookie Secure (sent by browsers over HTTPS only).', defaultText: 'false', parse: parseBoolean }),
  option({ name: 'session-cookie-secret-file', scope: 'global', fileKey: 'sessionCookieSecretFile', placeholder: 'FILE', description: 'A secret shared by every sidecar (at least 16 bytes, e.g. a mounted Kubernetes Secret; a trailing newline is dropped): session cookies then carry a keyed MAC, and unsigned or forged ones are ignored.', defaultText: 'none (tokens are not signed)', parse: withText('a file path', (t) => (t === '' ? expected('a file path') : parsedValue(t))) }),
  option({ name: 'engine', scope: 'global', fileKey: 'engine', placeholder: 'lean|compat', description: 'lean frames HTTP itself on raw sockets: the HTTP/1.1 server side (about 3x less CPU per request) and the client of h2c upstreams (--upstream-protocol h2c, gRPC); compat is node:http + undici (node:http2 for h2c upstreams), the reference both are tested against.', defaultText: DEFAULTS.engine, parse: oneOf<Engine>(['lean', 'compat']) }),
  option({ name: 'drain-timeout', scope: 'global', fileKey: 'drainTimeout', placeholder: 'DURATION', description: 'On SIGTERM/SIGINT, how long in-flight requests may take to finish before the process exits.', defaultText: formatDuration(DEFAULTS.drainTimeoutMs), parse: durationOption({ allowZero: true }) }),
  option({ name: 'max-tunnels', scope: 'global', fileKey: 'maxTunnels', placeholder: 'N', description: 'Tunnels (WebSocket and other HTTP/1.1 Upgrade requests) open at once, handshakes included; the next handshake gets 503 (1..1000000).', defaultText: String(DEFAULTS.maxTunnels), parse: integerIn(1, 1_000_000) }),
  option({ name: 'h2-idle-timeout', scope: 'global', fileKey: 'h2IdleTimeout', placeholder: 'DURATION', description: 'Close an HTTP/2 client connection (h2c, gRPC) that has had no open stream for this long, with GOAWAY (lean engine); 0 turns it off.', defaultText: formatDuration(DEFAULTS.h2IdleTimeoutMs), parse: durationOption({ allowZero: true }) }),
  option({ name: 'tunnel-idle-timeout', scope: 'global', fileKey: 'tunnelIdleTimeout', placeholder: 'DURATION', description: 'Close a tunnel that carried no byte either way for this long (WebSocket pings count); 0 turns it off.', defaultText: formatDuration(DEFAULTS.tunnelIdleTimeoutMs), parse: durationOption({ allowZero: true }) }),

  option({ name: 'dns-refresh', scope: 'upstream', fileKey: 'dnsRefresh', upstreamKey: 'dns.refresh', placeholder: 'DURATION', description: `How often to re-resolve dns:/srv: targets (at least ${formatDuration(DNS_REFRESH_MIN_MS)}).`, defaultText: formatDuration(DEFAULTS.dnsRefreshMs), parse: durationOption({ minMs: DNS_REFRESH_MIN_MS }) }),
  option({ name: 'dns-respect-ttl', kind: 'boolean', scope: 'upstream', fileKey: 'dnsRespectTtl', upstreamKey: 'dns.respectTtl', placeholder: '', description: 'Re-resolve when the records expire, if sooner than --dns-refresh.', defaultText: String(DEFAULTS.dnsRespectTtl), parse: parseBoolean }),
  option({ name: 'dns-family', scope: 'upstream', fileKey: 'dnsFamily', upstreamKey: 'dns.family', placeholder: 'any|ipv4|ipv6', description: 'Which address records to ask for (A, AAAA or both).', defaultText: DEFAULTS.dnsFamily, parse: oneOf<DnsFamily>(['any', 'ipv4', 'ipv6']) }),
  option({ name: 'dns-server', scope: 'upstream', fileKey: 'dnsServer', upstreamKey: 'dns.server', placeholder: 'IP:PORT', description: 'Ask this DNS server instead of the system resolver.', defaultText: 'the system resolver', parse: hostPortOption(1, true) }),
];

export const OPTIONS_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.name, o]));

/** Every RINGSIDE_* variable ringside reads. */
export const ENV_VARS: readonly string[] = Object.freeze(OPTIONS.flatMap((o) => (o.env === null ? [] : [o.env])));
