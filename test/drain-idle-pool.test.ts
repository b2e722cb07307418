// SIGTERM with the connections an application really holds: a keep-alive pool
// of idle HTTP/1.1 connections, an idle h2c session, and one slow request in
// flight. Idle connections must not hold the process for the drain timeout:
// it exits as soon as the last in-flight request has been answered.

import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Engine } from '../lib/config/config.ts';
import { startHttpReplica } from './support/http-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';
import { waitFor } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const SLOW_MS = 1500;
const POOL = 20;

async function ringside(args: string[]): Promise<RingsideProcess> {
  const p = await startRingsideProcess(args);
  cleanups.push(() => {
    if (p.child.exitCode === null) p.kill('SIGKILL');
  });
  return p;
}

describe.each<Engine>(['lean', 'compat'])('drain with idle client connections (--engine %s)', (engine) => {
  it('exits right after the last in-flight request, whatever idle connections the app holds', async () => {
    const replica = await startHttpReplica('r', {
      handler: (req, res) => {
        if (req.url === '/slow') setTimeout(() => res.end('slow done'), SLOW_MS);
        else res.end('ok');
      },
    });
    cleanups.push(() => replica.close());
    // A drain timeout far longer than the test: only idle-connection handling can make it exit early.
    const p = await ringside(['--upstream', `static:${replica.key}`, '--engine', engine, '--upstream-protocol', 'http1', '--drain-timeout', '15s']);
    const origin = `http://127.0.0.1:${p.port}`;

    // The app's keep-alive pool: 20 connections, each used once, then idle.
    const pool = new Agent({ connections: POOL, pipelining: 1, keepAliveTimeout: 60_000 });
    cleanups.push(() => pool.destroy());
    const warm = await Promise.all(Array.from({ length: POOL }, (_, i) => request(`${origin}/w${i}`, { dispatcher: pool }).then(async (r) => `${r.statusCode} ${await r.body.text()}`)));
    expect(warm.every((w) => w === '200 ok')).toBe(true);

    // One idle h2c session (a gRPC channel between calls).
    const session = http2.connect(origin);
    cleanups.push(() => void session.destroy());
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      const s = session.request({ ':path': '/h2' });
      s.on('error', reject);
      s.resume();
      s.on('end', resolve);
    });
    let goaway = false;
    session.on('goaway', () => (goaway = true));

    // A raw connection that connected but has not sent a byte yet.
    const silent = net.connect(p.port, '127.0.0.1');
    silent.on('error', () => {});
    cleanups.push(() => void silent.destroy());
    let silentClosed = false;
    silent.on('close', () => (silentClosed = true));

    // The slow request, on its own connection.
    const slow = request(`${origin}/slow`, { dispatcher: new Agent({ connections: 1 }) }).then(async (r) => {
      const body = await r.body.text();
      return { status: r.statusCode, body, connection: r.headers.connection, at: Date.now() };
    });
    await waitFor(() => replica.requests === POOL + 2, 5000, 'slow request at the replica').catch((e) => { throw new Error(`${e.message}: ${replica.requests}`); });

    const t0 = Date.now();
    p.kill('SIGTERM');
    // Idle HTTP/1.1 connections and the silent one are closed at once; the h2c session gets GOAWAY.
    await waitFor(() => silentClosed, 2000, 'the silent connection closed at the start of the drain');
    await waitFor(() => goaway || session.closed || session.destroyed, 2000, 'GOAWAY on the idle h2c session');

    const answered = await slow;
    const code = await p.exited;
    const exitAt = Date.now();
    console.log(`--engine ${engine}: SIGTERM -> slow answered ${answered.at - t0} ms, exit ${exitAt - t0} ms (${exitAt - answered.at} ms after the answer)`);
    expect(answered.status).toBe(200);
    expect(answered.body).toBe('slow done');
    // The busy connection is told it will close.
    expect(answered.connection).toBe('close');
    expect(code).toBe(0);
    // Well under a second after the last in-flight request ended (the drain timeout is 15 s).
    expect(exitAt - answered.at).toBeLessThan(1000);
  });
});
