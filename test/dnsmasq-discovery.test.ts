// DNS discovery against a real DNS server (Debian's dnsmasq): the initial set,
// scale-up and scale-down after a SIGHUP reload within one refresh, and an
// outage of the server (last known good kept, recovery after a restart on the
// same port). Fails, never skips, when dnsmasq is not installed.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Discovery, DiscoveryUpdate, ResolutionResult } from '../lib/discovery/discovery.ts';
import { createDnsDiscovery } from '../lib/discovery/dns/dns-discovery.ts';
import { startDnsmasq } from './support/dnsmasq.ts';
import type { DnsmasqServer } from './support/dnsmasq.ts';

const NAME = 'api.svc.test';
const REFRESH_MS = 500;
const ips = (...last: number[]) => last.map((n) => `127.0.0.${n}`);

let dnsmasq: DnsmasqServer;
let discovery: Discovery;
const updates: { update: DiscoveryUpdate; at: number }[] = [];
const resolutions: { result: ResolutionResult; at: number }[] = [];

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; updates=${JSON.stringify(updates.map((u) => u.update))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The set a consumer holds after applying every update so far. */
function appliedSet(): string[] {
  const set = new Set<string>();
  for (const { update } of updates) {
    if (update.type === 'reset') {
      set.clear();
      for (const e of update.endpoints) set.add(e.key);
    } else if (update.type === 'add') {
      for (const e of update.endpoints) set.add(e.key);
    } else if (update.type === 'remove') {
      for (const k of update.keys) set.delete(k);
    } else {
      set.clear();
    }
  }
  return [...set].sort();
}

const keys = (addresses: string[]) => addresses.map((a) => `${a}:8080`).sort();

beforeAll(async () => {
  dnsmasq = await startDnsmasq({ hosts: { [NAME]: ips(11, 12, 13) }, domain: 'svc.test', localTtl: 1 });
  discovery = createDnsDiscovery({
    target: { kind: 'dns', name: NAME, port: 8080 },
    upstream: 'api',
    refreshMs: REFRESH_MS,
    respectTtl: true,
    family: 'ipv4',
    server: { host: '127.0.0.1', port: dnsmasq.port },
    queryTimeoutMs: 300,
    queryTries: 1,
  });
  discovery.start({
    onUpdate: (update) => updates.push({ update, at: performance.now() }),
    onResolution: (result) => resolutions.push({ result, at: performance.now() }),
  });
});

afterAll(async () => {
  discovery?.stop();
  await dnsmasq?.close();
});

describe('DNS discovery against dnsmasq', () => {
  test('the initial set arrives as one reset', async () => {
    await waitFor('reset', () => updates.length === 1);
    expect(updates[0].update.type).toBe('reset');
    expect(appliedSet()).toEqual(keys(ips(11, 12, 13)));
  });

  test('scale-up from 3 to 5 addresses after SIGHUP is seen within one refresh', async () => {
    const before = updates.length;
    const t0 = performance.now();
    await dnsmasq.reload({ [NAME]: ips(11, 12, 13, 14, 15) });
    const served = performance.now();
    await waitFor('add', () => updates.length > before, 3000);
    const fromReload = updates[before].at - t0;
    const fromServed = updates[before].at - served;
    console.log(`scale-up: update ${fromReload.toFixed(0)} ms after reload() was called, ${fromServed.toFixed(0)} ms after dnsmasq served the new answer (refreshMs ${REFRESH_MS})`);
    expect(updates[before].update).toEqual({
      type: 'add',
      endpoints: ips(14, 15).map((host) => ({ key: `${host}:8080`, host, port: 8080, weight: 1 })),
    });
    expect(updates).toHaveLength(before + 1);
    expect(appliedSet()).toEqual(keys(ips(11, 12, 13, 14, 15)));
    // One refresh is at most refreshMs +10% jitter; allow for the query itself and a busy machine.
    expect(fromServed).toBeLessThan(REFRESH_MS * 1.1 + 250);
  });

  test('scale-down to 2 addresses gives one remove', async () => {
    const before = updates.length;
    await dnsmasq.reload({ [NAME]: ips(12, 15) });
    const served = performance.now();
    await waitFor('remove', () => updates.length > before, 3000);
    console.log(`scale-down: update ${(updates[before].at - served).toFixed(0)} ms after dnsmasq served the new answer`);
    expect(updates[before].update).toEqual({ type: 'remove', keys: keys(ips(11, 13, 14)) });
    expect(appliedSet()).toEqual(keys(ips(12, 15)));
  });

  test('dnsmasq down for 2 s: the last known good set is kept; after a restart on the same port discovery recovers', async () => {
    const port = dnsmasq.port;
    const before = updates.length;
    await dnsmasq.stop();
    const downAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const failures = resolutions.filter((r) => r.at > downAt);
    console.log(`outage: ${failures.length} attempts in 2 s: ${failures.map((r) => r.result).join(',')}`);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    // Backoff capped at refreshMs: no more than ~250+500+500+500 ms worth of attempts, no fewer than 3 over 2 s.
    expect(failures.length).toBeLessThanOrEqual(6);
    expect(failures.every((r) => r.result === 'error' || r.result === 'timeout')).toBe(true);
    expect(updates).toHaveLength(before);
    expect(appliedSet()).toEqual(keys(ips(12, 15)));

    // The pods changed while DNS was down; the restart serves the new set.
    await dnsmasq.start({ [NAME]: ips(12, 16) });
    expect(dnsmasq.port).toBe(port);
    const upAt = performance.now();
    await waitFor('recovery', () => updates.length >= before + 2, 3000);
    console.log(`recovery: first update ${(updates[before].at - upAt).toFixed(0)} ms after dnsmasq answered again`);
    expect(updates.slice(before).map((u) => u.update)).toEqual([
      { type: 'add', endpoints: [{ key: '127.0.0.16:8080', host: '127.0.0.16', port: 8080, weight: 1 }] },
      { type: 'remove', keys: ['127.0.0.15:8080'] },
    ]);
    // Retries are capped at refreshMs, so recovery takes at most one refresh interval (+ jitter).
    expect(updates[before].at - upAt).toBeLessThan(REFRESH_MS * 1.1 + 250);
    expect(resolutions.at(-1)?.result).toBe('success');
  });
});
