// DNS discovery against a real (in-process) authoritative DNS server on
// 127.0.0.1: updates, diffs, TTL-driven refresh, failures, TCP fallback, SRV,
// families and stop().

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import type { Discovery, DiscoveryUpdate, ResolutionResult } from '../discovery.ts';
import { startDnsServer } from '../../../test/support/dns-server.ts';
import type { TestDnsServer } from '../../../test/support/dns-server.ts';
import { createDnsDiscovery } from './dns-discovery.ts';
import type { DnsDiscoveryOptions } from './dns-discovery.ts';

interface Recorded {
  readonly updates: DiscoveryUpdate[];
  readonly resolutions: { result: ResolutionResult; error?: Error; at: number }[];
  waitFor(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
}

function record(): Recorded & { listener: Parameters<Discovery['start']>[0] } {
  const updates: DiscoveryUpdate[] = [];
  const resolutions: Recorded['resolutions'] = [];
  let wake: (() => void) | null = null;
  const poke = () => wake?.();
  return {
    updates,
    resolutions,
    listener: {
      onUpdate(u) {
        updates.push(u);
        poke();
      },
      onResolution(result, error) {
        resolutions.push({ result, error, at: performance.now() });
        poke();
      },
    },
    async waitFor(what, predicate, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (!predicate()) {
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new Error(`timed out waiting for ${what}; updates=${JSON.stringify(updates)} resolutions=${JSON.stringify(resolutions.map((r) => r.result))}`);
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 50));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
      }
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keysOf = (u: DiscoveryUpdate | undefined) => (u && (u.type === 'reset' || u.type === 'add') ? u.endpoints.map((e) => e.key) : []);

type Started = ReturnType<typeof record> & { discovery: Discovery };

// Every test gets its own DNS server and runs concurrently with the others: they mostly wait on timers.
const it = test.extend<{ dns: TestDnsServer; start: (overrides?: Partial<DnsDiscoveryOptions>) => Started }>({
  // eslint-disable-next-line no-empty-pattern
  dns: async ({}, use) => {
    const dns = await startDnsServer();
    await use(dns);
    await dns.close();
  },
  start: async ({ dns }, use) => {
    const discoveries: Discovery[] = [];
    await use((overrides = {}) => {
      const discovery = createDnsDiscovery({
        target: { kind: 'dns', name: 'api.svc.test', port: 8080 },
        upstream: 'api',
        refreshMs: 200,
        respectTtl: false,
        family: 'ipv4',
        server: { host: '127.0.0.1', port: dns.port },
        queryTimeoutMs: 200,
        queryTries: 1,
        ...overrides,
      });
      discoveries.push(discovery);
      const rec = record();
      discovery.start(rec.listener);
      return { discovery, ...rec };
    });
    for (const d of discoveries) d.stop();
  },
});

describe.concurrent('A records', () => {
  it('the first resolution is one reset with every address, delivered asynchronously', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    const d = start();
    expect(d.discovery.description).toBe('dns:api.svc.test:8080');
    expect(d.updates).toHaveLength(0);
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(d.updates[0]).toEqual({
      type: 'reset',
      endpoints: [
        { key: '10.0.0.1:8080', host: '10.0.0.1', port: 8080, weight: 1 },
        { key: '10.0.0.2:8080', host: '10.0.0.2', port: 8080, weight: 1 },
        { key: '10.0.0.3:8080', host: '10.0.0.3', port: 8080, weight: 1 },
      ],
    });
    expect(d.resolutions[0].result).toBe('success');
  });

  it('a changed set gives exact add and remove diffs', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    const d = start();
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setA('api.svc.test', ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
    await d.waitFor('add + remove', () => d.updates.length === 3);
    expect(d.updates.slice(1)).toEqual([
      {
        type: 'add',
        endpoints: [
          { key: '10.0.0.4:8080', host: '10.0.0.4', port: 8080, weight: 1 },
          { key: '10.0.0.5:8080', host: '10.0.0.5', port: 8080, weight: 1 },
        ],
      },
      { type: 'remove', keys: ['10.0.0.1:8080'] },
    ]);
    // The same set again: resolutions, no updates.
    const n = d.resolutions.length;
    await d.waitFor('two more resolutions', () => d.resolutions.length >= n + 2);
    expect(d.updates).toHaveLength(3);
    // Only removals: one remove update and no add.
    dns.setA('api.svc.test', ['10.0.0.3', '10.0.0.4']);
    await d.waitFor('remove', () => d.updates.length === 4);
    expect(d.updates[3]).toEqual({ type: 'remove', keys: ['10.0.0.2:8080', '10.0.0.5:8080'] });
    await d.waitFor('one more resolution', () => d.resolutions.length >= n + 4);
    expect(d.updates).toHaveLength(4);
  });

  it('a shuffled answer order gives no update', async ({ dns, start }) => {
    dns.setShuffle(true);
    dns.setA('api.svc.test', Array.from({ length: 12 }, (_, i) => `10.0.1.${i + 1}`));
    const d = start({ refreshMs: 100 });
    await d.waitFor('six resolutions', () => d.resolutions.length >= 6);
    expect(d.resolutions.every((r) => r.result === 'success')).toBe(true);
    expect(d.updates.map((u) => u.type)).toEqual(['reset']);
  });

  it('150 addresses: the UDP answer is truncated and c-ares retries over TCP', async ({ dns, start }) => {
    const ips = Array.from({ length: 150 }, (_, i) => `10.2.${i >> 8}.${i & 255}`);
    dns.setA('big.svc.test', ips);
    const d = start({ target: { kind: 'dns', name: 'big.svc.test', port: 9000 } });
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(keysOf(d.updates[0]).sort()).toEqual(ips.map((ip) => `${ip}:9000`).sort());
    const big = dns.log.filter((q) => q.name === 'big.svc.test');
    expect(big[0]).toMatchObject({ transport: 'udp', truncated: true });
    expect(big[1]).toMatchObject({ transport: 'tcp', truncated: false });
  });

  it('a name given with a trailing dot resolves the same name', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    const d = start({ target: { kind: 'dns', name: 'api.svc.test.', port: 80 } });
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(keysOf(d.updates[0])).toEqual(['10.0.0.1:80']);
  });
});

describe.concurrent('refresh timing', () => {
  it('respectTtl refreshes at the record TTL when it is below refreshMs', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1'], 1);
    const d = start({ refreshMs: 5000, respectTtl: true });
    await d.waitFor('three resolutions', () => d.resolutions.length >= 3, 4000);
    const gaps = [d.resolutions[1].at - d.resolutions[0].at, d.resolutions[2].at - d.resolutions[1].at];
    for (const gap of gaps) {
      // TTL 1 s, jittered down by at most 10%.
      expect(gap).toBeGreaterThanOrEqual(880);
      expect(gap).toBeLessThan(1200);
    }
  });

  it('respectTtl never refreshes faster than 250 ms, even for TTL 0', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1'], 0);
    const d = start({ refreshMs: 5000, respectTtl: true });
    await d.waitFor('four resolutions', () => d.resolutions.length >= 4, 3000);
    for (let i = 1; i < 4; i++) {
      const gap = d.resolutions[i].at - d.resolutions[i - 1].at;
      expect(gap).toBeGreaterThanOrEqual(245);
      expect(gap).toBeLessThan(450);
    }
  });

  it('without respectTtl the TTL is ignored and refreshMs (+-10%) rules', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1'], 0);
    const d = start({ refreshMs: 400, respectTtl: false });
    await d.waitFor('three resolutions', () => d.resolutions.length >= 3, 3000);
    for (let i = 1; i < 3; i++) {
      const gap = d.resolutions[i].at - d.resolutions[i - 1].at;
      expect(gap).toBeGreaterThanOrEqual(355);
      expect(gap).toBeLessThan(600);
    }
  });
});

describe.concurrent('failures keep the last known good set', () => {
  it('SERVFAIL: nothing is emitted, results are reported, then the new set arrives on recovery', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1', '10.0.0.2']);
    const d = start();
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setMode('api.svc.test', 'servfail');
    const before = d.resolutions.length;
    await d.waitFor('three SERVFAILs', () => d.resolutions.slice(before).filter((r) => r.result === 'servfail').length >= 3);
    expect(d.updates).toHaveLength(1);
    const failed = d.resolutions.find((r) => r.result === 'servfail');
    expect(failed?.error).toBeInstanceOf(Error);
    expect(failed?.error).toMatchObject({ code: 'RS_ERR_DNS', upstream: 'api' });
    expect((failed?.error?.cause as { code?: string }).code).toBe('ESERVFAIL');
    dns.setA('api.svc.test', ['10.0.0.2', '10.0.0.3']);
    dns.setMode('api.svc.test', 'normal');
    await d.waitFor('recovery diffs', () => d.updates.length === 3);
    expect(d.updates.slice(1)).toEqual([
      { type: 'add', endpoints: [{ key: '10.0.0.3:8080', host: '10.0.0.3', port: 8080, weight: 1 }] },
      { type: 'remove', keys: ['10.0.0.1:8080'] },
    ]);
    expect(d.resolutions.at(-1)?.result).toBe('success');
  });

  it('timeouts (server drops queries) report "timeout" and keep the set', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    const d = start();
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setMode('api.svc.test', 'drop');
    await d.waitFor('two timeouts', () => d.resolutions.filter((r) => r.result === 'timeout').length >= 2);
    expect(d.updates).toHaveLength(1);
    dns.setMode('api.svc.test', 'normal');
    const n = d.resolutions.length;
    await d.waitFor('success again', () => d.resolutions.slice(n).some((r) => r.result === 'success'));
    expect(d.updates).toHaveLength(1);
  });

  it('REFUSED and an unreachable server report "error"', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    dns.setMode('api.svc.test', 'refused');
    const d = start();
    await d.waitFor('error', () => d.resolutions.length >= 1);
    expect(d.resolutions[0].result).toBe('error');
    // Before any success there is nothing to keep and nothing to emit.
    expect(d.updates).toHaveLength(0);
    dns.setMode('api.svc.test', 'normal');
    await d.waitFor('reset', () => d.updates.length === 1);
    await dns.close();
    const n = d.resolutions.length;
    await d.waitFor('error after close', () => d.resolutions.slice(n).some((r) => r.result === 'error'));
    expect(d.updates).toHaveLength(1);
  });

  it('backoff starts near 250 ms, doubles, and is capped at refreshMs', async ({ dns, start }) => {
    dns.setMode('api.svc.test', 'servfail');
    const d = start({ refreshMs: 600 });
    await d.waitFor('five failures', () => d.resolutions.length >= 5, 5000);
    const gaps = d.resolutions.slice(1, 5).map((r, i) => r.at - d.resolutions[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(220);
    expect(gaps[0]).toBeLessThan(400);
    expect(gaps[1]).toBeGreaterThanOrEqual(445);
    expect(gaps[1]).toBeLessThan(650);
    for (const gap of gaps.slice(2)) {
      expect(gap).toBeGreaterThanOrEqual(535);
      expect(gap).toBeLessThan(780);
    }
  });
});

describe.concurrent('authoritative empty answers', () => {
  it('NXDOMAIN empties the set once, with a reason naming the service; data again gives a reset', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    const d = start();
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.remove('api.svc.test');
    await d.waitFor('does-not-exist', () => d.updates.length === 2);
    const dne = d.updates[1];
    expect(dne.type).toBe('does-not-exist');
    expect(dne.type === 'does-not-exist' && dne.reason).toMatch(/api\.svc\.test.*NXDOMAIN/);
    expect(dne.type === 'does-not-exist' && dne.reason).toContain('"api"');
    const n = d.resolutions.length;
    await d.waitFor('two more nxdomain', () => d.resolutions.slice(n).filter((r) => r.result === 'nxdomain').length >= 2);
    expect(d.updates).toHaveLength(2);
    dns.setA('api.svc.test', ['10.0.0.9']);
    await d.waitFor('reset again', () => d.updates.length === 3);
    expect(d.updates[2]).toMatchObject({ type: 'reset' });
    expect(keysOf(d.updates[2])).toEqual(['10.0.0.9:8080']);
  });

  it('NODATA (the name exists without A records) is does-not-exist with result nodata', async ({ dns, start }) => {
    dns.setAAAA('api.svc.test', ['::1']);
    const d = start({ family: 'ipv4' });
    await d.waitFor('does-not-exist', () => d.updates.length === 1);
    expect(d.updates[0]).toMatchObject({ type: 'does-not-exist' });
    expect(d.resolutions[0].result).toBe('nodata');
    expect(d.resolutions[0].error).toBeUndefined();
  });

  it('the first answer being NXDOMAIN is reported as does-not-exist', async ({ dns, start }) => {
    const d = start({ target: { kind: 'dns', name: 'missing.svc.test', port: 80 } });
    await d.waitFor('does-not-exist', () => d.updates.length === 1);
    expect(d.updates[0].type).toBe('does-not-exist');
    expect(d.resolutions[0].result).toBe('nxdomain');
  });
});

describe.concurrent('address families', () => {
  it('ipv6 uses AAAA only, with bracketed keys', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    dns.setAAAA('api.svc.test', ['::1', 'fd00::2']);
    const d = start({ family: 'ipv6' });
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(d.updates[0]).toEqual({
      type: 'reset',
      endpoints: [
        { key: '[::1]:8080', host: '::1', port: 8080, weight: 1 },
        { key: '[fd00::2]:8080', host: 'fd00::2', port: 8080, weight: 1 },
      ],
    });
    expect(dns.queryCount('api.svc.test', 'A')).toBe(0);
  });

  it('any: the union of A and AAAA', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    dns.setAAAA('api.svc.test', ['::1']);
    const d = start({ family: 'any' });
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(keysOf(d.updates[0]).sort()).toEqual(['10.0.0.1:8080', '[::1]:8080']);
  });

  it('any: NODATA on A with data on AAAA is a success', async ({ dns, start }) => {
    dns.setAAAA('api.svc.test', ['::1']);
    const d = start({ family: 'any' });
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(keysOf(d.updates[0])).toEqual(['[::1]:8080']);
    expect(d.resolutions[0].result).toBe('success');
  });

  it('any: SERVFAIL on one family while the other answers is a failure that keeps the last good set', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    dns.setAAAA('api.svc.test', ['::1']);
    const d = start({ family: 'any' });
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setMode('api.svc.test', 'servfail', 'AAAA');
    const n = d.resolutions.length;
    await d.waitFor('two servfails', () => d.resolutions.slice(n).filter((r) => r.result === 'servfail').length >= 2);
    expect(d.updates).toHaveLength(1);
  });

  it('any: NXDOMAIN on both families is does-not-exist', async ({ dns, start }) => {
    const d = start({ family: 'any', target: { kind: 'dns', name: 'gone.svc.test', port: 80 } });
    await d.waitFor('does-not-exist', () => d.updates.length === 1);
    expect(d.updates[0].type).toBe('does-not-exist');
    expect(d.resolutions[0].result).toBe('nxdomain');
    expect(dns.queryCount('gone.svc.test', 'A')).toBeGreaterThanOrEqual(1);
    expect(dns.queryCount('gone.svc.test', 'AAAA')).toBeGreaterThanOrEqual(1);
  });

  it('any: NODATA on both families is does-not-exist with result nodata', async ({ dns, start }) => {
    dns.setSrv('api.svc.test', [{ target: 'x.svc.test', port: 1, weight: 1 }]);
    const d = start({ family: 'any' });
    await d.waitFor('does-not-exist', () => d.updates.length === 1);
    expect(d.resolutions[0].result).toBe('nodata');
  });
});

describe.concurrent('SRV records', () => {
  it('ports and weights come from the records; weight 0 becomes 1; only the lowest priority is used', async ({ dns, start }) => {
    dns.setSrv('_http._tcp.api.svc.test', [
      { target: 'pod-a.api.svc.test', port: 8080, weight: 10 },
      { target: 'pod-b.api.svc.test', port: 9090, weight: 0 },
      { target: 'pod-c.api.svc.test', port: 7070, weight: 5 },
      { target: 'backup.api.svc.test', port: 6060, weight: 50, priority: 10 },
    ]);
    dns.setA('pod-a.api.svc.test', ['10.0.0.1']);
    dns.setA('pod-b.api.svc.test', ['10.0.0.2']);
    dns.setA('pod-c.api.svc.test', ['10.0.0.3', '10.0.0.4']);
    dns.setA('backup.api.svc.test', ['10.0.0.99']);
    const d = start({ target: { kind: 'srv', name: '_http._tcp.api.svc.test' } });
    expect(d.discovery.description).toBe('srv:_http._tcp.api.svc.test');
    await d.waitFor('reset', () => d.updates.length === 1);
    expect(d.updates[0]).toEqual({
      type: 'reset',
      endpoints: [
        { key: '10.0.0.1:8080', host: '10.0.0.1', port: 8080, weight: 10 },
        { key: '10.0.0.2:9090', host: '10.0.0.2', port: 9090, weight: 1 },
        { key: '10.0.0.3:7070', host: '10.0.0.3', port: 7070, weight: 5 },
        { key: '10.0.0.4:7070', host: '10.0.0.4', port: 7070, weight: 5 },
      ],
    });
    expect(dns.queryCount('backup.api.svc.test')).toBe(0);
  });

  it('a weight change is an add of the same key; a removed record is a remove', async ({ dns, start }) => {
    dns.setSrv('_grpc._tcp.api.svc.test', [
      { target: 'pod-a.api.svc.test', port: 50051, weight: 1 },
      { target: 'pod-b.api.svc.test', port: 50051, weight: 1 },
    ]);
    dns.setA('pod-a.api.svc.test', ['10.0.0.1']);
    dns.setA('pod-b.api.svc.test', ['10.0.0.2']);
    const d = start({ target: { kind: 'srv', name: '_grpc._tcp.api.svc.test' } });
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setSrv('_grpc._tcp.api.svc.test', [{ target: 'pod-a.api.svc.test', port: 50051, weight: 3 }]);
    await d.waitFor('add + remove', () => d.updates.length === 3);
    expect(d.updates.slice(1)).toEqual([
      { type: 'add', endpoints: [{ key: '10.0.0.1:50051', host: '10.0.0.1', port: 50051, weight: 3 }] },
      { type: 'remove', keys: ['10.0.0.2:50051'] },
    ]);
  });

  it('a target failing with SERVFAIL fails the attempt; NXDOMAIN for the SRV name is does-not-exist', async ({ dns, start }) => {
    dns.setSrv('_x._tcp.api.svc.test', [
      { target: 'pod-a.api.svc.test', port: 1000, weight: 1 },
      { target: 'pod-b.api.svc.test', port: 1000, weight: 1 },
    ]);
    dns.setA('pod-a.api.svc.test', ['10.0.0.1']);
    dns.setA('pod-b.api.svc.test', ['10.0.0.2']);
    const d = start({ target: { kind: 'srv', name: '_x._tcp.api.svc.test' } });
    await d.waitFor('reset', () => d.updates.length === 1);
    dns.setMode('pod-b.api.svc.test', 'servfail');
    const n = d.resolutions.length;
    await d.waitFor('servfail', () => d.resolutions.slice(n).some((r) => r.result === 'servfail'));
    expect(d.updates).toHaveLength(1);
    dns.remove('_x._tcp.api.svc.test');
    await d.waitFor('does-not-exist', () => d.updates.length === 2);
    expect(d.updates[1]).toMatchObject({ type: 'does-not-exist' });
  });
});

describe.concurrent('stop()', () => {
  it('stop right after start: no update ever', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    const d = start();
    d.discovery.stop();
    await sleep(400);
    expect(d.updates).toHaveLength(0);
    expect(d.resolutions).toHaveLength(0);
  });

  it('stop while running: no further updates even when the set changes', async ({ dns, start }) => {
    dns.setA('api.svc.test', ['10.0.0.1']);
    const d = start({ refreshMs: 100 });
    await d.waitFor('reset', () => d.updates.length === 1);
    d.discovery.stop();
    const resolutions = d.resolutions.length;
    const queries = dns.queryCount('api.svc.test');
    dns.setA('api.svc.test', ['10.0.0.2']);
    await sleep(400);
    expect(d.updates).toHaveLength(1);
    expect(d.resolutions).toHaveLength(resolutions);
    // At most the one query that may have been in flight.
    expect(dns.queryCount('api.svc.test')).toBeLessThanOrEqual(queries + 1);
  });

  it('stop cancels a pending query', async ({ dns, start }) => {
    dns.setMode('api.svc.test', 'drop');
    const d = start({ queryTimeoutMs: 1000 });
    await sleep(100);
    expect(dns.queryCount('api.svc.test')).toBe(1);
    d.discovery.stop();
    await sleep(1300);
    expect(d.resolutions).toHaveLength(0);
    expect(d.updates).toHaveLength(0);
  });
});

test('options are validated, all problems at once', () => {
  expect(() =>
    createDnsDiscovery({
      target: { kind: 'dns', name: '', port: 0 },
      upstream: 'x',
      refreshMs: 0,
      respectTtl: false,
      family: 'ipv4',
      server: { host: 'not-an-ip', port: 53 },
    }),
  ).toThrow(expect.objectContaining({ code: 'RS_ERR_CONFIG', problems: expect.arrayContaining([expect.objectContaining({ key: 'dns.server' })]) }));
});

// Why the README asks for fully qualified names: node:dns Resolver methods use c-ares ares_query, which does not
// apply resolv.conf search domains or ndots (c-ares reads them from LOCALDOMAIN / RES_OPTIONS too, so the child
// process below runs as if resolv.conf said `search example.org cluster.local` and `options ndots:5`).
it('Resolver.resolve4 sends names as given: no search domains even under ndots:5', async ({ dns }) => {
  dns.setA('api.svc.test', ['10.0.0.1']);
  dns.setA('api.svc.test.example.org', ['10.0.0.9']);
  dns.setA('api.example.org', ['10.0.0.8']);
  const child = `import { Resolver } from 'node:dns/promises';
    const r = new Resolver({ timeout: 500, tries: 1 }); r.setServers([process.argv[1]]);
    for (const n of ['api.svc.test', 'api.svc.test.', 'api']) {
      try { console.log(n, (await r.resolve4(n)).join(',')); } catch (e) { console.log(n, e.code); }
    }`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child, dns.address], {
    env: { ...process.env, LOCALDOMAIN: 'example.org cluster.local', RES_OPTIONS: 'ndots:5' },
  });
  expect(stdout.trim().split('\n')).toEqual(['api.svc.test 10.0.0.1', 'api.svc.test. 10.0.0.1', 'api ENOTFOUND']);
  expect(dns.log.map((q) => q.name)).toEqual(['api.svc.test', 'api.svc.test', 'api']);
});
