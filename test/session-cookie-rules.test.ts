// The session cookie's rules against real replicas on loopback (issue 20), on
// both engines: the first response starts a session, the cookie wins over the
// policy (here ring hash on a header every request shares), other cookies and
// the session cookie itself reach the replica untouched, a replica's own
// Set-Cookie survives beside ours, and tampered, truncated, foreign,
// oversized and junk cookies are served and re-issued, never an error.
// gRPC clients send the cookie as metadata and get Set-Cookie as initial
// metadata, and in the head of a trailers-only response.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { SessionCookieConfig } from '../lib/config/config.ts';
import { startApp, type RunningApp } from '../lib/app.ts';
import { createRingsideConfig } from '../lib/config/defaults.ts';
import { decodeSessionToken, encodeSessionToken, upstreamTag } from '../lib/forwarding/session-token.ts';
import { silentLogger } from '../lib/log/logger.ts';
import { createEchoClient, startGrpcReplica, type EchoClient, type GrpcReplica } from './support/grpc-replicas.ts';
import { defaultHandler, startHttpReplicas, type Replica } from './support/http-replicas.ts';
import { ENGINES, startProxy, stopWhenIdle, upstreamConfig, type TestProxy } from './support/proxy.ts';
import { promtoolCheckMetrics } from './support/promtool.ts';
import { GrpcSessionClient, HttpSessionClient } from './support/session-clients.ts';

const NAME = 'rs_session';
const SESSION: SessionCookieConfig = { name: NAME, maxAgeSeconds: 600, path: '/', httpOnly: true, sameSite: 'Lax', secure: false };
/** Every request hashes to one replica: only the cookie can send one elsewhere. */
const SAME_KEY = { 'x-key': 'one-key-for-all' };

async function metric(proxy: TestProxy, name: string): Promise<number> {
  const text = await (await request(`${proxy.adminUrl}/metrics`)).body.text();
  const m = new RegExp(`^${name}\\{upstream="default"\\} (\\d+)`, 'm').exec(text);
  return m === null ? -1 : Number(m[1]);
}

describe.each(ENGINES)('session cookie rules, HTTP/1.1 clients (%s engine)', (engine) => {
  let replicas: Replica[];
  let proxy: TestProxy;
  let agent: Agent;
  /** A valid token per replica name, collected from real responses. */
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    replicas = await startHttpReplicas(3, {
      handler: (req, res, replica) => {
        if (req.url === '/own-cookie') res.setHeader('set-cookie', [`app=${replica.name}; Path=/`, 'theme=dark']);
        defaultHandler(req, res, replica);
      },
    });
    proxy = await startProxy({ endpoints: replicas.map((r) => r.key), engine, hashOn: [{ type: 'header', name: 'x-key', terminal: false }], upstream: { sessionCookie: SESSION } });
    agent = new Agent({ connections: 8 });
    // Different hash keys reach every replica: each first response starts a session naming its replica.
    for (let i = 0; tokens.size < 3 && i < 200; i++) {
      const c = new HttpSessionClient(proxy.url, NAME, agent);
      const r = await c.call('/begin', { 'x-key': `k${i}` });
      expect(r.ok).toBe(true);
      expect(r.setCookie).not.toBeNull();
      tokens.set(r.replica, r.setCookie!);
    }
    expect(tokens.size).toBe(3);
  });

  afterAll(async () => {
    await agent.close();
    await stopWhenIdle(proxy.app);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('Set-Cookie names the endpoint that served, with the attributes; the cookie then wins over ring hash, and is not set again', async () => {
    const first = await new HttpSessionClient(proxy.url, NAME, agent).call('/', SAME_KEY);
    const line = first.setCookies.find((l) => l.startsWith(`${NAME}=`))!;
    expect(line).toMatch(new RegExp(`^${NAME}=[A-Za-z0-9_-]+; Path=/; Max-Age=600; HttpOnly; SameSite=Lax$`));
    // The hash sends every cookie-less request to the same replica.
    for (let i = 0; i < 5; i++) expect((await new HttpSessionClient(proxy.url, NAME, agent).call('/', SAME_KEY)).replica).toBe(first.replica);
    for (const [owner, token] of tokens) {
      const c = new HttpSessionClient(proxy.url, NAME, agent);
      c.token = token;
      for (let i = 0; i < 10; i++) {
        const r = await c.call(`/follow-up/${i}`, SAME_KEY);
        expect(r).toMatchObject({ ok: true, replica: owner, setCookie: null });
      }
    }
  });

  it("another sidecar (here on the other engine) honours this one's cookies without shared state", async () => {
    const other = await startProxy({ endpoints: replicas.map((r) => r.key), engine: engine === 'lean' ? 'compat' : 'lean', hashOn: [{ type: 'header', name: 'x-key', terminal: false }], upstream: { sessionCookie: SESSION } });
    const otherAgent = new Agent({ connections: 2 });
    try {
      for (const [owner, token] of tokens) {
        const c = new HttpSessionClient(other.url, NAME, otherAgent);
        c.token = token;
        for (let i = 0; i < 3; i++) expect(await c.call(`/elsewhere/${i}`, SAME_KEY)).toMatchObject({ ok: true, replica: owner, setCookie: null });
      }
    } finally {
      await otherAgent.close();
      await stopWhenIdle(other.app);
    }
  });

  it('other cookies and the session cookie reach the replica untouched', async () => {
    const [owner, token] = [...tokens][1];
    const c = new HttpSessionClient(proxy.url, NAME, agent, 'theme=dark; cart="a b"');
    c.token = token;
    const r = await c.call('/with-cookies');
    expect(r.replica).toBe(owner);
    const replica = replicas.find((x) => x.name === owner)!;
    expect(replica.lastHeaders?.cookie).toBe(`theme=dark; cart="a b"; ${NAME}=${token}`);
  });

  it("a replica's own Set-Cookie fields survive beside the session cookie", async () => {
    const r = await new HttpSessionClient(proxy.url, NAME, agent).call('/own-cookie');
    expect(r.ok).toBe(true);
    expect(r.setCookies).toEqual([`app=${r.replica}; Path=/`, 'theme=dark', expect.stringMatching(new RegExp(`^${NAME}=`))]);
    expect(r.setCookie).toBe(tokens.get(r.replica));
    // A follow-up gets the replica's cookies only.
    const c = new HttpSessionClient(proxy.url, NAME, agent);
    c.token = r.setCookie;
    const again = await c.call('/own-cookie');
    expect(again.replica).toBe(r.replica);
    expect(again.setCookies).toEqual([`app=${r.replica}; Path=/`, 'theme=dark']);
  });

  it('tampered, truncated, foreign, oversized and junk cookies are treated as absent: served, re-issued, counted as rejected', async () => {
    const valid = [...tokens.values()][0];
    // The third character lies in the token's upstream tag: always invalid, whatever it becomes.
    const tampered = valid.slice(0, 2) + (valid[2] === 'A' ? 'B' : 'A') + valid.slice(3);
    const foreign = encodeSessionToken(upstreamTag('another-upstream'), replicas[0].key, null);
    const bad = [tampered, valid.slice(0, -3), foreign, 'x'.repeat(4000), 'junk', '%%%', '"unterminated'];
    const rejectedBefore = await metric(proxy, 'ringside_session_cookies_rejected_total');
    const startedBefore = await metric(proxy, 'ringside_sessions_started_total');
    for (const value of bad) {
      const c = new HttpSessionClient(proxy.url, NAME, agent);
      c.token = value;
      const r = await c.call('/bad-cookie', SAME_KEY);
      expect(r.ok, `${value.slice(0, 40)}: ${r.detail}`).toBe(true);
      expect(r.setCookie).toBe(tokens.get(r.replica));
    }
    expect(await metric(proxy, 'ringside_session_cookies_rejected_total')).toBe(rejectedBefore + bad.length);
    expect(await metric(proxy, 'ringside_sessions_started_total')).toBe(startedBefore + bad.length);
    // The new families pass promtool's lint.
    const text = await (await request(`${proxy.adminUrl}/metrics`)).body.text();
    const lint = await promtoolCheckMetrics(text);
    expect(lint.output.split('\n').filter((l) => l.includes('session'))).toEqual([]);
  });

  it('an HTTP/2 client of these HTTP/1.1 replicas gets the same: Set-Cookie beside the replica cookies, then stickiness', async () => {
    const session = http2.connect(proxy.url);
    try {
      const get = (path: string, cookie?: string): Promise<{ status: number; setCookie: string[]; body: string }> =>
        new Promise((resolve, reject) => {
          const req = session.request({ ':path': path, ...(cookie === undefined ? {} : { cookie }) });
          let body = '';
          let head: http2.IncomingHttpHeaders = {};
          req.on('response', (h) => (head = h));
          req.setEncoding('utf8');
          req.on('data', (d: string) => (body += d));
          req.on('end', () => resolve({ status: Number(head[':status']), setCookie: (head['set-cookie'] as string[] | undefined) ?? [], body }));
          req.on('error', reject);
          req.end();
        });
      const first = await get('/own-cookie');
      expect(first.status).toBe(200);
      const owner = first.body.split(' ')[0];
      expect(first.setCookie).toEqual([`app=${owner}; Path=/`, 'theme=dark', expect.stringMatching(new RegExp(`^${NAME}=`))]);
      const token = tokens.get(owner)!;
      expect(first.setCookie[2].startsWith(`${NAME}=${token};`)).toBe(true);
      for (let i = 0; i < 5; i++) {
        const r = await get('/h2', `a=1; ${NAME}=${token}`);
        expect(r.body.split(' ')[0]).toBe(owner);
        expect(r.setCookie).toEqual([]);
      }
    } finally {
      await new Promise<void>((resolve) => session.close(() => resolve()));
    }
  });

  it('/status says the upstream issues a session cookie', async () => {
    const status = (await (await request(`${proxy.adminUrl}/status.json`)).body.json()) as { upstreams: { sessionCookie: { name: string; signed: boolean; started: number } | null }[] };
    expect(status.upstreams[0].sessionCookie).toMatchObject({ name: NAME, signed: false });
    expect(status.upstreams[0].sessionCookie!.started).toBeGreaterThan(0);
  });
});

describe.each(ENGINES)('session cookie rules, gRPC clients (%s engine)', (engine) => {
  let replicas: GrpcReplica[];
  let proxy: TestProxy;
  let client: EchoClient;

  beforeAll(async () => {
    replicas = await Promise.all(['g0', 'g1', 'g2'].map((n) => startGrpcReplica(n)));
    proxy = await startProxy({ endpoints: replicas.map((r) => r.key), engine, upstream: { protocol: 'h2c', lb: 'round_robin', sessionCookie: SESSION } });
    client = createEchoClient(proxy.address);
  });

  afterAll(async () => {
    client.close();
    await stopWhenIdle(proxy.app);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('Begin gets Set-Cookie as initial metadata; calls carrying it as metadata stick and get none', async () => {
    const owners = new Set<string>();
    for (let s = 0; s < 6; s++) {
      const session = new GrpcSessionClient(client, NAME);
      const begin = await session.call({ message: 'BEGIN' });
      expect(begin.ok, begin.detail).toBe(true);
      expect(begin.setCookie).not.toBeNull();
      owners.add(begin.replica);
      for (let i = 0; i < 10; i++) {
        const r = await session.call({ message: `SELECT ${i}` });
        expect(r).toMatchObject({ ok: true, replica: begin.replica, setCookie: null });
      }
      const owner = replicas.find((x) => x.name === begin.replica)!;
      // The cookie reaches the replica too.
      expect(owner.lastMetadata?.get('cookie')).toEqual([`${NAME}=${session.token}`]);
    }
    // Round robin spread the sessions.
    expect(owners.size).toBe(3);
  });

  it('a trailers-only response (an error before any message) carries Set-Cookie too', async () => {
    const session = new GrpcSessionClient(client, NAME);
    const r = await session.call({ message: 'BEGIN', failCode: 9 /* FAILED_PRECONDITION */ });
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^FAILED_PRECONDITION/);
    expect(r.setCookie).not.toBeNull();
    // And it names the endpoint that answered: the next call goes there and is not given another.
    const next = await session.call({ message: 'again' });
    expect(next).toMatchObject({ ok: true, setCookie: null });
  });

  it('junk and tampered cookie metadata is served and re-issued', async () => {
    const good = new GrpcSessionClient(client, NAME);
    await good.call({ message: 'BEGIN' });
    const token = good.token!;
    for (const value of ['junk', token.slice(0, 2) + (token[2] === 'A' ? 'B' : 'A') + token.slice(3), token.slice(0, 10)]) {
      const s = new GrpcSessionClient(client, NAME);
      const r = await s.call({ message: 'x' }, `other=1; ${NAME}=${value}`);
      expect(r.ok, r.detail).toBe(true);
      expect(r.setCookie).not.toBeNull();
      expect(r.setCookie).not.toBe(value);
    }
  });
});

describe.each(ENGINES)('signed session cookies, --session-cookie-secret-file (%s engine)', (engine) => {
  const SECRET = 'a-shared-secret-of-the-fleet-0123456789';
  let replicas: Replica[];
  let app: RunningApp;
  let agent: Agent;
  let base: string;

  beforeAll(async () => {
    replicas = await startHttpReplicas(2);
    app = await startApp(
      createRingsideConfig({
        logLevel: 'error',
        engine,
        admin: { host: '127.0.0.1', port: 0 },
        listeners: [{ name: 'default', listen: { host: '127.0.0.1', port: 0 }, upstream: 'default' }],
        upstreams: [upstreamConfig({ endpoints: replicas.map((r) => r.key), upstream: { sessionCookie: SESSION } })],
        sessionCookieSecret: SECRET,
      }),
      { logger: silentLogger, version: 'test' },
    );
    base = `http://127.0.0.1:${app.listeners[0].port}`;
    agent = new Agent({ connections: 4 });
    await new Promise((r) => setTimeout(r, 50)); // the static target's first update
  });

  afterAll(async () => {
    await agent.close();
    await stopWhenIdle(app);
    await Promise.all(replicas.map((r) => r.close()));
  });

  it('tokens carry a MAC of the shared secret; an unsigned token naming a real endpoint is rejected and replaced', async () => {
    const tag = upstreamTag('default');
    const c = new HttpSessionClient(base, NAME, agent);
    const begin = await c.call('/begin');
    const owner = replicas.find((r) => r.name === begin.replica)!;
    expect(decodeSessionToken(begin.setCookie!, tag, Buffer.from(SECRET))).toBe(owner.key);
    expect(decodeSessionToken(begin.setCookie!, tag, Buffer.from('another-secret-of-enough-length'))).toBeNull();
    for (let i = 0; i < 5; i++) expect(await c.call('/next')).toMatchObject({ ok: true, replica: owner.name, setCookie: null });
    // A forged (unsigned) token for the other replica does not steer the request there.
    const other = replicas.find((r) => r !== owner)!;
    const forger = new HttpSessionClient(base, NAME, agent);
    forger.token = encodeSessionToken(tag, other.key, null);
    const r = await forger.call('/forged');
    expect(r.ok).toBe(true);
    expect(r.setCookie).not.toBeNull();
    expect(decodeSessionToken(r.setCookie!, tag, Buffer.from(SECRET))).toBe(replicas.find((x) => x.name === r.replica)!.key);
    const status = (await (await request(`http://127.0.0.1:${app.adminPort}/status.json`)).body.json()) as { upstreams: { sessionCookie: { signed: boolean; rejected: number } }[] };
    expect(status.upstreams[0].sessionCookie).toMatchObject({ signed: true, rejected: 1 });
  });
});
