// The Node.js peers' own small consistent-hash pick (they have none built in):
// xxHash32 of the `key` query parameter on a sorted ring of 160 points per
// upstream, found by binary search. Kept deliberately plain: it stands for
// what a team would write around node-http-proxy or @fastify/http-proxy.

import xxhashWasm from 'xxhash-wasm';

const POINTS_PER_UPSTREAM = 160;

export interface HashPick<T> {
  pick(key: string): T;
}

export async function createHashPick<T>(upstreams: readonly { id: string; value: T }[]): Promise<HashPick<T>> {
  const { h32 } = await xxhashWasm();
  const points: { hash: number; value: T }[] = [];
  for (const u of upstreams) for (let i = 0; i < POINTS_PER_UPSTREAM; i++) points.push({ hash: h32(`${u.id}-${i}`), value: u.value });
  points.sort((a, b) => a.hash - b.hash);
  const hashes = Uint32Array.from(points, (p) => p.hash);
  const values = points.map((p) => p.value);
  return {
    pick(key: string): T {
      const h = h32(key);
      let lo = 0;
      let hi = hashes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (hashes[mid] < h) lo = mid + 1;
        else hi = mid;
      }
      return values[lo === hashes.length ? 0 : lo];
    },
  };
}

/** The value of query parameter `name` in a request target, or '' (no decoding: the keys are plain). */
export function queryParam(url: string, name: string): string {
  const q = url.indexOf('?');
  if (q < 0) return '';
  const needle = name + '=';
  let at = url.indexOf(needle, q + 1);
  while (at > 0 && url[at - 1] !== '?' && url[at - 1] !== '&') at = url.indexOf(needle, at + 1);
  if (at < 0) return '';
  const end = url.indexOf('&', at);
  return url.slice(at + needle.length, end < 0 ? url.length : end);
}

/** Parse `HOST:PORT[,HOST:PORT...]`. */
export function parseUpstreams(list: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const colon = hp.lastIndexOf(':');
    return { host: hp.slice(0, colon), port: Number(hp.slice(colon + 1)) };
  });
}
