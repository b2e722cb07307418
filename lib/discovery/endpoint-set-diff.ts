// The difference between two endpoint sets, as the `add` / `remove` updates of
// the discovery stream need it. Order never matters: sets are keyed by `key`.

import type { EndpointAddress } from './discovery.ts';

export interface EndpointSetDiff {
  /** New keys, and keys whose weight changed; sorted by key. */
  readonly added: readonly EndpointAddress[];
  /** Keys present before and gone now; sorted. */
  readonly removed: readonly string[];
}

export function diffEndpointSets(
  previous: ReadonlyMap<string, EndpointAddress>,
  next: ReadonlyMap<string, EndpointAddress>,
): EndpointSetDiff {
  const added: EndpointAddress[] = [];
  const removed: string[] = [];
  for (const [key, endpoint] of next) {
    const before = previous.get(key);
    if (before === undefined || before.weight !== endpoint.weight) added.push(endpoint);
  }
  for (const key of previous.keys()) {
    if (!next.has(key)) removed.push(key);
  }
  added.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  removed.sort();
  return { added, removed };
}
