// The session cookie's rules on their own (./session-cookie.ts): finding the
// cookie among others, which endpoint a cookie sends a request to, and when a
// response gets Set-Cookie (beside the replica's own), with the counters.

import { describe, expect, test } from 'vitest';
import type { SessionCookieConfig } from '../config/config.ts';
import { createEndpointAddress } from '../discovery/endpoint-address.ts';
import { Endpoint } from '../upstream/endpoint.ts';
import { findCookie, findCookieIn, SessionCookie, SessionState, type SessionCarrier } from './session-cookie.ts';

const CONFIG: SessionCookieConfig = { name: 'rs', maxAgeSeconds: 3600, path: '/', httpOnly: true, sameSite: 'Lax', secure: false };

function endpoint(host: string, port: number): Endpoint {
  return new Endpoint(createEndpointAddress(host, port), { connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
}

function setOf(...eps: Endpoint[]): Map<string, Endpoint> {
  return new Map(eps.map((e) => [e.key, e]));
}

function carrier(): SessionCarrier {
  return { sessionState: SessionState.NONE, sessionEndpoint: null };
}

/** The token a Set-Cookie value carries. */
function token(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

describe('findCookie', () => {
  test('finds the named cookie among others, in any cookie field, exactly by name', () => {
    expect(findCookie(['Cookie', 'a=1; rs=tok; b=2'], 'rs')).toBe('tok');
    expect(findCookie(['cookie', 'xrs=no; rsx=no', 'cookie', 'rs=yes'], 'rs')).toBe('yes');
    expect(findCookie(['cookie', 'rs="quoted" '], 'rs')).toBe('quoted');
    expect(findCookie(['cookie', 'rs=first; rs=second'], 'rs')).toBe('first');
    expect(findCookie(['cookie', 'rs=; a=1'], 'rs')).toBeNull();
    expect(findCookie(['cookie', 'rs'], 'rs')).toBeNull();
    expect(findCookie(['x-cookie', 'rs=1', 'cookies', 'rs=2'], 'rs')).toBeNull();
    expect(findCookieIn(['a=1', ' rs=two'], 'rs')).toBe('two');
    expect(findCookieIn('rs=; rs=x', 'rs')).toBeNull();
    expect(findCookieIn(undefined, 'rs')).toBeNull();
  });
});

describe('SessionCookie', () => {
  const a = endpoint('127.0.0.1', 9001);
  const b = endpoint('::1', 9002);

  test('no cookie: no override, the response starts a session naming its endpoint, beside the replica cookies', () => {
    const sc = new SessionCookie('pg', CONFIG, null);
    const c = carrier();
    expect(sc.read(['cookie', 'other=1'], setOf(a, b), c)).toBeNull();
    expect(c.sessionState).toBe(SessionState.ABSENT);
    const head: Record<string, string | string[]> = { 'set-cookie': 'app=1; Path=/' };
    sc.issue(head, b, c);
    expect(head['set-cookie']).toEqual(['app=1; Path=/', sc.setCookieFor(b)]);
    expect(sc.setCookieFor(b)).toMatch(/^rs=[A-Za-z0-9_-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    expect(sc.started).toBe(1);
    // The cookie it set sends the next request to b, and that response sets nothing.
    const next = carrier();
    expect(sc.read(['cookie', `other=1; rs=${token(sc.setCookieFor(b))}`], setOf(a, b), next)).toBe(b);
    const head2: Record<string, string | string[]> = {};
    sc.issue(head2, b, next);
    expect(head2['set-cookie']).toBeUndefined();
  });

  test('an endpoint that left the set, is unavailable, or was not the one that answered: re-issued', () => {
    const sc = new SessionCookie('pg', CONFIG, null);
    const cookie = ['cookie', `rs=${token(sc.setCookieFor(a))}`];
    const gone = carrier();
    expect(sc.read(cookie, setOf(b), gone)).toBeNull();
    expect(gone.sessionState).toBe(SessionState.AWAY);
    a.available = false;
    const ejected = carrier();
    expect(sc.read(cookie, setOf(a, b), ejected)).toBeNull();
    expect(ejected.sessionState).toBe(SessionState.AWAY);
    a.available = true;
    // Stuck to a, but a refused and the retry went to b.
    const refused = carrier();
    expect(sc.read(cookie, setOf(a, b), refused)).toBe(a);
    for (const c of [gone, ejected, refused]) {
      const head: Record<string, string | string[]> = {};
      sc.issue(head, b, c);
      expect(head['set-cookie']).toBe(sc.setCookieFor(b));
    }
    expect([sc.started, sc.reissued, sc.rejected]).toEqual([0, 3, 0]);
    // A new endpoint object at the same address inherits the session.
    const a2 = endpoint('127.0.0.1', 9001);
    expect(sc.read(cookie, setOf(a2, b), carrier())).toBe(a2);
  });

  test("junk, another upstream's, and (with a secret) unsigned cookies are rejected, counted, and start a session", () => {
    const sc = new SessionCookie('pg', CONFIG, 'k'.repeat(32));
    const unsigned = new SessionCookie('pg', CONFIG, null);
    const foreign = new SessionCookie('other', CONFIG, 'k'.repeat(32));
    for (const value of ['junk', 'x'.repeat(500), token(unsigned.setCookieFor(a)), token(foreign.setCookieFor(a)), token(sc.setCookieFor(a)).slice(0, -2)]) {
      const c = carrier();
      expect(sc.read(['cookie', `rs=${value}`], setOf(a, b), c)).toBeNull();
      expect(c.sessionState).toBe(SessionState.INVALID);
      const head: Record<string, string | string[]> = {};
      sc.issue(head, a, c);
      expect(head['set-cookie']).toBe(sc.setCookieFor(a));
    }
    expect([sc.started, sc.reissued, sc.rejected]).toEqual([5, 0, 5]);
    expect(sc.read(['cookie', `rs=${token(sc.setCookieFor(b))}`], setOf(a, b), carrier())).toBe(b);
  });

  test('a static endpoint named by a long host name (a StatefulSet pod FQDN) holds sessions; one past what a token carries gets none, and nothing throws', () => {
    // 79 characters: issuing its cookie threw a RangeError on the response path (the lean engine's process died).
    const pod = endpoint('postgrpc-replica-2.postgrpc-headless.production-eu-west.svc.cluster.local', 50051);
    for (const secret of [null, 'k'.repeat(32)]) {
      const sc = new SessionCookie('pg', CONFIG, secret);
      const head: Record<string, string | string[]> = {};
      sc.issue(head, pod, carrier());
      expect(typeof head['set-cookie']).toBe('string');
      const c = carrier();
      expect(sc.read(['cookie', `rs=${token(head['set-cookie'] as string)}`], setOf(a, pod), c)).toBe(pod);
      expect(c.sessionState).toBe(SessionState.STUCK);
      // Too long for the token's one length byte: served without a session (no Set-Cookie, not counted).
      const huge = endpoint(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, 65535);
      const head2: Record<string, string | string[]> = {};
      expect(() => sc.issue(head2, huge, carrier())).not.toThrow();
      expect(head2['set-cookie']).toBeUndefined();
      expect(sc.started).toBe(1);
    }
  });
});
