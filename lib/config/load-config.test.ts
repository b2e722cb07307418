import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, ErrorCodes, type ConfigProblem } from '../errors/errors.ts';
import type { RingsideConfig, UpstreamConfig } from './config.ts';
import { ENV_VARS, loadConfig, type LoadResult } from './load-config.ts';
import { OPTIONS } from './options.ts';

const dir = mkdtempSync(join(tmpdir(), 'ringside-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeConfig(text: string, extension = 'yaml'): string {
  const path = join(dir, `config-${++fileCount}.${extension}`);
  writeFileSync(path, text);
  return path;
}

function load(argv: string[], env: Record<string, string | undefined> = {}): LoadResult {
  return loadConfig({ argv, env, readFile: (path) => readFileSync(path, 'utf8') }, '9.9.9');
}

function config(argv: string[], env: Record<string, string | undefined> = {}): RingsideConfig {
  const result = load(argv, env);
  if (result.kind !== 'config') throw new Error(`expected a config, got ${result.kind}`);
  return result.config;
}

function upstream(argv: string[], env: Record<string, string | undefined> = {}): UpstreamConfig {
  return config(argv, env).upstreams[0];
}

function problems(argv: string[], env: Record<string, string | undefined> = {}): ConfigProblem[] {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe(ErrorCodes.CONFIG);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

/** The one problem about `key`; fails when there is none. */
function problemAt(list: ConfigProblem[], key: string): string {
  const found = list.filter((p) => p.key === key);
  expect(found, `problems: ${JSON.stringify(list)}`).toHaveLength(1);
  return found[0].message;
}

const UP = ['--upstream', 'dns:recs.default.svc.cluster.local.:8080'];

describe('defaults', () => {
  test('a bare --upstream gives every documented default', () => {
    expect(config(UP)).toEqual({
      logLevel: 'info',
      drainTimeoutMs: 20_000,
      maxTunnels: 10_000,
      tunnelIdleTimeoutMs: 3_600_000,
      h2IdleTimeoutMs: 300_000,
      engine: 'lean',
      admin: { host: '0.0.0.0', port: 15090 },
      listeners: [{ name: 'default', listen: { host: '127.0.0.1', port: 15001 }, upstream: 'default' }],
      upstreams: [
        {
          name: 'default',
          target: { kind: 'dns', name: 'recs.default.svc.cluster.local.', port: 8080 },
          protocol: 'auto',
          lb: 'least_request',
          hashOn: [],
          hashFallback: 'least_request',
          ringMode: 'stable',
          ringEntriesPerEndpoint: 256,
          minRingSize: 1024,
          maxRingSize: 8_388_608,
          hashBalanceFactor: null,
          connectTimeoutMs: 5000,
          requestTimeoutMs: 0,
          idleTimeoutMs: 30_000,
          h2KeepaliveIntervalMs: 0,
          h2PingTimeoutMs: 20_000,
          retries: 2,
          retryBufferBytes: 65_536,
          ejection: { consecutiveFailures: 5, baseTimeMs: 30_000, maxTimeMs: 300_000, maxPercent: 50 },
          dns: { refreshMs: 5000, respectTtl: false, family: 'any', server: null },
          slowStart: { windowMs: 0, minWeightPercent: 10, aggression: 1 },
        },
      ],
    });
  });

  test('lb defaults to ring_hash as soon as a hash source is configured', () => {
    expect(upstream([...UP, '--hash-header', 'x-user-id']).lb).toBe('ring_hash');
    expect(upstream(UP, { RINGSIDE_HASH_COOKIE: 'sid' }).lb).toBe('ring_hash');
  });

  test('the config is deeply frozen', () => {
    const c = config([...UP, '--hash-header', 'x']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.upstreams[0].hashOn[0])).toBe(true);
    expect(Object.isFrozen(c.upstreams[0].dns)).toBe(true);
    expect(Object.isFrozen(c.listeners[0].listen)).toBe(true);
    expect(() => {
      (c.upstreams[0] as { lb: string }).lb = 'random';
    }).toThrow(TypeError);
  });
});

describe('flags', () => {
  test('every flag in both --flag value and --flag=value forms', () => {
    const all = [
      ['--listen', '[::1]:0'],
      ['--upstream', 'static:127.0.0.1:9001,127.0.0.1:9002'],
      ['--upstream-protocol', 'h2c'],
      ['--lb', 'ring_hash'],
      ['--hash-header', 'X-User-Id'],
      ['--hash-fallback', 'random'],
      ['--ring-mode', 'envoy'],
      ['--ring-entries-per-endpoint', '100'],
      ['--min-ring-size', '16'],
      ['--max-ring-size', '4096'],
      ['--hash-balance-factor', '1.25'],
      ['--admin', '127.0.0.1:0'],
      ['--connect-timeout', '250ms'],
      ['--request-timeout', '1.5s'],
      ['--h2-keepalive-interval', '30s'],
      ['--h2-ping-timeout', '5s'],
      ['--log-level', 'debug'],
      ['--engine', 'lean'],
      ['--dns-refresh', '1m'],
      ['--dns-family', 'ipv6'],
      ['--dns-server', '127.0.0.1:5353'],
      ['--slow-start', '45s'],
      ['--slow-start-min-weight', '25'],
      ['--slow-start-aggression', '1.5'],
    ];
    const expected: RingsideConfig = {
      logLevel: 'debug',
      drainTimeoutMs: 20_000,
      maxTunnels: 10_000,
      tunnelIdleTimeoutMs: 3_600_000,
      h2IdleTimeoutMs: 300_000,
      engine: 'lean',
      admin: { host: '127.0.0.1', port: 0 },
      listeners: [{ name: 'default', listen: { host: '::1', port: 0 }, upstream: 'default' }],
      upstreams: [
        {
          name: 'default',
          target: {
            kind: 'static',
            endpoints: [
              { key: '127.0.0.1:9001', host: '127.0.0.1', port: 9001, weight: 1 },
              { key: '127.0.0.1:9002', host: '127.0.0.1', port: 9002, weight: 1 },
            ],
          },
          protocol: 'h2c',
          lb: 'ring_hash',
          hashOn: [{ type: 'header', name: 'x-user-id', terminal: false }],
          hashFallback: 'random',
          ringMode: 'envoy',
          ringEntriesPerEndpoint: 100,
          minRingSize: 16,
          maxRingSize: 4096,
          hashBalanceFactor: 1.25,
          connectTimeoutMs: 250,
          requestTimeoutMs: 1500,
          idleTimeoutMs: 30_000,
          h2KeepaliveIntervalMs: 30_000,
          h2PingTimeoutMs: 5000,
          retries: 2,
          retryBufferBytes: 65_536,
          ejection: { consecutiveFailures: 5, baseTimeMs: 30_000, maxTimeMs: 300_000, maxPercent: 50 },
          dns: { refreshMs: 60_000, respectTtl: true, family: 'ipv6', server: { host: '127.0.0.1', port: 5353 } },
          slowStart: { windowMs: 45_000, minWeightPercent: 25, aggression: 1.5 },
        },
      ],
    };
    expect(config([...all.flat(), '--dns-respect-ttl'])).toEqual(expected);
    expect(config([...all.map(([f, v]) => `${f}=${v}`), '--dns-respect-ttl=true'])).toEqual(expected);
  });

  test('hash sources keep command-line order across kinds and are non-terminal', () => {
    const u = upstream([...UP, '--hash-query', 'q', '--hash-source-ip', '--hash-header', 'X-A', '--hash-cookie', 'sid', '--hash-header', 'x-b']);
    expect(u.hashOn).toEqual([
      { type: 'query', name: 'q', terminal: false },
      { type: 'source_ip', terminal: false },
      { type: 'header', name: 'x-a', terminal: false },
      { type: 'cookie', name: 'sid', terminal: false },
      { type: 'header', name: 'x-b', terminal: false },
    ]);
  });

  test('boolean flags take =true|false but never a separate value', () => {
    expect(upstream([...UP, '--dns-respect-ttl=false']).dns.respectTtl).toBe(false);
    expect(upstream([...UP, '--hash-source-ip=false']).hashOn).toEqual([]);
    // false adds no source, so it does not replace the environment's list.
    expect(upstream([...UP, '--hash-source-ip=false'], { RINGSIDE_HASH_HEADER: 'x' }).hashOn).toEqual([{ type: 'header', name: 'x', terminal: false }]);
    expect(problemAt(problems([...UP, '--dns-respect-ttl=yes']), '--dns-respect-ttl')).toContain('expected true or false');
    expect(problemAt(problems([...UP, '--dns-respect-ttl', 'true']), 'true')).toContain('unexpected argument');
  });

  test('--engine picks the HTTP/1.1 engine: flag, RINGSIDE_ENGINE twin, top-level file key', () => {
    expect(config(UP).engine).toBe('lean');
    expect(config([...UP, '--engine', 'compat']).engine).toBe('compat');
    expect(config(UP, { RINGSIDE_ENGINE: 'compat' }).engine).toBe('compat');
    expect(config([...UP, '--engine=lean'], { RINGSIDE_ENGINE: 'compat' }).engine).toBe('lean');
    const dir = mkdtempSync(join(tmpdir(), 'ringside-engine-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'engine: compat\nupstream: recs:80\n');
      expect(config(['--config', file]).engine).toBe('compat');
    } finally {
      rmSync(dir, { recursive: true });
    }
    expect(problemAt(problems([...UP, '--engine', 'fast']), '--engine')).toContain('one of lean|compat');
  });

  test('--request-timeout accepts 0 for off; --connect-timeout does not', () => {
    expect(upstream([...UP, '--request-timeout', '0']).requestTimeoutMs).toBe(0);
    expect(problemAt(problems([...UP, '--connect-timeout', '0']), '--connect-timeout')).toContain('expected a duration like 250ms, 5s, 1m');
  });

  test('--help and --version win over everything else, even other problems', () => {
    const help = load(['--bogus', '--help']);
    expect(help.kind).toBe('help');
    expect(load(['-h']).kind).toBe('help');
    expect(load(['--lb', 'nope', '-v'])).toEqual({ kind: 'version', text: 'ringside 9.9.9' });
    expect(load(['--version']).kind).toBe('version');
  });
});

describe('precedence: flags > environment > file > defaults', () => {
  test('for a single setting', () => {
    const file = writeConfig('upstream: dns:file.example:80\nlb: random\nconnectTimeout: 3s\nlogLevel: warn\n');
    const env = { RINGSIDE_CONFIG: file, RINGSIDE_LB: 'round_robin', RINGSIDE_CONNECT_TIMEOUT: '2s' };
    const c = config(['--connect-timeout', '1s'], env);
    expect(c.upstreams[0].connectTimeoutMs).toBe(1000); // flag
    expect(c.upstreams[0].lb).toBe('round_robin'); // env over file
    expect(c.logLevel).toBe('warn'); // file over default
    expect(c.upstreams[0].target).toEqual({ kind: 'dns', name: 'file.example', port: 80 }); // file
    expect(c.upstreams[0].dns.refreshMs).toBe(5000); // default
  });

  test('--config beats RINGSIDE_CONFIG', () => {
    const a = writeConfig('upstream: dns:a.example:80\n');
    const b = writeConfig('upstream: dns:b.example:80\n');
    expect(upstream(['--config', a], { RINGSIDE_CONFIG: b }).target).toMatchObject({ name: 'a.example' });
  });

  test('the hash source list is replaced whole: flags over env over file', () => {
    const file = writeConfig('upstream: recs:80\nhashOn: [{cookie: sid, terminal: true}]\n');
    expect(upstream(['--config', file]).hashOn).toEqual([{ type: 'cookie', name: 'sid', terminal: true }]);
    const env = { RINGSIDE_HASH_HEADER: 'x-user-id, X-Tenant', RINGSIDE_HASH_QUERY: 'u', RINGSIDE_HASH_SOURCE_IP: '1' };
    expect(upstream(['--config', file], env).hashOn).toEqual([
      { type: 'header', name: 'x-user-id', terminal: false },
      { type: 'header', name: 'x-tenant', terminal: false },
      { type: 'query', name: 'u', terminal: false },
      { type: 'source_ip', terminal: false },
    ]);
    expect(upstream(['--config', file, '--hash-query', 'q'], env).hashOn).toEqual([{ type: 'query', name: 'q', terminal: false }]);
  });

  test('environment booleans accept true|false|1|0; empty variables are unset', () => {
    expect(upstream(UP, { RINGSIDE_DNS_RESPECT_TTL: '1' }).dns.respectTtl).toBe(true);
    expect(upstream(UP, { RINGSIDE_DNS_RESPECT_TTL: '0' }).dns.respectTtl).toBe(false);
    expect(upstream(UP, { RINGSIDE_LB: '' }).lb).toBe('least_request');
    expect(problemAt(problems(UP, { RINGSIDE_DNS_RESPECT_TTL: 'yes' }), 'RINGSIDE_DNS_RESPECT_TTL')).toContain('expected true or false');
  });

  test('every flag has a RINGSIDE_* twin that sets the same thing', () => {
    expect(config([], { RINGSIDE_UPSTREAM: 'recs:80', RINGSIDE_LISTEN: '127.0.0.1:0', RINGSIDE_ADMIN: '127.0.0.1:0', RINGSIDE_LOG_LEVEL: 'error' })).toMatchObject({
      logLevel: 'error',
      admin: { port: 0 },
      listeners: [{ listen: { host: '127.0.0.1', port: 0 } }],
    });
    const u = upstream([], {
      RINGSIDE_UPSTREAM: 'recs:80',
      RINGSIDE_UPSTREAM_PROTOCOL: 'http1',
      RINGSIDE_HASH_COOKIE: 'sid',
      RINGSIDE_HASH_FALLBACK: 'round_robin',
      RINGSIDE_RING_MODE: 'envoy',
      RINGSIDE_RING_ENTRIES_PER_ENDPOINT: '7',
      RINGSIDE_MIN_RING_SIZE: '8',
      RINGSIDE_MAX_RING_SIZE: '9',
      RINGSIDE_HASH_BALANCE_FACTOR: '1',
      RINGSIDE_CONNECT_TIMEOUT: '3s',
      RINGSIDE_REQUEST_TIMEOUT: '4s',
      RINGSIDE_DNS_REFRESH: '250ms',
      RINGSIDE_DNS_RESPECT_TTL: 'true',
      RINGSIDE_DNS_FAMILY: 'ipv4',
      RINGSIDE_DNS_SERVER: '[::1]:53',
    });
    expect(u).toMatchObject({
      protocol: 'http1',
      lb: 'ring_hash',
      hashOn: [{ type: 'cookie', name: 'sid' }],
      hashFallback: 'round_robin',
      ringMode: 'envoy',
      ringEntriesPerEndpoint: 7,
      minRingSize: 8,
      maxRingSize: 9,
      hashBalanceFactor: 1,
      connectTimeoutMs: 3000,
      requestTimeoutMs: 4000,
      dns: { refreshMs: 250, respectTtl: true, family: 'ipv4', server: { host: '::1', port: 53 } },
    });
  });
});

describe('problems name their key and the expected form', () => {
  test.each([
    [['--lb', 'fastest'], '--lb', 'expected one of round_robin|random|least_request|ring_hash'],
    [['--listen', 'localhost'], '--listen', 'expected HOST:PORT'],
    [['--listen', '127.0.0.1:70000'], '--listen', 'port 0..65535'],
    [['--admin', '::1:9090'], '--admin', 'expected HOST:PORT (IPv6 as [::1]:15001)'],
    [['--connect-timeout', '5'], '--connect-timeout', 'expected a duration like 250ms, 5s, 1m'],
    [['--request-timeout', 'soon'], '--request-timeout', 'expected a duration like 250ms, 5s, 1m, or 0 for off'],
    [['--h2-keepalive-interval', '30'], '--h2-keepalive-interval', 'expected a duration like 250ms, 5s, 1m, or 0 for off'],
    [['--h2-ping-timeout', '0'], '--h2-ping-timeout', 'expected a duration like 250ms, 5s, 1m'],
    [['--dns-refresh', '100ms'], '--dns-refresh', 'at least 250ms'],
    [['--dns-family', 'v4'], '--dns-family', 'expected one of any|ipv4|ipv6'],
    [['--dns-server', 'dns.example:53'], '--dns-server', 'IP:PORT'],
    [['--upstream-protocol', 'h3'], '--upstream-protocol', 'expected one of auto|http1|h2c'],
    [['--log-level', 'trace'], '--log-level', 'expected one of debug|info|warn|error'],
    [['--hash-fallback', 'ring_hash'], '--hash-fallback', 'expected one of least_request|round_robin|random'],
    [['--slow-start', '30'], '--slow-start', 'a duration like'],
    [['--slow-start-min-weight', '0'], '--slow-start-min-weight', 'an integer from 1 to 100'],
    [['--slow-start-aggression', '0'], '--slow-start-aggression', 'a number > 0'],
    [['--rate-limit', '100'], '--rate-limit', 'expected a rate like 100/s, 6000/m or 10/h'],
    [['--rate-limit', '0/s'], '--rate-limit', 'expected a rate like 100/s'],
    [['--rate-limit', '10/s', '--rate-limit-burst', '0'], '--rate-limit-burst', 'expected an integer from 1 to 1000000'],
    [['--rate-limit-burst', '10'], '--rate-limit-burst', 'applies only to a rate limit; expected --rate-limit RATE'],
    [['--rate-limit', '10/s', '--rate-limit-key', 'x-api-key'], '--rate-limit-key', 'expected header:NAME, query:NAME or cookie:NAME'],
    [['--rate-limit', '10/s', '--rate-limit-key', 'source_ip:x'], '--rate-limit-key', 'expected header:NAME, query:NAME or cookie:NAME'],
    [['--rate-limit', '10/s', '--rate-limit-key', 'cookie:a;b'], '--rate-limit-key', 'after cookie: a cookie name'],
    [['--rate-limit', '10/s', '--rate-limit-max-keys', '0'], '--rate-limit-max-keys', 'expected an integer from 1 to 1000000'],
    [['--rate-limit', '10/s', '--rate-limit-redis', 'redis'], '--rate-limit-redis', 'expected HOST:PORT'],
    [['--rate-limit-redis', '127.0.0.1:6379'], '--rate-limit-redis', 'no upstream has a rate limit to share'],
    [['--rate-limit', '10/s', '--rate-limit-redis', '127.0.0.1:6379', '--rate-limit-redis-fail', 'shut'], '--rate-limit-redis-fail', 'expected one of open|closed'],
    [['--rate-limit', '10/s', '--rate-limit-redis', '127.0.0.1:6379', '--rate-limit-redis-password-file', join(tmpdir(), 'ringside-no-such-password')], '--rate-limit-redis-password-file', 'cannot read'],
    [['--ring-mode', 'fast'], '--ring-mode', 'expected one of stable|envoy'],
    [['--ring-entries-per-endpoint', '65537'], '--ring-entries-per-endpoint', 'expected an integer from 1 to 65536'],
    [['--min-ring-size', '0'], '--min-ring-size', 'expected an integer from 1 to 8388608'],
    [['--max-ring-size', '8388609'], '--max-ring-size', 'expected an integer from 1 to 8388608'],
    [['--hash-balance-factor', '0.9'], '--hash-balance-factor', 'expected a number >= 1.0'],
    [['--hash-header', 'bad header'], '--hash-header', 'expected an HTTP header name'],
    [['--hash-cookie', 'a;b'], '--hash-cookie', 'expected a cookie name'],
    [['--hash-query', 'a&b'], '--hash-query', 'expected a query parameter name'],
    [['--upstream', 'static:10.0.0.1:0'], '--upstream', 'port 1..65535'],
    [['--upstream', 'srv:recs'], '--upstream', 'srv:_PORTNAME._tcp.NAME'],
    [['--config', join(tmpdir(), 'ringside-no-such-file.yaml')], '--config', 'cannot read'],
  ])('%j', (argv, key, form) => {
    const withUpstream = argv[0] === '--upstream' ? argv : [...UP, ...argv];
    expect(problemAt(problems(withUpstream), key)).toContain(form);
  });

  test('the same problems name the RINGSIDE_* variable when they come from the environment', () => {
    const list = problems([], { RINGSIDE_UPSTREAM: 'recs', RINGSIDE_LB: 'fastest', RINGSIDE_CONNECT_TIMEOUT: '5' });
    expect(problemAt(list, 'RINGSIDE_UPSTREAM')).toContain('dns:NAME:PORT');
    expect(problemAt(list, 'RINGSIDE_LB')).toContain('expected one of round_robin|random|least_request|ring_hash');
    expect(problemAt(list, 'RINGSIDE_CONNECT_TIMEOUT')).toContain('expected a duration like 250ms, 5s, 1m');
  });

  test('--upstream is required', () => {
    expect(problemAt(problems([]), '--upstream')).toContain('required');
  });

  test('missing values name the flag and the form', () => {
    expect(problemAt(problems([...UP, '--listen']), '--listen')).toContain('missing value; expected HOST:PORT');
    expect(problemAt(problems([...UP, '--lb', '--log-level', 'info']), '--lb')).toContain('missing value; expected one of round_robin');
  });

  test('ring_hash needs a hash source, and hash sources need ring_hash', () => {
    expect(problemAt(problems([...UP, '--lb', 'ring_hash']), '--lb')).toContain('needs a hash source');
    expect(problemAt(problems([...UP, '--lb', 'random', '--hash-header', 'x']), '--lb')).toContain('only apply to ring_hash');
    expect(problemAt(problems(UP, { RINGSIDE_LB: 'ring_hash' }), 'RINGSIDE_LB')).toContain('needs a hash source');
  });

  test('min ring size must not exceed max ring size', () => {
    expect(problemAt(problems([...UP, '--min-ring-size', '2048', '--max-ring-size', '1024']), '--min-ring-size')).toContain('min-ring-size <= max-ring-size');
    expect(problemAt(problems([...UP, '--max-ring-size', '10']), '--max-ring-size')).toContain('larger than the maximum 10');
  });

  test('a flag given twice is a problem', () => {
    expect(problemAt(problems([...UP, '--lb', 'random', '--lb=round_robin']), '--lb')).toContain('more than once');
  });

  test('listener and admin addresses must not collide', () => {
    expect(problemAt(problems([...UP, '--listen', '127.0.0.1:15090']), '--admin')).toContain('already used by --listen');
    expect(config([...UP, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']).admin.port).toBe(0);
  });

  test('every problem is reported at once', () => {
    const list = problems(['--lb', 'fastest', '--listen', 'nowhere', '--lsiten', 'x', 'stray'], { RINGSIDE_CONNECT_TIMEOUT: '9', RINGSIDE_LBB: 'x' });
    expect(list.map((p) => p.key).sort()).toEqual(['--lb', '--listen', '--lsiten', '--upstream', 'RINGSIDE_CONNECT_TIMEOUT', 'RINGSIDE_LBB', 'stray'].sort());
  });

  test('the ConfigError message lists every key', () => {
    try {
      load(['--lb', 'fastest'], { RINGSIDE_ADMIN: 'x' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/--lb: got "fastest"; expected one of/);
      expect((err as Error).message).toMatch(/RINGSIDE_ADMIN: got "x"; expected HOST:PORT/);
      expect((err as Error).message).toMatch(/--upstream: required/);
    }
  });
});

describe('unknown names', () => {
  test('unknown flags, with a suggestion when close', () => {
    expect(problemAt(problems([...UP, '--hash-heder', 'x']), '--hash-heder')).toContain('did you mean --hash-header?');
    expect(problemAt(problems([...UP, '--frobnicate']), '--frobnicate')).toBe('unknown flag; expected a flag listed by --help');
  });

  test('unknown RINGSIDE_* variables, with a suggestion; other variables are ignored', () => {
    expect(problemAt(problems(UP, { RINGSIDE_LSTEN: '127.0.0.1:1' }), 'RINGSIDE_LSTEN')).toContain('did you mean RINGSIDE_LISTEN?');
    expect(config(UP, { PATH: '/bin', LB: 'x', RINGSIDE: 'x' }).upstreams).toHaveLength(1);
  });

  test("Kubernetes service-link variables for a Service named ringside are not settings", () => {
    const env = { RINGSIDE_SERVICE_HOST: '10.0.0.1', RINGSIDE_SERVICE_PORT: '15001', RINGSIDE_SERVICE_PORT_HTTP: '15001', RINGSIDE_PORT: 'tcp://10.0.0.1:15001', RINGSIDE_PORT_15001_TCP_ADDR: '10.0.0.1' };
    expect(config(UP, env).upstreams).toHaveLength(1);
  });

  test('unknown file keys, with a suggestion, at every level', () => {
    const file = writeConfig(
      [
        'upstream: recs:80',
        'lbb: random',
        'protocol: h2c',
        'hashOn: [{header: x, termnial: true}]',
      ].join('\n'),
    );
    const list = problems(['--config', file]);
    expect(problemAt(list, 'lbb')).toContain('did you mean lb?');
    expect(problemAt(list, 'protocol')).toContain('did you mean upstreamProtocol?');
    expect(problemAt(list, 'hashOn[0].termnial')).toContain('did you mean terminal?');
  });
});

describe('config file', () => {
  const multi = `
logLevel: debug
admin: 127.0.0.1:0
listeners:
  - {listen: 127.0.0.1:0, upstream: recs}
  - {name: catalog-port, listen: "[::1]:0", upstream: catalog}
upstreams:
  recs:
    target: dns:recs.default.svc.cluster.local.:8080
    protocol: h2c
    lb: ring_hash
    hashOn: [{query: query}, {header: X-User-Id, terminal: true}, {cookie: sid}, {sourceIp: true}]
    hashFallback: round_robin
    ringMode: envoy
    ringEntriesPerEndpoint: 128
    minRingSize: 512
    maxRingSize: 4096
    hashBalanceFactor: 1.25
    connectTimeout: 1s
    requestTimeout: 10s
    dns: {refresh: 30s, respectTtl: true, family: ipv4, server: 127.0.0.1:5353}
    slowStart: {window: 20s, minWeight: 5, aggression: 2}
  catalog: {target: "static:127.0.0.1:9001,127.0.0.1:9002"}
`;

  test('the multi-listener YAML form', () => {
    const c = config(['--config', writeConfig(multi)]);
    expect(c.logLevel).toBe('debug');
    expect(c.listeners).toEqual([
      { name: 'recs', listen: { host: '127.0.0.1', port: 0 }, upstream: 'recs' },
      { name: 'catalog-port', listen: { host: '::1', port: 0 }, upstream: 'catalog' },
    ]);
    expect(c.upstreams.map((u) => u.name)).toEqual(['recs', 'catalog']);
    expect(c.upstreams[0]).toEqual({
      name: 'recs',
      target: { kind: 'dns', name: 'recs.default.svc.cluster.local.', port: 8080 },
      protocol: 'h2c',
      lb: 'ring_hash',
      hashOn: [
        { type: 'query', name: 'query', terminal: false },
        { type: 'header', name: 'x-user-id', terminal: true },
        { type: 'cookie', name: 'sid', terminal: false },
        { type: 'source_ip', terminal: false },
      ],
      hashFallback: 'round_robin',
      ringMode: 'envoy',
      ringEntriesPerEndpoint: 128,
      minRingSize: 512,
      maxRingSize: 4096,
      hashBalanceFactor: 1.25,
      connectTimeoutMs: 1000,
      requestTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      h2KeepaliveIntervalMs: 0,
      h2PingTimeoutMs: 20_000,
      retries: 2,
      retryBufferBytes: 65_536,
      ejection: { consecutiveFailures: 5, baseTimeMs: 30_000, maxTimeMs: 300_000, maxPercent: 50 },
      dns: { refreshMs: 30_000, respectTtl: true, family: 'ipv4', server: { host: '127.0.0.1', port: 5353 } },
      slowStart: { windowMs: 20_000, minWeightPercent: 5, aggression: 2 },
    });
    expect(c.upstreams[1]).toMatchObject({ lb: 'least_request', hashOn: [], target: { kind: 'static', endpoints: [{ key: '127.0.0.1:9001' }, { key: '127.0.0.1:9002' }] } });
  });

  test('the same file as JSON', () => {
    const yamlConfig = config(['--config', writeConfig(multi)]);
    const json = JSON.stringify({
      logLevel: 'debug',
      admin: '127.0.0.1:0',
      listeners: [{ listen: '127.0.0.1:0', upstream: 'recs' }, { name: 'catalog-port', listen: '[::1]:0', upstream: 'catalog' }],
      upstreams: {
        recs: {
          target: 'dns:recs.default.svc.cluster.local.:8080',
          protocol: 'h2c',
          lb: 'ring_hash',
          hashOn: [{ query: 'query' }, { header: 'X-User-Id', terminal: true }, { cookie: 'sid' }, { sourceIp: true }],
          hashFallback: 'round_robin',
          ringMode: 'envoy',
          ringEntriesPerEndpoint: 128,
          minRingSize: 512,
          maxRingSize: 4096,
          hashBalanceFactor: 1.25,
          connectTimeout: '1s',
          requestTimeout: '10s',
          dns: { refresh: '30s', respectTtl: true, family: 'ipv4', server: '127.0.0.1:5353' },
          slowStart: { window: '20s', minWeight: 5, aggression: 2 },
        },
        catalog: { target: 'static:127.0.0.1:9001,127.0.0.1:9002' },
      },
    });
    expect(config(['--config', writeConfig(json, 'json')])).toEqual(yamlConfig);
  });

  test('upstream-level flags and env override that field in every file upstream', () => {
    const file = writeConfig(multi);
    const c = config(['--config', file, '--connect-timeout', '2s', '--hash-fallback', 'random'], { RINGSIDE_CONNECT_TIMEOUT: '3s', RINGSIDE_DNS_FAMILY: 'ipv6' });
    expect(c.upstreams.map((u) => [u.connectTimeoutMs, u.hashFallback, u.dns.family])).toEqual([
      [2000, 'random', 'ipv6'],
      [2000, 'random', 'ipv6'],
    ]);
  });

  test('--listen / --upstream / RINGSIDE_LISTEN with file listeners are errors naming them', () => {
    const file = writeConfig(multi);
    const list = problems(['--config', file, '--listen', '127.0.0.1:1', '--upstream', 'recs:80'], { RINGSIDE_LISTEN: '127.0.0.1:2' });
    expect(problemAt(list, '--listen')).toContain('cannot be combined with listeners/upstreams');
    expect(problemAt(list, '--upstream')).toContain('cannot be combined');
    expect(problemAt(list, 'RINGSIDE_LISTEN')).toContain('cannot be combined');
  });

  test('listener problems: unknown upstream, duplicate names and addresses, bad upstream fields', () => {
    const file = writeConfig(`
listeners:
  - {listen: 127.0.0.1:7001, upstream: recs}
  - {listen: 127.0.0.1:7002, upstream: recs}
  - {name: c, listen: 127.0.0.1:7001, upstream: catalgo}
  - {name: d, upstream: recs, port: 1}
upstreams:
  recs: {target: recs:80, lb: ring_hash, dns: {refresh: 5}}
  catalog: {protocol: h2c}
`);
    const list = problems(['--config', file]);
    expect(problemAt(list, 'listeners[1].name')).toContain('duplicate listener name "recs"');
    expect(problemAt(list, 'listeners[2].listen')).toContain('already used by listeners[0].listen');
    expect(problemAt(list, 'listeners[2].upstream')).toContain('did you mean catalog?');
    expect(problemAt(list, 'listeners[3].listen')).toContain('missing; expected HOST:PORT');
    expect(problemAt(list, 'listeners[3].port')).toContain('unknown key');
    expect(problemAt(list, 'upstreams.recs.lb')).toContain('needs a hash source');
    expect(problemAt(list, 'upstreams.recs.dns.refresh')).toContain('expected a duration like 250ms, 5s, 1m');
    expect(problemAt(list, 'upstreams.catalog.target')).toContain('missing');
  });

  test('single-listener file keys are errors next to listeners/upstreams', () => {
    const file = writeConfig('lb: random\nlisten: 127.0.0.1:1\nlisteners: [{listen: 127.0.0.1:0, upstream: a}]\nupstreams: {a: {target: a:80}}\n');
    const list = problems(['--config', file]);
    expect(problemAt(list, 'lb')).toContain('single-listener form');
    expect(problemAt(list, 'listen')).toContain('single-listener form');
  });

  test('listeners without upstreams (and the reverse) are errors', () => {
    expect(problemAt(problems(['--config', writeConfig('listeners: [{listen: 127.0.0.1:0, upstream: a}]\n')]), 'upstreams')).toContain('missing');
    expect(problemAt(problems(['--config', writeConfig('upstreams: {a: {target: a:80}}\n')]), 'listeners')).toContain('missing');
  });

  test('the single-listener form uses the flag names in camelCase', () => {
    const file = writeConfig('listen: 127.0.0.1:0\nupstream: srv:_grpc._tcp.recs.default\nupstreamProtocol: h2c\ndnsRefresh: 10s\ndnsRespectTtl: true\ndnsFamily: ipv6\ndnsServer: 127.0.0.1:53\nrequestTimeout: 0\nhashOn: [{header: x}]\n');
    const c = config(['--config', file]);
    expect(c.listeners[0]).toEqual({ name: 'default', listen: { host: '127.0.0.1', port: 0 }, upstream: 'default' });
    expect(c.upstreams[0]).toMatchObject({
      name: 'default',
      target: { kind: 'srv', name: '_grpc._tcp.recs.default' },
      protocol: 'h2c',
      lb: 'ring_hash',
      requestTimeoutMs: 0,
      dns: { refreshMs: 10_000, respectTtl: true, family: 'ipv6', server: { host: '127.0.0.1', port: 53 } },
    });
  });

  test('file values of the wrong type name their path and form', () => {
    const file = writeConfig('upstream: recs:80\nconnectTimeout: 5\nringEntriesPerEndpoint: many\nhashOn: {header: x}\ndnsRespectTtl: maybe\nlisten: [1]\n');
    const list = problems(['--config', file]);
    expect(problemAt(list, 'connectTimeout')).toContain('got 5; expected a duration like 250ms, 5s, 1m');
    expect(problemAt(list, 'ringEntriesPerEndpoint')).toContain('expected an integer from 1 to 65536');
    expect(problemAt(list, 'hashOn')).toContain('got a mapping; expected a list like');
    expect(problemAt(list, 'dnsRespectTtl')).toContain('expected true or false');
    expect(problemAt(list, 'listen')).toContain('got a list; expected HOST:PORT');
  });

  test('hashOn entries need exactly one source', () => {
    const file = writeConfig('upstream: recs:80\nhashOn: [{}, {header: a, query: b}, {sourceIp: false}, {header: x, terminal: "yes"}]\n');
    const list = problems(['--config', file]);
    expect(problemAt(list, 'hashOn[0]')).toContain('expected exactly one of header, query, cookie, sourceIp');
    expect(problemAt(list, 'hashOn[1]')).toContain('header and query together');
    expect(problemAt(list, 'hashOn[2].sourceIp')).toContain('expected true');
    expect(problemAt(list, 'hashOn[3].terminal')).toContain('expected true or false');
  });

  test('a comma inside a YAML flow mapping gets a hint', () => {
    const file = writeConfig('listeners: [{listen: 127.0.0.1:0, upstream: c}]\nupstreams:\n  c: {target: static:127.0.0.1:9001,127.0.0.1:9002}\n');
    expect(problemAt(problems(['--config', file]), 'upstreams.c.127.0.0.1:9002')).toContain('quote lists');
  });

  test('syntax errors name the file', () => {
    const yaml = writeConfig('upstream: [\n');
    expect(problemAt(problems(['--config', yaml]), yaml)).toContain('invalid YAML');
    const dup = writeConfig('lb: random\nlb: ring_hash\n');
    expect(problems(['--config', dup]).find((p) => p.key === dup)?.message).toContain('invalid YAML');
    const json = writeConfig('{"upstream": ', 'json');
    expect(problemAt(problems(['--config', json]), json)).toContain('invalid JSON');
    const list = writeConfig('- a\n- b\n');
    expect(problemAt(problems(['--config', list]), list)).toContain('expected a mapping');
  });

  test('an empty file is an empty mapping', () => {
    expect(problemAt(problems(['--config', writeConfig('')]), '--upstream')).toContain('required');
  });
});

describe('ENV_VARS and --help', () => {
  test('ENV_VARS is every flag twin plus RINGSIDE_CONFIG, upper-case with underscores', () => {
    const flags = OPTIONS.filter((o) => o.kind !== 'switch').map((o) => o.name);
    expect([...ENV_VARS].sort()).toEqual(flags.map((f) => 'RINGSIDE_' + f.toUpperCase().replaceAll('-', '_')).sort());
    expect(ENV_VARS).toContain('RINGSIDE_HASH_HEADER');
    expect(ENV_VARS).toContain('RINGSIDE_CONFIG');
    // Each variable is accepted (no "unknown variable" problem).
    const list = problems([], Object.fromEntries(ENV_VARS.map((v) => [v, '?'])));
    expect(list.some((p) => p.message.startsWith('unknown'))).toBe(false);
  });

  test('--help documents every flag, its env twin and its default', () => {
    const result = load(['--help']);
    expect(result.kind).toBe('help');
    const text = result.kind === 'help' ? result.text : '';
    for (const option of OPTIONS) {
      expect(text).toContain(`--${option.name}`);
      if (option.env !== null) expect(text).toContain(option.env);
      if (option.defaultText !== null) expect(text.replace(/\s+/g, ' ')).toContain(`default ${option.defaultText}`);
    }
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(text).toContain('header, query, cookie, source IP');
  });
});

describe('properties', () => {
  const flagNames = OPTIONS.map((o) => `--${o.name}`);
  const token = fc.oneof(
    fc.constantFrom(...flagNames, ...flagNames.map((f) => f + '='), '-h', '--', 'ring_hash', '5s', '127.0.0.1:0', 'static:', 'dns:a:1'),
    fc.string({ maxLength: 12 }),
  );

  test('random argv and environment never throw anything but ConfigError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(token, fc.tuple(token, token).map(([a, b]) => a + b)), { maxLength: 8 }),
        fc.dictionary(fc.constantFrom(...ENV_VARS, 'RINGSIDE_X', 'RINGSIDE_PORT'), fc.string({ maxLength: 12 }), { maxKeys: 4 }),
        (argv, env) => {
          try {
            const result = loadConfig({ argv, env, readFile: () => 'upstream: recs:80' }, '1.0.0');
            if (result.kind === 'config') expect(Object.isFrozen(result.config)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            expect((err as ConfigError).problems.length).toBeGreaterThan(0);
            for (const p of (err as ConfigError).problems) {
              expect(p.key).not.toBe('');
              expect(p.message).toMatch(/expected|did you mean/);
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  test('random file contents never throw anything but ConfigError', () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof({ depthSize: 'small' }, fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('any'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('listen', 'upstream', 'lb', 'target', 'hashOn', 'dns', 'header', 'name', 'x'), tie('any'), { maxKeys: 3 })),
    })).any;
    const top = fc.dictionary(fc.constantFrom('listeners', 'upstreams', 'listen', 'upstream', 'lb', 'hashOn', 'admin', 'dnsRefresh', 'typo'), value, { maxKeys: 4 });
    fc.assert(
      fc.property(top, (doc) => {
        try {
          loadConfig({ argv: ['--config', 'c.json'], env: {}, readFile: () => JSON.stringify(doc) }, '1.0.0');
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          for (const p of (err as ConfigError).problems) expect(p.message).toMatch(/expected|did you mean/);
        }
      }),
      { numRuns: 1500 },
    );
  });

  test('listen addresses round-trip through the flag', () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), fc.integer({ min: 1, max: 65535 }), (octets, port) => {
        const host = octets.join('.');
        fc.pre(port !== 15090);
        expect(config([...UP, '--listen', `${host}:${port}`]).listeners[0].listen).toEqual({ host, port });
      }),
      { numRuns: 300 },
    );
  });
});

describe('rate limits (issue 24)', () => {
  test('flags: rate, default burst (one second, at least 1), key and max keys; none by default', () => {
    expect(upstream(UP).rateLimit).toBeUndefined();
    expect(config(UP).rateLimitRedis).toBeUndefined();
    expect(upstream([...UP, '--rate-limit', '6000/m']).rateLimit).toEqual({ rate: { perSecond: 100, text: '6000/m' }, burst: 100, key: null, maxKeys: 10_000 });
    expect(upstream([...UP, '--rate-limit', '1/h']).rateLimit?.burst).toBe(1);
    expect(upstream([...UP, '--rate-limit=5/s', '--rate-limit-burst=2', '--rate-limit-key=header:X-Api-Key', '--rate-limit-max-keys=64']).rateLimit).toEqual({
      rate: { perSecond: 5, text: '5/s' },
      burst: 2,
      key: { type: 'header', name: 'x-api-key' },
      maxKeys: 64,
    });
  });

  test('Redis: address, TLS, user, fail mode; the password from a file (newline dropped) or from RINGSIDE_RATE_LIMIT_REDIS_PASSWORD', () => {
    const passwordFile = writeConfig('s3cret\n', 'txt');
    const c = config([...UP, '--rate-limit', '50/s', '--rate-limit-redis', '127.0.0.1:6379', '--rate-limit-redis-tls', '--rate-limit-redis-user', 'rs', '--rate-limit-redis-password-file', passwordFile, '--rate-limit-redis-fail', 'closed']);
    expect(c.rateLimitRedis).toEqual({ address: { host: '127.0.0.1', port: 6379 }, tls: true, user: 'rs', password: 's3cret', fail: 'closed' });
    const fromEnv = config([...UP, '--rate-limit', '50/s'], { RINGSIDE_RATE_LIMIT_REDIS: '[::1]:6380', RINGSIDE_RATE_LIMIT_REDIS_PASSWORD: 'from-env' });
    expect(fromEnv.rateLimitRedis).toEqual({ address: { host: '::1', port: 6380 }, tls: false, user: null, password: 'from-env', fail: 'open' });
  });

  test('the config file: rateLimit per upstream, rateLimitRedis at the top', () => {
    const path = writeConfig(`
rateLimitRedis: 127.0.0.1:6379
listeners: [{listen: 127.0.0.1:0, upstream: a}, {listen: 127.0.0.1:0, upstream: b}]
upstreams:
  a: {target: "static:127.0.0.1:9001", rateLimit: {rate: 10/s, burst: 3, key: "cookie:sid"}}
  b: {target: "static:127.0.0.1:9002"}
`);
    const c = config(['--config', path]);
    expect(c.upstreams[0].rateLimit).toEqual({ rate: { perSecond: 10, text: '10/s' }, burst: 3, key: { type: 'cookie', name: 'sid' }, maxKeys: 10_000 });
    expect(c.upstreams[1].rateLimit).toBeUndefined();
    expect(c.rateLimitRedis?.address).toEqual({ host: '127.0.0.1', port: 6379 });
    const bad = writeConfig(`
listeners: [{listen: 127.0.0.1:0, upstream: a}]
upstreams:
  a: {target: "static:127.0.0.1:9001", rateLimit: {rate: fast, burts: 3}}
`);
    const list = problems(['--config', bad]);
    expect(problemAt(list, 'upstreams.a.rateLimit.rate')).toContain('expected a rate like 100/s');
    expect(problemAt(list, 'upstreams.a.rateLimit.burts')).toContain('did you mean burst?');
  });
});

describe('tunnels (issue 21)', () => {
  test('--max-tunnels and --tunnel-idle-timeout from flags, RINGSIDE_* twins and the file, in both file forms', () => {
    expect(config([...UP, '--max-tunnels', '50', '--tunnel-idle-timeout', '90s'])).toMatchObject({ maxTunnels: 50, tunnelIdleTimeoutMs: 90_000 });
    expect(config(UP, { RINGSIDE_MAX_TUNNELS: '7', RINGSIDE_TUNNEL_IDLE_TIMEOUT: '0' })).toMatchObject({ maxTunnels: 7, tunnelIdleTimeoutMs: 0 });
    const single = writeConfig('upstream: dns:a.example:80\nmaxTunnels: 3\ntunnelIdleTimeout: 2m\n');
    expect(config(['--config', single], { RINGSIDE_MAX_TUNNELS: '4' })).toMatchObject({ maxTunnels: 4, tunnelIdleTimeoutMs: 120_000 });
    const multi = writeConfig('maxTunnels: 9\ntunnelIdleTimeout: 5m\nlisteners: [{listen: "127.0.0.1:0", upstream: a}]\nupstreams: {a: {target: "dns:a.example:80"}}\n');
    expect(config(['--config', multi])).toMatchObject({ maxTunnels: 9, tunnelIdleTimeoutMs: 300_000 });
  });

  test('a cap of 0 or a bare number for the timeout is a problem naming the key and the form', () => {
    const list = problems([...UP, '--max-tunnels', '0', '--tunnel-idle-timeout', '30']);
    expect(problemAt(list, '--max-tunnels')).toContain('an integer from 1 to 1000000');
    expect(problemAt(list, '--tunnel-idle-timeout')).toContain('a duration like');
  });
});
