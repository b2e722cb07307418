// The session cookie's settings (issue 20): flag, environment twin and the
// per-upstream file form with its attributes, the secret file, and the
// problems that span options (a hash cookie of the same name, attributes
// without a cookie, SameSite=None without Secure, a secret with nothing to sign).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, type ConfigProblem } from '../errors/errors.ts';
import type { RingsideConfig } from './config.ts';
import { loadConfig } from './load-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'ringside-session-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function load(argv: string[], env: Record<string, string> = {}): RingsideConfig {
  const result = loadConfig({ argv, env, readFile: (path) => readFileSync(path, 'utf8') }, '9.9.9');
  if (result.kind !== 'config') throw new Error(result.kind);
  return result.config;
}

function problems(argv: string[], env: Record<string, string> = {}): ConfigProblem[] {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const UP = ['--upstream', 'static:127.0.0.1:9001,127.0.0.1:9002'];

describe('session cookie settings', () => {
  test('a flag alone gives the defaults: Path=/, HttpOnly, no Max-Age, no SameSite, not Secure, unsigned', () => {
    const config = load([...UP, '--session-cookie', 'rs_session']);
    expect(config.upstreams[0].sessionCookie).toEqual({ name: 'rs_session', maxAgeSeconds: 0, path: '/', httpOnly: true, sameSite: null, secure: false });
    expect(config.sessionCookieSecret).toBeUndefined();
    expect(load(UP).upstreams[0].sessionCookie).toBeUndefined();
  });

  test('the environment twins and every attribute', () => {
    const config = load(UP, {
      RINGSIDE_SESSION_COOKIE: 'sticky',
      RINGSIDE_SESSION_COOKIE_TTL: '90m',
      RINGSIDE_SESSION_COOKIE_PATH: '/api',
      RINGSIDE_SESSION_COOKIE_HTTP_ONLY: 'false',
      RINGSIDE_SESSION_COOKIE_SAME_SITE: 'strict',
      RINGSIDE_SESSION_COOKIE_SECURE: 'true',
    });
    expect(config.upstreams[0].sessionCookie).toEqual({ name: 'sticky', maxAgeSeconds: 5400, path: '/api', httpOnly: false, sameSite: 'Strict', secure: true });
  });

  test('per upstream in a file, with the secret file at the top', () => {
    const secret = file('secret', 'x'.repeat(40) + '\n');
    const path = file(
      'multi.yaml',
      [
        `sessionCookieSecretFile: ${secret}`,
        'listeners: [{listen: 127.0.0.1:0, upstream: pg}, {listen: 127.0.0.1:0, upstream: other}]',
        'upstreams:',
        '  pg:',
        '    target: "static:127.0.0.1:9001,127.0.0.1:9002"',
        '    sessionCookie: {name: pgrpc_session, ttl: 1h, sameSite: Lax, httpOnly: false}',
        '  other:',
        '    target: static:127.0.0.1:9003',
      ].join('\n'),
    );
    const config = load(['--config', path]);
    expect(config.sessionCookieSecret).toBe('x'.repeat(40));
    expect(config.upstreams.find((u) => u.name === 'pg')!.sessionCookie).toEqual({ name: 'pgrpc_session', maxAgeSeconds: 3600, path: '/', httpOnly: false, sameSite: 'Lax', secure: false });
    expect(config.upstreams.find((u) => u.name === 'other')!.sessionCookie).toBeUndefined();
  });

  test('a --hash-cookie with the session cookie name is a problem naming both keys', () => {
    const list = problems([...UP, '--hash-cookie', 'rs', '--session-cookie', 'rs']);
    expect(list).toHaveLength(1);
    expect(list[0].key).toBe('--session-cookie');
    expect(list[0].message).toContain('--hash-cookie');
    const path = file('clash.yaml', ['listeners: [{listen: 127.0.0.1:0, upstream: pg}]', 'upstreams:', '  pg:', '    target: static:127.0.0.1:9001', '    hashOn: [{cookie: s}]', '    sessionCookie: {name: s}'].join('\n'));
    const fromFile = problems(['--config', path]);
    expect(fromFile).toHaveLength(1);
    expect(fromFile[0].key).toBe('upstreams.pg.sessionCookie.name');
    expect(fromFile[0].message).toContain('upstreams.pg.hashOn');
    // Another name is fine.
    expect(load([...UP, '--hash-cookie', 'user', '--session-cookie', 'rs']).upstreams[0].sessionCookie?.name).toBe('rs');
  });

  test('attributes without a cookie, bad values, SameSite=None without Secure', () => {
    expect(problems([...UP, '--session-cookie-ttl', '1h']).map((p) => p.key)).toEqual(['--session-cookie-ttl']);
    expect(problems([...UP, '--session-cookie', 'a b']).map((p) => p.key)).toEqual(['--session-cookie']);
    expect(problems([...UP, '--session-cookie', 's', '--session-cookie-path', 'api;x']).map((p) => p.key)).toEqual(['--session-cookie-path']);
    expect(problems([...UP, '--session-cookie', 's', '--session-cookie-same-site', 'sometimes']).map((p) => p.key)).toEqual(['--session-cookie-same-site']);
    const none = problems([...UP, '--session-cookie', 's', '--session-cookie-same-site', 'None']);
    expect(none.map((p) => p.key)).toEqual(['--session-cookie-same-site']);
    expect(none[0].message).toContain('Secure');
    expect(load([...UP, '--session-cookie', 's', '--session-cookie-same-site', 'None', '--session-cookie-secure']).upstreams[0].sessionCookie?.sameSite).toBe('None');
  });

  test('the secret file: read, too short, unreadable, or with no cookie to sign', () => {
    const good = file('good', 'k'.repeat(16));
    expect(load([...UP, '--session-cookie', 's', '--session-cookie-secret-file', good]).sessionCookieSecret).toBe('k'.repeat(16));
    const short = file('short', 'tooshort\n');
    expect(problems([...UP, '--session-cookie', 's', '--session-cookie-secret-file', short])[0].message).toContain('at least 16');
    expect(problems([...UP, '--session-cookie', 's', '--session-cookie-secret-file', join(dir, 'missing')])[0].message).toContain('cannot read');
    expect(problems([...UP, '--session-cookie-secret-file', good])[0].message).toContain('no upstream issues a session cookie');
  });
});
