import { expect, test } from 'vitest';
import type { DiscoveryUpdate, ResolutionResult } from '../discovery.ts';
import { createEndpointAddress } from '../endpoint-address.ts';
import { createStaticDiscovery } from './static-discovery.ts';

const endpoints = [createEndpointAddress('127.0.0.1', 8081), createEndpointAddress('::1', 8082)];

test('one reset, asynchronously, then success', async () => {
  const updates: DiscoveryUpdate[] = [];
  const results: ResolutionResult[] = [];
  const discovery = createStaticDiscovery(endpoints);
  expect(discovery.description).toBe('static:127.0.0.1:8081,[::1]:8082');
  discovery.start({ onUpdate: (u) => updates.push(u), onResolution: (r) => results.push(r) });
  expect(updates).toEqual([]);
  await new Promise((resolve) => setImmediate(resolve));
  expect(updates).toEqual([{ type: 'reset', endpoints }]);
  expect(results).toEqual(['success']);
  discovery.stop();
});

test('stop before the first update: nothing is delivered', async () => {
  const updates: DiscoveryUpdate[] = [];
  const discovery = createStaticDiscovery(endpoints);
  discovery.start({ onUpdate: (u) => updates.push(u) });
  discovery.stop();
  await new Promise((resolve) => setImmediate(resolve));
  expect(updates).toEqual([]);
});
