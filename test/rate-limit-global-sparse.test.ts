// A global rate limit (issue 24) must not refuse a client that is far under
// it. Leased tokens expire after LEASE_TTL_MS unused, so a bucket that saw no
// request for longer than that holds none when the next one comes, and Redis
// answers only after that request was decided: the request must not be
// refused for it (a client calling every 1.5 s under a 50/s limit got 429 on
// every call but the first). Real redis-server and ringside processes, as in
// test/rate-limit-global.test.ts.

import { afterEach, describe, expect, it } from 'vitest';
import { LEASE_TTL_MS } from '../lib/rate-limit/leased-bucket.ts';
import { startHttpReplica } from './support/http-replicas.ts';
import { startRedisServer } from './support/redis-server.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';
import { sleep } from './support/wait.ts';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function ringside(args: string[]): Promise<RingsideProcess> {
  const p = await startRingsideProcess(args);
  cleanups.push(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

async function statuses(p: RingsideProcess, headers: Record<string, string>, count: number, gapMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(gapMs);
    const res = await fetch(`http://127.0.0.1:${p.port}/`, { headers });
    await res.text();
    out.push(res.status);
  }
  return out;
}

describe('global rate limit, a sparse client', () => {
  it('requests further apart than a lease lives, far under the limit, all pass (one bucket, and per key)', async () => {
    const r = await startHttpReplica('r0');
    cleanups.push(() => r.close());
    const server = await startRedisServer();
    cleanups.push(() => server.kill());
    const base = ['--upstream', `static:${r.key}`, '--rate-limit', '50/s', '--rate-limit-redis', server.address];
    const [one, keyed] = await Promise.all([ringside(base), ringside([...base, '--rate-limit-key', 'header:x-tenant'])]);
    const gap = LEASE_TTL_MS + 300;
    const [a, b] = await Promise.all([statuses(one, {}, 4, gap), statuses(keyed, { 'x-tenant': 'sparse' }, 4, gap)]);
    expect({ one: a, keyed: b }).toEqual({ one: [200, 200, 200, 200], keyed: [200, 200, 200, 200] });
    expect(r.requests).toBe(8);
  }, 30_000);
});
