// Properties of the command-line layer (./flags.ts, through loadConfig): a
// valid flag set parses the same in any order and either form (`--a=b`,
// `--a b`), and any unknown flag is reported by name, alone.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ConfigError, type ConfigProblem } from '../errors/errors.ts';
import type { HashSource, RingsideConfig } from './config.ts';
import { loadConfig } from './load-config.ts';
import { OPTIONS, type OptionSpec } from './options.ts';

/**
 * Valid values of each flag, chosen so that any combination is a valid
 * configuration: ring sizes always min <= max, --listen and --admin never
 * share a port. --lb is chosen apart, to agree with the hash sources.
 */
const SAMPLES: Readonly<Record<string, readonly string[]>> = {
  listen: ['127.0.0.1:0', '[::1]:15001', '127.0.0.1:15001'],
  upstream: ['static:127.0.0.1:9001,127.0.0.1:9002', 'dns:recs.default.svc.cluster.local.:8080', 'recs:80', 'srv:_grpc._tcp.recs.default.svc.cluster.local'],
  'upstream-protocol': ['auto', 'http1', 'h2c'],
  'slow-start': ['0', '30s', '2m'],
  'slow-start-min-weight': ['1', '10', '100'],
  'slow-start-aggression': ['1', '1.5', '4'],
  'rate-limit': ['100/s', '6000/m', '0.5/s'],
  'rate-limit-burst': ['1', '50'],
  'rate-limit-key': ['header:x-api-key', 'query:user', 'cookie:sid'],
  'rate-limit-max-keys': ['1', '10000'],
  'rate-limit-redis': ['127.0.0.1:6379', '[::1]:6380'],
  'rate-limit-redis-tls': ['true', 'false'],
  'rate-limit-redis-user': ['ringside'],
  'rate-limit-redis-password-file': ['/run/secrets/redis-password'],
  'rate-limit-redis-fail': ['open', 'closed'],
  // Never a --hash-cookie sample (that clash is a problem), and SameSite=None only comes with Secure.
  'session-cookie': ['rs_session', 'ringside-route'],
  'session-cookie-ttl': ['0', '1h'],
  'session-cookie-path': ['/', '/api'],
  'session-cookie-http-only': ['true', 'false'],
  'session-cookie-same-site': ['Strict', 'lax'],
  'session-cookie-secure': ['true', 'false'],
  'session-cookie-secret-file': ['/run/secrets/session-cookie'],
  'hash-header': ['x-user-id', 'X-Tenant', ':authority'],
  'hash-query': ['q', 'user'],
  'hash-cookie': ['sid', 'session_id'],
  'hash-source-ip': ['true', 'false'],
  'hash-fallback': ['least_request', 'round_robin', 'random'],
  'ring-mode': ['stable', 'envoy'],
  'ring-entries-per-endpoint': ['1', '100', '65536'],
  'min-ring-size': ['1', '16', '1024'],
  'max-ring-size': ['4096', '8388608'],
  'hash-balance-factor': ['1', '1.25', '2.0'],
  admin: ['127.0.0.1:0', '0.0.0.0:15090', '127.0.0.1:9901'],
  'connect-timeout': ['250ms', '5s', '1m'],
  'request-timeout': ['0', '1.5s'],
  'log-level': ['debug', 'info', 'warn', 'error'],
  retries: ['0', '2', '10'],
  'retry-buffer': ['65536', '64KiB', '1MiB'],
  'idle-timeout': ['30s', '2m'],
  'h2-keepalive-interval': ['0', '30s'],
  'h2-ping-timeout': ['5s', '20s'],
  'eject-consecutive-failures': ['0', '5'],
  'eject-base-time': ['1s', '30s'],
  'eject-max-time': ['5m'],
  'max-ejection-percent': ['0', '50', '100'],
  engine: ['lean', 'compat'],
  'drain-timeout': ['0', '20s'],
  'max-tunnels': ['1', '10000'],
  'tunnel-idle-timeout': ['0', '90s', '1h'],
  'h2-idle-timeout': ['0', '90s', '5m'],
  'dns-refresh': ['250ms', '5s'],
  'dns-respect-ttl': ['true', 'false'],
  'dns-family': ['any', 'ipv4', 'ipv6'],
  'dns-server': ['127.0.0.1:5353', '[::1]:53'],
};
/** Not generated: --config needs a file, --help and --version end the parse, --lb follows the hash sources. */
const NOT_GENERATED = new Set(['config', 'help', 'version', 'lb']);

const single = OPTIONS.filter((o) => !NOT_GENERATED.has(o.name) && o.scope !== 'hash');
const hashOptions = OPTIONS.filter((o) => o.scope === 'hash');

interface Entry {
  readonly spec: OptionSpec;
  readonly value: string;
  /** `--a b` (or a bare `--a` for a boolean flag set to true) instead of `--a=b`. */
  readonly separate: boolean;
}

function canonical(entry: Entry): string[] {
  return [`--${entry.spec.name}=${entry.value}`];
}

function written(entry: Entry): string[] {
  if (!entry.separate) return canonical(entry);
  if (entry.spec.kind === 'boolean') return entry.value === 'true' ? [`--${entry.spec.name}`] : canonical(entry);
  return [`--${entry.spec.name}`, entry.value];
}

function entry(spec: OptionSpec): fc.Arbitrary<Entry> {
  return fc.record({ spec: fc.constant(spec), value: fc.constantFrom(...SAMPLES[spec.name]), separate: fc.boolean() });
}

/** A valid flag set: each single option at most once (--upstream always), hash sources in a list of their own. */
const flagSet = fc
  .record({
    singles: fc.record(Object.fromEntries(single.map((o) => [o.name, entry(o)])), { requiredKeys: ['upstream'] }),
    hash: fc.array(fc.oneof(...hashOptions.map(entry)), { maxLength: 4 }),
    lb: fc.option(fc.constantFrom('round_robin', 'random', 'least_request', 'ring_hash'), { nil: undefined }),
    lbSeparate: fc.boolean(),
  })
  .map(({ singles, hash, lb, lbSeparate }) => {
    const sources = hash.filter((e) => !(e.spec.name === 'hash-source-ip' && e.value === 'false'));
    // ring_hash needs a hash source; the others refuse one.
    const lbValue = lb === undefined ? undefined : sources.length > 0 ? 'ring_hash' : lb === 'ring_hash' ? 'random' : lb;
    const lbEntry: Entry[] = lbValue === undefined ? [] : [{ spec: OPTIONS.find((o) => o.name === 'lb')!, value: lbValue, separate: lbSeparate }];
    // The single options in table order, then the hash sources: the canonical order.
    // The rest of the rate-limit options need --rate-limit (a problem without it), so they come only with it.
    const withoutRate = singles['rate-limit'] === undefined;
    // Likewise the session cookie's attributes and secret need --session-cookie.
    const withoutSession = singles['session-cookie'] === undefined;
    const ordered: Entry[] = [
      ...OPTIONS.flatMap((o) => {
        const e: Entry | undefined = singles[o.name];
        return e === undefined || (withoutRate && o.name.startsWith('rate-limit-')) || (withoutSession && o.name.startsWith('session-cookie-')) ? [] : [e];
      }),
      ...lbEntry,
    ];
    return { singles: ordered, hash, sources };
  })
  .chain((set) => {
    const all = [...set.singles, ...set.hash];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }).map((shuffled) => {
      // Hash sources combine in command-line order, so the shuffle keeps theirs: refill their slots in order.
      const hashQueue = [...set.hash];
      const order = shuffled.map((e) => (e.spec.scope === 'hash' ? hashQueue.shift()! : e));
      return { ...set, order };
    });
  });

/** What a hash flag adds to hashOn (header names are stored lower-case). */
function hashSource({ spec, value }: Entry): HashSource {
  if (spec.name === 'hash-header') return { type: 'header', name: value.toLowerCase(), terminal: false };
  if (spec.name === 'hash-query') return { type: 'query', name: value, terminal: false };
  if (spec.name === 'hash-cookie') return { type: 'cookie', name: value, terminal: false };
  return { type: 'source_ip', terminal: false };
}

/** What every file reads as: a session cookie secret must be at least 16 bytes. */
const SECRET = 'a-secret-of-32-bytes-for-tests!!';

function parse(argv: string[]): RingsideConfig {
  const result = loadConfig({ argv, env: {}, readFile: () => SECRET }, '1.0.0');
  if (result.kind !== 'config') throw new Error(`expected a config, got ${result.kind}`);
  return result.config;
}

function problems(argv: string[]): ConfigProblem[] {
  try {
    loadConfig({ argv, env: {}, readFile: () => '' }, '1.0.0');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)}`);
}

describe('flag parsing properties', () => {
  test('every flag has sample values here (a new option needs some, so that the properties cover it)', () => {
    const missing = OPTIONS.filter((o) => !NOT_GENERATED.has(o.name) && SAMPLES[o.name] === undefined).map((o) => o.name);
    expect(missing).toEqual([]);
  });

  test('a valid flag set in any order and form parses like its canonical form', () => {
    fc.assert(
      fc.property(flagSet, ({ singles, hash, sources, order }) => {
        const canonicalArgv = [...singles, ...hash].flatMap(canonical);
        const argv = order.flatMap(written);
        const expected = parse(canonicalArgv);
        expect(parse(argv)).toEqual(expected);
        // Every repeated hash flag kept, in command-line order, none merged or dropped.
        expect(expected.upstreams[0].hashOn).toEqual(sources.map(hashSource));
      }),
      { numRuns: 500 },
    );
  });

  const known = new Set(OPTIONS.map((o) => o.name));
  const unknownName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((name) => !known.has(name));
  const valid = [['--upstream', 'recs:80'], ['--lb=random'], ['--hash-fallback', 'random'], ['--dns-respect-ttl'], ['--listen', '127.0.0.1:0']];

  test('any unknown flag, in any form and place, is one problem naming it (with a suggestion only of a real flag)', () => {
    fc.assert(
      fc.property(
        unknownName,
        fc.constantFrom('bare', 'inline', 'separate'),
        fc.constantFrom('x', 'ring_hash', '5s', '127.0.0.1:0'),
        fc.nat(valid.length),
        (name, form, value, at) => {
          const flag = form === 'bare' ? [`--${name}`] : form === 'inline' ? [`--${name}=${value}`] : [`--${name}`, value];
          const argv = [...valid.slice(0, at), flag, ...valid.slice(at)].flat();
          const list = problems(argv);
          // The rest is valid, and a separate value goes with the unknown flag rather than being an unexpected argument.
          expect(list, JSON.stringify(argv)).toHaveLength(1);
          expect(list[0].key).toBe(`--${name}`);
          const m = /^unknown flag; (?:did you mean --([a-z0-9-]+)\?|expected a flag listed by --help)$/.exec(list[0].message);
          expect(m, list[0].message).not.toBeNull();
          if (m![1] !== undefined) expect(known.has(m![1])).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
