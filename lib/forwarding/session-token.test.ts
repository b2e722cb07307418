// Properties of the session token (./session-token.ts): it round-trips every
// endpoint key, and a tampered, truncated, foreign, oversized or junk value
// never decodes to something it was not (with a secret: to nothing at all).

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeSessionToken, encodeSessionToken, MAX_TOKEN_CHARS, upstreamTag } from './session-token.ts';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.ipV6().map((a) => `[${a}]`);
const port = fc.integer({ min: 1, max: 65535 });
const endpointKey = fc.tuple(fc.oneof(ipv4, ipv6), port).map(([host, p]) => `${host}:${p}`);
const secret = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((a) => Buffer.from(a));
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);

describe('session token', () => {
  test('round-trips every endpoint key, with and without a secret', () => {
    fc.assert(
      fc.property(name, endpointKey, fc.option(secret, { nil: null }), (upstream, key, s) => {
        const tag = upstreamTag(upstream);
        const token = encodeSessionToken(tag, key, s);
        expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_CHARS);
        expect(token).toMatch(/^[0-9A-Za-z_-]+$/);
        // Not the address in clear text.
        expect(token.includes(key)).toBe(false);
        expect(decodeSessionToken(token, tag, s)).toBe(key);
      }),
      { numRuns: 500 },
    );
  });

  test('with a secret, any changed byte is rejected', () => {
    fc.assert(
      fc.property(name, endpointKey, secret, fc.nat(), fc.integer({ min: 1, max: 255 }), (upstream, key, s, at, flip) => {
        const tag = upstreamTag(upstream);
        const bytes = Buffer.from(encodeSessionToken(tag, key, s), 'base64url');
        bytes[at % bytes.length] ^= flip;
        expect(decodeSessionToken(bytes.toString('base64url'), tag, s)).toBeNull();
      }),
      { numRuns: 1000 },
    );
  });

  test('without a secret, a changed byte is rejected or names another well-formed key (which the caller looks up in the set)', () => {
    fc.assert(
      fc.property(name, endpointKey, fc.nat(), fc.integer({ min: 1, max: 255 }), (upstream, key, at, flip) => {
        const tag = upstreamTag(upstream);
        const bytes = Buffer.from(encodeSessionToken(tag, key, null), 'base64url');
        const i = at % bytes.length;
        bytes[i] ^= flip;
        const got = decodeSessionToken(bytes.toString('base64url'), tag, null);
        // Kind, tag and length bytes are checked; only a key byte can change into another key.
        if (i < 6) expect(got).toBeNull();
        else if (got !== null) expect(got).toMatch(/^[0-9A-Za-z.:[\]%_-]+$/);
      }),
      { numRuns: 1000 },
    );
  });

  test('every truncation, and every extension, is rejected', () => {
    fc.assert(
      fc.property(name, endpointKey, fc.option(secret, { nil: null }), fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'AZaz09_-') }), (upstream, key, s, extra) => {
        const tag = upstreamTag(upstream);
        const token = encodeSessionToken(tag, key, s);
        for (let n = 0; n < token.length; n++) expect(decodeSessionToken(token.slice(0, n), tag, s)).toBeNull();
        expect(decodeSessionToken(token + extra, tag, s)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });

  test("another upstream's token, a wrong secret and an unsigned token under a secret are rejected", () => {
    fc.assert(
      fc.property(name, name, endpointKey, secret, secret, (a, b, key, s1, s2) => {
        fc.pre(a !== b && !s1.equals(s2));
        const tagA = upstreamTag(a);
        expect(decodeSessionToken(encodeSessionToken(tagA, key, null), upstreamTag(b), null)).toBeNull();
        expect(decodeSessionToken(encodeSessionToken(tagA, key, s1), tagA, s2)).toBeNull();
        expect(decodeSessionToken(encodeSessionToken(tagA, key, null), tagA, s1)).toBeNull();
        // A sidecar without the secret yet still reads signed tokens (secrets roll out one sidecar at a time).
        expect(decodeSessionToken(encodeSessionToken(tagA, key, s1), tagA, null)).toBe(key);
      }),
      { numRuns: 300 },
    );
  });

  test('junk and oversized values never throw and never decode', () => {
    const tag = upstreamTag('recs');
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (junk) => {
        expect(decodeSessionToken(junk, tag, null)).toBeNull();
      }),
      { numRuns: 1000 },
    );
    expect(decodeSessionToken('A'.repeat(MAX_TOKEN_CHARS + 1), tag, null)).toBeNull();
    expect(decodeSessionToken('', tag, null)).toBeNull();
  });
});
