import { expect, test } from 'vitest';
import { suggestClosest } from './suggest.ts';

test.each([
  ['lbb', ['lb', 'listen'], 'lb'],
  ['lsiten', ['lb', 'listen'], 'listen'],
  ['hash-heder', ['hash-header', 'hash-query'], 'hash-header'],
  ['RINGSIDE_LSTEN', ['RINGSIDE_LISTEN', 'RINGSIDE_LB'], 'RINGSIDE_LISTEN'],
  ['protocol', ['upstreamProtocol', 'lb'], 'upstreamProtocol'],
  ['xyz', ['lb', 'listen'], undefined],
  ['anything', [], undefined],
])('%s -> %s', (input, candidates, expected) => {
  expect(suggestClosest(input, candidates)).toBe(expected);
});
