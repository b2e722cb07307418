// Properties of StreamTable (fast-check): after any sequence of set, delete
// and get on stream ids, it holds exactly what a Map given the same sequence
// holds. Ids are drawn so that probe runs collide and wrap around the table
// (ids that differ by multiples of its capacity, the largest ids), which is
// where backward-shift deletion can go wrong.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamTable } from './stream-table.ts';

const id = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((n) => 2 * n + 1), // consecutive client-initiated ids
  fc.integer({ min: 0, max: 12 }).map((n) => 1 + 32 * n), // same home slot at capacities 16 and 32
  fc.integer({ min: 0, max: 6 }).map((n) => 0x7fffffff - 2 * n), // the largest ids
);
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), id, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), id }),
  fc.record({ kind: fc.constant('get' as const), id }),
);

describe('StreamTable', () => {
  it('agrees with a Map on any sequence of set, delete and get', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const table = new StreamTable<number>();
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            table.set(o.id, o.value);
            model.set(o.id, o.value);
          } else if (o.kind === 'delete') expect(table.delete(o.id)).toBe(model.delete(o.id));
          else expect(table.get(o.id)).toBe(model.get(o.id));
          expect(table.size).toBe(model.size);
        }
        for (const [k, v] of model) expect(table.get(k)).toBe(v);
        expect(table.values().sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
      }),
      { numRuns: 500 },
    );
  });

  it('clear empties it, and it keeps working after growing', () => {
    const table = new StreamTable<string>();
    for (let i = 1; i < 400; i += 2) table.set(i, `s${i}`);
    expect(table.size).toBe(200);
    for (let i = 1; i < 400; i += 4) expect(table.delete(i)).toBe(true);
    expect(table.size).toBe(100);
    for (let i = 3; i < 400; i += 4) expect(table.get(i)).toBe(`s${i}`);
    expect(table.get(1)).toBeUndefined();
    table.clear();
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
    expect(table.get(3)).toBeUndefined();
    table.set(3, 'again');
    expect(table.get(3)).toBe('again');
  });
});
