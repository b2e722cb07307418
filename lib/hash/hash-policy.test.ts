import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HashSource } from '../config/config.ts';
import { createHashPolicy } from './hash-policy.ts';
import type { RequestHeaders } from './hash-policy.ts';
import { hash64ToHex, initXxhash64, xxhash64, xxhash64Hex } from './xxhash64.ts';

await initXxhash64();

// xxHash64 values computed by libxxhash in test/fixtures/gen-envoy-vectors.c
// (and cross-checked there against xxh64sum), not by our wrapper.
const golden = (
  JSON.parse(readFileSync(new URL('../../test/fixtures/envoy-ring-vectors.json', import.meta.url), 'utf8')) as {
    strings: Record<string, string>;
  }
).strings;

function g(text: string): bigint {
  const hex = golden[text];
  if (hex === undefined) throw new Error(`no golden hash for ${JSON.stringify(text)}`);
  return BigInt('0x' + hex);
}

/** Envoy's combination, in BigInt, independently of the policy's 32-bit halves. */
function combine(...hashes: bigint[]): string {
  const mask = (1n << 64n) - 1n;
  let acc = 0n;
  hashes.forEach((h, i) => {
    acc = i === 0 ? h : (((acc << 1n) | (acc >> 63n)) & mask) ^ h;
  });
  return acc.toString(16).padStart(16, '0');
}

function run(sources: HashSource[], headers: RequestHeaders, path = '/', ip?: string): string | null {
  const policy = createHashPolicy(sources)!;
  const out = { hi: 0, lo: 0 };
  return policy.compute(headers, path, ip, out) ? hash64ToHex(out) : null;
}

const header = (name: string, terminal = false): HashSource => ({ type: 'header', name, terminal });
const query = (name: string, terminal = false): HashSource => ({ type: 'query', name, terminal });
const cookie = (name: string, terminal = false): HashSource => ({ type: 'cookie', name, terminal });
const sourceIp = (terminal = false): HashSource => ({ type: 'source_ip', terminal });

describe('xxhash64', () => {
  it('matches libxxhash / xxh64sum', () => {
    for (const [text, hex] of Object.entries(golden)) {
      expect(xxhash64Hex(text)).toBe(hex);
      const h = { hi: 0, lo: 0 };
      xxhash64(text, h);
      expect(hash64ToHex(h)).toBe(hex);
    }
  });
});

describe('createHashPolicy', () => {
  it('returns null without sources', () => {
    expect(createHashPolicy([])).toBeNull();
  });

  it('header: hashes the value; missing header yields no hash', () => {
    expect(run([header('x-user')], { 'x-user': 'alice' })).toBe(golden.alice);
    expect(run([header('X-User')], { 'x-user': 'alice' })).toBe(golden.alice);
    expect(run([header('x-user')], {})).toBeNull();
    expect(run([header('x-user')], { 'x-user': [] })).toBeNull();
    expect(run([header('x-user')], { 'x-user': '' })).toBe(golden['']);
  });

  it('header sent several times: sorted values concatenated, whatever the order', () => {
    expect(run([header('x-k')], { 'x-k': ['foo', 'bar'] })).toBe(golden.barfoo);
    expect(run([header('x-k')], { 'x-k': ['bar', 'foo'] })).toBe(golden.barfoo);
    expect(run([header('x-k')], { 'x-k': ['alice'] })).toBe(golden.alice);
    const values = ['foo', 'bar'];
    run([header('x-k')], { 'x-k': values });
    expect(values).toEqual(['foo', 'bar']); // the caller's array is left alone
  });

  it('query: raw value of the first parameter with that exact name', () => {
    expect(run([query('u')], {}, '/p?x=1&u=alice&u=bob')).toBe(golden.alice);
    expect(run([query('u')], {}, '/p?uu=bob&u=alice')).toBe(golden.alice);
    expect(run([query('u')], {}, '/p?u=a%20b')).toBe(golden['a%20b']); // not percent-decoded
    expect(run([query('u')], {}, '/p?u')).toBe(golden['']); // no `=`: empty value, still a hash
    expect(run([query('u')], {}, '/p?u=&v=1')).toBe(golden['']);
    expect(run([query('u')], {}, '/p?u=alice#frag')).toBe(golden.alice);
    expect(run([query('u')], {}, '/p?x=1')).toBeNull();
    expect(run([query('u')], {}, '/p')).toBeNull();
    expect(run([query('u')], {}, '/u=alice')).toBeNull();
  });

  it('cookie: first cookie with that name across cookie headers, quotes removed', () => {
    expect(run([cookie('sid')], { cookie: 'a=1; sid=sess-42; b=2' })).toBe(golden['sess-42']);
    expect(run([cookie('sid')], { cookie: 'sid="quoted"' })).toBe(golden.quoted);
    expect(run([cookie('sid')], { cookie: ['a=1', 'x; sid=sess-42', 'sid=bob'] })).toBe(golden['sess-42']);
    expect(run([cookie('sid')], { cookie: 'xsid=bob;sid=alice' })).toBe(golden.alice);
    expect(run([cookie('sid')], { cookie: 'sid=; sid=alice' })).toBeNull(); // first match is empty: no hash, as Envoy
    expect(run([cookie('sid')], { cookie: 'other=1' })).toBeNull();
    expect(run([cookie('sid')], {})).toBeNull();
  });

  it('source_ip: hashes the address text', () => {
    expect(run([sourceIp()], {}, '/', '10.1.2.3')).toBe(golden['10.1.2.3']);
    expect(run([sourceIp()], {}, '/', '::1')).toBe(golden['::1']);
    expect(run([sourceIp()], {}, '/', undefined)).toBeNull();
    expect(run([sourceIp()], {}, '/', '')).toBeNull();
  });

  it('combines sources: rotate the running hash left by one, XOR the next', () => {
    const headers = { 'x-tenant': 'tenant-7', 'x-user': 'alice' };
    expect(run([header('x-tenant'), header('x-user')], headers)).toBe(combine(g('tenant-7'), g('alice')));
    expect(run([header('x-tenant'), header('x-user'), sourceIp()], headers, '/', '::1')).toBe(
      combine(g('tenant-7'), g('alice'), g('::1')),
    );
    // Identical sources do not cancel out.
    expect(run([header('x-user'), header('x-user')], headers)).toBe(combine(g('alice'), g('alice')));
    expect(run([header('x-user'), header('x-user')], headers)).not.toBe('0000000000000000');
    // A source without a value is skipped, not counted.
    expect(run([header('x-missing'), header('x-user')], headers)).toBe(golden.alice);
  });

  it('terminal: stops once a hash exists, else falls through to the next source', () => {
    const headers = { 'x-user': 'alice' };
    expect(run([header('x-user', true), sourceIp()], headers, '/', '::1')).toBe(golden.alice);
    expect(run([header('x-missing', true), sourceIp()], headers, '/', '::1')).toBe(golden['::1']);
    // Envoy checks the running hash: a terminal source that yields nothing still
    // stops the chain when an earlier source produced a hash.
    expect(run([header('x-user'), header('x-missing', true), sourceIp()], headers, '/', '::1')).toBe(golden.alice);
  });

  it('has all 64 bits right when the rotation carries across the halves', () => {
    // Check against BigInt for many value pairs (hash halves with top bits set).
    for (const [a, b] of [
      ['1', '2'],
      ['2', '3'],
      ['123', 'abc'],
      ['v1', 'v2'],
      ['x y', 'foo'],
    ]) {
      expect(run([header('a'), header('b')], { a, b })).toBe(combine(g(a), g(b)));
    }
  });
});
