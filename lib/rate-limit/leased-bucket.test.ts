// The leased bucket's bookkeeping, against a lease source that records what
// was asked and answers when the test says (the Redis side runs for real in
// test/rate-limit-global.test.ts).

import { describe, expect, test } from 'vitest';
import { LEASE_TIMEOUT_MS, LEASE_TTL_MS, LeasedBucket, type LeaseSource } from './leased-bucket.ts';

class Source implements LeaseSource {
  reachable = true;
  failClosed = false;
  readonly asked: number[] = [];
  timeouts = 0;
  lease(_bucket: LeasedBucket, want: number): void {
    this.asked.push(want);
  }
  leaseTimedOut(): void {
    this.timeouts++;
    this.reachable = false;
  }
}

function bucket(rate: number, burst: number, source = new Source()): { b: LeasedBucket; source: Source } {
  return { b: new LeasedBucket(source, 'k', 'm', rate, burst, 0), source };
}

describe('LeasedBucket', () => {
  test('leases at once; batches are about 100 ms of this sidecar share (50/s, 2 sidecars: 3), at least 1', () => {
    const { b, source } = bucket(50, 50);
    expect(source.asked).toEqual([5]); // alone so far: 50/s x 100 ms
    b.leased(5, 0, 2, 1);
    expect(b.batch).toBe(3);
    const low = bucket(1, 1);
    low.b.leased(1, 0, 2, 1);
    expect(low.b.batch).toBe(1);
  });

  test('the first request goes on credit, repaid from the first lease; then only leased tokens admit', () => {
    const { b, source } = bucket(50, 50);
    expect(b.take(1)).toBe(0); // credit: the lease is still on its way
    expect(b.take(2)).toBeGreaterThan(0);
    b.leased(5, 0, 1, 3); // 1 repays the credit
    let admitted = 0;
    for (let t = 4; t < 14; t++) if (b.take(t) === 0) admitted++;
    expect(admitted).toBe(4);
    // Half the batch used: the next lease was asked for in the background.
    expect(source.asked.length).toBeGreaterThan(1);
  });

  test('a short answer (0 granted) waits for Redis\'s estimate before asking again, and refuses meanwhile with it', () => {
    const { b, source } = bucket(50, 50);
    b.take(0);
    b.leased(0, 0, 1, 1); // all of it repaid nothing: still in debt
    b.leased(0, 20, 1, 1);
    const asked = source.asked.length;
    expect(b.take(5)).toBe(20);
    expect(source.asked.length).toBe(asked);
    b.take(22);
    expect(source.asked.length).toBe(asked + 1);
  });

  test('no credit once Redis has answered: a bucket whose first lease came back empty refuses its first request', () => {
    const { b } = bucket(1, 1);
    b.leased(0, 900, 2, 1);
    expect(b.take(2)).toBe(900);
  });

  test('at low rates (batches of 1), a lease that only repaid the credit is followed at once by the next, so the next request finds a token', () => {
    const { b, source } = bucket(1, 3);
    expect(b.take(1)).toBe(0); // credit
    b.leased(1, 0, 2, 2); // repays it; nothing left
    expect(source.asked).toEqual([1, 1]);
    b.leased(1, 0, 2, 3);
    expect(source.asked).toHaveLength(2); // one token held: enough
    expect(b.take(4)).toBe(0);
  });

  test('leased tokens unused for a second are dropped; the next request goes on credit (one) while a lease is asked for', () => {
    const { b, source } = bucket(50, 50);
    b.leased(5, 0, 1, 0);
    expect(b.take(1)).toBe(0);
    expect(b.tokens).toBe(4);
    const asked = source.asked.length;
    expect(b.take(LEASE_TTL_MS + 1)).toBe(0);
    expect(b.tokens).toBe(0);
    expect(source.asked.length).toBe(asked + 1);
    expect(b.take(LEASE_TTL_MS + 2)).toBeGreaterThan(0); // one credit at most
    b.leased(5, 0, 1, LEASE_TTL_MS + 3); // repays it
    expect(b.debt).toBe(0);
    expect(b.tokens).toBe(4);
  });

  test('a lease unanswered for 250 ms is a failure: fail open admits, fail closed refuses', () => {
    const open = bucket(50, 50);
    open.b.leased(1, 0, 1, 0);
    open.b.take(1);
    open.b.take(2); // lease in flight from here
    expect(open.b.take(3 + LEASE_TIMEOUT_MS)).toBe(0);
    expect(open.source.timeouts).toBe(1);
    const closedSource = new Source();
    closedSource.failClosed = true;
    closedSource.reachable = false;
    const closed = bucket(50, 50, closedSource);
    expect(closed.b.take(1)).toBeGreaterThan(0);
  });
});
