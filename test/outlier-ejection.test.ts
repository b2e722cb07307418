// Passive outlier detection: a replica that answers 503 is ejected after N
// consecutive failures, its ring-hash keys move to the next endpoint while
// the other keys stay put, and it returns (with its keys) after the ejection
// time. Never more than max-ejection-percent of endpoints are out at once.

import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startHttpReplicas, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { waitFor } from './support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Replicas whose `sick` flag makes them answer 503. */
async function replicas(n: number): Promise<(Replica & { sick: boolean })[]> {
  const list = (await startHttpReplicas(n, {
    handler: (_req, res, replica) => {
      const r = res as import('node:http').ServerResponse;
      r.writeHead((replica as Replica & { sick?: boolean }).sick ? 503 : 200);
      r.end(replica.name);
    },
  })) as (Replica & { sick: boolean })[];
  for (const r of list) r.sick = false;
  cleanups.push(() => Promise.all(list.map((r) => r.close())).then(() => {}));
  return list;
}

async function owners(p: TestProxy, keys: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const res = await request(`${p.url}/x?k=${k}`);
    out.set(k, `${res.statusCode} ${await res.body.text()}`);
  }
  return out;
}

describe('outlier ejection', () => {
  it('ejects a 503-answering replica, moves only its keys, and brings them back after the ejection time', async () => {
    const reps = await replicas(4);
    const p = await startProxy({
      endpoints: reps.map((r) => r.key),
      hashOn: [{ type: 'query', name: 'k', terminal: false }],
      upstream: { ejection: { consecutiveFailures: 3, baseTimeMs: 800, maxTimeMs: 10_000, maxPercent: 50 } },
    });
    cleanups.push(() => p.stop());
    const keys = Array.from({ length: 40 }, (_, i) => `user${i}`);
    const before = await owners(p, keys);
    const victim = reps[0];
    const victimKeys = keys.filter((k) => before.get(k) === `200 ${victim.name}`);
    expect(victimKeys.length).toBeGreaterThan(0);

    victim.sick = true;
    // Three consecutive 503s from the victim eject it.
    for (let i = 0; i < 3; i++) expect((await owners(p, [victimKeys[0]])).get(victimKeys[0])).toBe(`503 ${victim.name}`);
    const upstream = p.app.upstreams.get('default')!;
    expect(upstream.endpoints.get(victim.key)!.state).toBe('ejected');

    const during = await owners(p, keys);
    for (const k of keys) {
      if (victimKeys.includes(k)) expect(during.get(k)).not.toContain(victim.name);
      else expect(during.get(k)).toBe(before.get(k)); // other keys never move
      expect(during.get(k)!.startsWith('200 ')).toBe(true);
    }
    const status = await (await request(`${p.adminUrl}/status.json`)).body.json() as { upstreams: { endpoints: { key: string; state: string }[] }[] };
    expect(status.upstreams[0].endpoints.find((e) => e.key === victim.key)?.state).toBe('ejected');
    const metrics = await (await request(`${p.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/ringside_ejections_total\{upstream="default"\} 1/);
    expect(metrics).toMatch(/ringside_endpoints\{upstream="default",state="ejected"\} 1/);

    victim.sick = false;
    await waitFor(() => upstream.endpoints.get(victim.key)!.state === 'active', 3000, 'return from ejection');
    expect(await owners(p, keys)).toEqual(before);
  });

  it('never ejects more than max-ejection-percent of the endpoints', async () => {
    const reps = await replicas(4);
    const p = await startProxy({
      endpoints: reps.map((r) => r.key),
      upstream: { lb: 'round_robin', retries: 0, ejection: { consecutiveFailures: 2, baseTimeMs: 60_000, maxTimeMs: 60_000, maxPercent: 50 } },
    });
    cleanups.push(() => p.stop());
    for (const r of reps) r.sick = true;
    for (let i = 0; i < 40; i++) await (await request(`${p.url}/x`)).body.text();
    const states = [...p.app.upstreams.get('default')!.endpoints.values()].map((e) => e.state);
    expect(states.filter((s) => s === 'ejected').length).toBe(2);
  });

  it('ejection time grows with each ejection', async () => {
    const reps = await replicas(2);
    const p = await startProxy({
      endpoints: reps.map((r) => r.key),
      hashOn: [{ type: 'query', name: 'k', terminal: false }],
      upstream: { retries: 0, ejection: { consecutiveFailures: 1, baseTimeMs: 300, maxTimeMs: 10_000, maxPercent: 50 } },
    });
    cleanups.push(() => p.stop());
    const victim = reps[0];
    const key = [...(await owners(p, Array.from({ length: 20 }, (_, i) => `k${i}`))).entries()].find(([, v]) => v === `200 ${victim.name}`)![0];
    const endpoint = p.app.upstreams.get('default')!.endpoints.get(victim.key)!;
    victim.sick = true;
    const durations: number[] = [];
    for (let round = 0; round < 2; round++) {
      await (await request(`${p.url}/x?k=${key}`)).body.text();
      expect(endpoint.state).toBe('ejected');
      const t0 = Date.now();
      await waitFor(() => endpoint.state === 'active', 5000, 'return');
      durations.push(Date.now() - t0);
    }
    expect(durations[0]).toBeGreaterThanOrEqual(250);
    expect(durations[1]).toBeGreaterThanOrEqual(550);
    expect(endpoint.ejections).toBe(2);
  });
});
