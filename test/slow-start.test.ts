// Slow start under steady load: replicas that join a headless Service (a real
// DNS server) after the first answer ramp up over the window instead of
// taking their full share at once; the first answer's replicas get full
// shares at once; a replica back from ejection ramps too; no request fails.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { FallbackPolicy } from '../lib/config/config.ts';
import { startDnsServer, type TestDnsServer } from './support/dns-server.ts';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { startRingsideProcess } from './support/ringside-process.ts';
import { waitFor } from './support/wait.ts';

const NAME = 'slow.svc.test';
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const WINDOW_MS = 6000;
const CONCURRENCY = 8;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Each replica answers its own name after a few ms, so requests overlap as under real load. */
const answerSlowly = (_req: http.IncomingMessage, res: http.ServerResponse, replica: Replica): void => {
  setTimeout(() => res.end(replica.name), 4);
};

async function startPods(hosts: readonly string[]): Promise<Replica[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const first = await startHttpReplica(hosts[0], { host: hosts[0], handler: answerSlowly as never });
    const pods = [first];
    try {
      for (const host of hosts.slice(1)) pods.push(await startHttpReplica(host, { host, port: first.port, handler: answerSlowly as never }));
      return pods;
    } catch {
      await Promise.all(pods.map((p) => p.close()));
    }
  }
  throw new Error('no port free on every address');
}

/** Every answer, with when it was started (ms since the load began) and who answered. */
interface Sample {
  at: number;
  replica: string;
}

/** A bounded closed-loop load of CONCURRENCY callers; stops at `maxMs`. */
function runLoad(url: string, maxMs: number): { samples: Sample[]; failures: string[]; done: Promise<void>; t0: number } {
  const agent = new Agent({ connections: CONCURRENCY });
  cleanups.push(() => agent.close());
  const samples: Sample[] = [];
  const failures: string[] = [];
  const t0 = performance.now();
  const caller = async (): Promise<void> => {
    for (let i = 0; i < 100_000 && performance.now() - t0 < maxMs; i++) {
      const at = performance.now() - t0;
      try {
        const res = await request(url, { dispatcher: agent });
        const body = await res.body.text();
        if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
        else samples.push({ at, replica: body });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: CONCURRENCY }, caller)).then(() => {});
  return { samples, failures, done, t0 };
}

/** Each replica's share of the answers started in [from, to). */
function shares(samples: readonly Sample[], from: number, to: number): Map<string, number> {
  const inWindow = samples.filter((s) => s.at >= from && s.at < to);
  const out = new Map<string, number>();
  for (const s of inWindow) out.set(s.replica, (out.get(s.replica) ?? 0) + 1);
  for (const [k, v] of out) out.set(k, v / inWindow.length);
  return out;
}

/** One sample's value from the admin port's /metrics. */
async function metric(proxy: TestProxy, series: string): Promise<number> {
  const text = await request(`${proxy.adminUrl}/metrics`).then((r) => r.body.text());
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

const fmt = (m: Map<string, number>): string => [...m].sort().map(([k, v]) => `${k.slice(-1)}:${(v * 100).toFixed(1)}%`).join(' ');

describe.each<FallbackPolicy>(['round_robin', 'least_request'])('slow start (--lb %s)', (lb) => {
  it('ramps replicas that join after the first answer; the first answer is at full weight at once; nothing fails', async () => {
    const pods = await startPods(HOSTS);
    cleanups.push(() => Promise.all(pods.map((p) => p.close())).then(() => {}));
    const dns: TestDnsServer = await startDnsServer();
    cleanups.push(() => dns.close());
    dns.setA(NAME, HOSTS.slice(0, 3), 1);
    const proxy: TestProxy = await startProxy({
      target: { kind: 'dns', name: NAME, port: pods[0].port },
      upstream: {
        lb,
        slowStart: { windowMs: WINDOW_MS, minWeightPercent: 10, aggression: 1 },
        dns: { refreshMs: 250, respectTtl: false, family: 'ipv4', server: { host: '127.0.0.1', port: dns.port } },
      },
    });
    cleanups.push(() => proxy.stop());
    const upstream = proxy.app.upstreams.get('default')!;
    await waitFor(() => upstream.endpoints.size === 3, 5000, 'the first answer');

    const load = runLoad(`${proxy.url}/`, 1500 + WINDOW_MS + 2500);
    // 1.5 s on the first answer's three replicas, then two more join.
    await waitFor(() => performance.now() - load.t0 > 1500, 5000, 'the first phase');
    dns.setA(NAME, HOSTS, 1);
    await waitFor(() => upstream.endpoints.size === 5, 5000, 'the two new replicas');
    const joinedAt = performance.now() - load.t0;
    const ramping = await metric(proxy, 'ringside_endpoints_slow_start{upstream="default"}');
    const status = (await request(`${proxy.adminUrl}/status.json`).then((r) => r.body.json())) as { upstreams: { slowStartMs: number; endpoints: { key: string; slowStart: number | null }[] }[] };
    await load.done;

    const first = shares(load.samples, 0, 1000);
    const early = shares(load.samples, joinedAt, joinedAt + 2000);
    const late = shares(load.samples, joinedAt + WINDOW_MS + 300, joinedAt + WINDOW_MS + 2300);
    console.log(`--lb ${lb}: first second ${fmt(first)} | first 2 s after the join ${fmt(early)} | after the window ${fmt(late)} (${load.samples.length} requests)`);
    // Per second after the join, the mean share of one new replica (the final share is 20%).
    const perSecond: string[] = [];
    for (let t = 0; t < WINDOW_MS + 2000; t += 1000) {
      const m = shares(load.samples, joinedAt + t, joinedAt + t + 1000);
      perSecond.push((((m.get(HOSTS[3]) ?? 0) + (m.get(HOSTS[4]) ?? 0)) * 50).toFixed(1));
    }
    console.log(`--lb ${lb}: a new replica's share per second after the join (%): ${perSecond.join(' ')}`);

    expect(load.failures).toEqual([]);
    // The first answer's replicas get a full third each from the first second.
    for (const host of HOSTS.slice(0, 3)) expect(first.get(host) ?? 0).toBeGreaterThan(0.25);
    // The two new replicas, in their first 2 s: well under half their final share (20% each).
    for (const host of HOSTS.slice(3)) expect(early.get(host) ?? 0).toBeLessThan(0.1);
    // After the window, every replica has its full share.
    for (const host of HOSTS) {
      expect(late.get(host) ?? 0).toBeGreaterThan(0.14);
      expect(late.get(host) ?? 0).toBeLessThan(0.26);
    }
    expect(upstream.slowStart.size).toBe(0);
    expect(ramping).toBe(2);
    // /status.json names the ramping endpoints and the share of their weight they have.
    expect(status.upstreams[0].slowStartMs).toBe(WINDOW_MS);
    const inRamp = status.upstreams[0].endpoints.filter((e) => e.slowStart !== null);
    expect(inRamp.map((e) => e.key.split(':')[0]).sort()).toEqual(HOSTS.slice(3));
    for (const e of inRamp) expect(e.slowStart).toBeLessThan(0.5);
    expect(await metric(proxy, 'ringside_endpoints_slow_start{upstream="default"}')).toBe(0);
  });
});

it('a replica back from ejection ramps up again', async () => {
  let failing = true;
  const replicas = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      startHttpReplica(name, {
        handler: ((_req: http.IncomingMessage, res: http.ServerResponse, r: Replica) => {
          if (r.name === 'c' && failing) {
            res.statusCode = 503;
            res.end('down');
          } else setTimeout(() => res.end(r.name), 4);
        }) as never,
      }),
    ),
  );
  cleanups.push(() => Promise.all(replicas.map((r) => r.close())).then(() => {}));
  const proxy = await startProxy({
    endpoints: replicas.map((r) => r.key),
    upstream: {
      lb: 'round_robin',
      retries: 0,
      slowStart: { windowMs: WINDOW_MS, minWeightPercent: 10, aggression: 1 },
      ejection: { consecutiveFailures: 3, baseTimeMs: 1000, maxTimeMs: 1000, maxPercent: 50 },
    },
  });
  cleanups.push(() => proxy.stop());
  const upstream = proxy.app.upstreams.get('default')!;
  const c = upstream.endpoints.get(replicas[2].key)!;
  // Fail c until it is ejected, then let it recover.
  for (let i = 0; i < 30 && c.state !== 'ejected'; i++) await request(`${proxy.url}/`).then((r) => r.body.text());
  expect(c.state).toBe('ejected');
  failing = false;
  await waitFor(() => c.state === 'active', 5000, 'c back from ejection');
  expect(upstream.slowStart.startedAt(c)).toBeGreaterThan(0);
  expect(c.effectiveWeight).toBeLessThan(0.2);

  const load = runLoad(`${proxy.url}/`, 2000);
  await load.done;
  const early = shares(load.samples, 0, 2000);
  console.log(`back from ejection, first 2 s: ${fmt(early)}`);
  expect(load.failures).toEqual([]);
  // A full share would be a third.
  expect(early.get('c') ?? 0).toBeLessThan(0.17);
  expect(early.get('c') ?? 0).toBeGreaterThan(0);
});

it('the command takes --slow-start and its companions, and /status.json shows the window', async () => {
  const p = await startRingsideProcess(['--upstream', 'static:127.0.0.1:9', '--slow-start', '30s', '--slow-start-min-weight', '20', '--slow-start-aggression', '2']);
  cleanups.push(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  const status = (await request(`http://127.0.0.1:${p.adminPort}/status.json`).then((r) => r.body.json())) as { upstreams: { slowStartMs: number }[] };
  expect(status.upstreams[0].slowStartMs).toBe(30_000);
});
