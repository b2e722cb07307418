import { expect, test } from 'vitest';
import type { EndpointAddress } from './discovery.ts';
import { createEndpointAddress, endpointKey } from './endpoint-address.ts';
import { diffEndpointSets } from './endpoint-set-diff.ts';

const set = (...endpoints: EndpointAddress[]) => new Map(endpoints.map((e) => [e.key, e]));

test('keys are HOST:PORT, IPv6 in brackets', () => {
  expect(endpointKey('10.0.0.1', 80)).toBe('10.0.0.1:80');
  expect(endpointKey('fd00::1', 80)).toBe('[fd00::1]:80');
  expect(createEndpointAddress('::1', 8080, 3)).toEqual({ key: '[::1]:8080', host: '::1', port: 8080, weight: 3 });
});

test('added, removed and re-weighted endpoints, sorted; order of the input never matters', () => {
  const a = createEndpointAddress('10.0.0.1', 80);
  const b = createEndpointAddress('10.0.0.2', 80);
  const c = createEndpointAddress('10.0.0.3', 80);
  const b3 = createEndpointAddress('10.0.0.2', 80, 3);
  expect(diffEndpointSets(set(a, b), set(b, a))).toEqual({ added: [], removed: [] });
  expect(diffEndpointSets(set(a, b), set(c, b3))).toEqual({ added: [b3, c], removed: ['10.0.0.1:80'] });
  expect(diffEndpointSets(set(), set(c, a))).toEqual({ added: [a, c], removed: [] });
});
