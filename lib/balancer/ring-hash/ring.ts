// The consistent-hash ring: built once from an endpoint set, immutable, and
// searched by binary search over typed arrays. Building and picking are
// separate (ring-hash-balancer.ts picks, walks and applies bounded load).
//
// Entry i of an endpoint is placed at xxHash64(`${key}_${i}`), i = 0, 1, 2, ...
// (Envoy ring_hash_lb.cc, gRFC A42). A request hash h maps to the first entry
// whose hash is >= h, wrapping to entry 0 past the end (ketama).
//
// Two ways to size the ring:
// - 'stable': every endpoint gets entriesPerEndpoint x weight entries, whatever
//   the other endpoints are. Adding an endpoint only inserts its own entries, so
//   the only keys that move are the ones the new endpoint takes over (~1/(N+1)).
// - 'envoy': Envoy's and gRPC A42's sizing, so ringside, Envoy and proxyless gRPC
//   pick the same host for the same hash. Weights are normalised to sum to 1,
//   scale = min(ceil(minWeight x minRingSize) / minWeight, maxRingSize), and
//   endpoint j receives entries while a running count stays below the running
//   target sum(scale x weight_0..j) (fractional parts carry over to the next one).
//   Cost: the entries per endpoint depend on N (1024 entries over 4 endpoints is
//   256 each, over 5 it is 205), so scaling 4 -> 5 also removes entries of the
//   unchanged endpoints and moves keys between them: see bench/ring-README.md.
//   With unequal weights, which endpoint gets a carried-over fractional entry
//   depends on endpoint order: Envoy uses its host order, we use key order
//   (test/fixtures/gen-envoy-vectors.c does the same). With equal weights the
//   counts differ at most by a floating-point carry of one entry.
//
// Worked example, envoy mode, minRingSize 6, maxRingSize 6, endpoints
// a:80 (weight 1), b:80 (weight 1), c:80 (weight 2):
//   normalised weights 0.25, 0.25, 0.5; minWeight 0.25;
//   scale = min(ceil(0.25 x 6) / 0.25, 6) = min(8, 6) = 6.
//   a: target 1.5 -> entries "a:80_0", "a:80_1" (count 0 -> 2)
//   b: target 3.0 -> entry   "b:80_0"           (count 2 -> 3)
//   c: target 6.0 -> entries "c:80_0" .. "c:80_2" (count 3 -> 6)
//   Six entries, sorted by hash; min 1, max 3 entries per endpoint.
// In stable mode with entriesPerEndpoint 2 the same set gets 2 + 2 + 4 entries.
//
// Determinism: endpoints are sorted by key (duplicates of a key after the first
// are ignored) before building, so the ring does not depend on input order.
// Entries with equal hashes (a 64-bit collision) are ordered by endpoint key,
// then by entry number i; Envoy's std::sort leaves that order unspecified.

import type { Hash64 } from '../../hash/hash64.ts';
import { xxhash64 } from '../../hash/xxhash64.ts';

export type RingMode = 'stable' | 'envoy';

export interface RingOptions {
  readonly mode: RingMode;
  /** stable mode: entries per unit of weight. */
  readonly entriesPerEndpoint: number;
  /** envoy mode: Envoy's minimum_ring_size. */
  readonly minRingSize: number;
  /** Both modes: hard cap on the number of entries (Envoy's maximum_ring_size). */
  readonly maxRingSize: number;
}

export interface RingEndpoint {
  readonly key: string;
  readonly weight: number;
}

export interface Ring {
  /** Number of entries. */
  readonly entries: number;
  /** Entry hashes, sorted ascending by (hi, lo). */
  readonly hashHi: Uint32Array;
  readonly hashLo: Uint32Array;
  /** For each entry, the index of its endpoint in the array given to buildRing. */
  readonly endpointIndex: Uint32Array;
  /** Fewest / most entries any endpoint got (Envoy's min/max_hashes_per_host). */
  readonly minEntriesPerEndpoint: number;
  readonly maxEntriesPerEndpoint: number;
  /** Index of the first entry whose hash is >= `hash`, wrapping to 0; -1 when the ring is empty. */
  find(hash: Hash64): number;
  /** Entries owned by the endpoint at `endpointIndex` (0 for ignored duplicates). */
  entriesOf(endpointIndex: number): number;
  /** Fraction of the 64-bit hash space whose keys land on that endpoint's entries. */
  share(endpointIndex: number): number;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_64 = 18446744073709551616;

/** Build a ring. Pure: the same (key, weight) set always gives the same ring. */
export function buildRing(endpoints: readonly RingEndpoint[], options: RingOptions): Ring {
  validateOptions(options);
  // Sorted, de-duplicated view of the input: positions into `endpoints`.
  const order: number[] = [];
  for (let i = 0; i < endpoints.length; i++) order.push(i);
  order.sort((x, y) => compareKeys(endpoints[x].key, endpoints[y].key) || x - y);
  const unique: number[] = [];
  for (let i = 0; i < order.length; i++) {
    if (i > 0 && endpoints[order[i]].key === endpoints[order[i - 1]].key) continue;
    const w = endpoints[order[i]].weight;
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`endpoint ${endpoints[order[i]].key}: weight must be an integer >= 1, got ${w}`);
    unique.push(order[i]);
  }

  const counts = options.mode === 'stable' ? stableCounts(endpoints, unique, options) : envoyCounts(endpoints, unique, options);

  let total = 0;
  for (let j = 0; j < counts.length; j++) total += counts[j];
  const rawHi = new Uint32Array(total);
  const rawLo = new Uint32Array(total);
  const rawEndpoint = new Uint32Array(total); // position in `unique` (so key order)
  const rawEntry = new Uint32Array(total); // entry number i
  const h: Hash64 = { hi: 0, lo: 0 };
  let n = 0;
  for (let j = 0; j < unique.length; j++) {
    const prefix = endpoints[unique[j]].key + '_';
    for (let i = 0; i < counts[j]; i++) {
      xxhash64(prefix + i, h);
      rawHi[n] = h.hi;
      rawLo[n] = h.lo;
      rawEndpoint[n] = j;
      rawEntry[n] = i;
      n++;
    }
  }

  const perm = new Uint32Array(total);
  for (let i = 0; i < total; i++) perm[i] = i;
  perm.sort((a, b) => {
    if (rawHi[a] !== rawHi[b]) return rawHi[a] < rawHi[b] ? -1 : 1;
    if (rawLo[a] !== rawLo[b]) return rawLo[a] < rawLo[b] ? -1 : 1;
    return rawEndpoint[a] - rawEndpoint[b] || rawEntry[a] - rawEntry[b];
  });

  const hashHi = new Uint32Array(total);
  const hashLo = new Uint32Array(total);
  const endpointIndex = new Uint32Array(total);
  for (let k = 0; k < total; k++) {
    const p = perm[k];
    hashHi[k] = rawHi[p];
    hashLo[k] = rawLo[p];
    endpointIndex[k] = unique[rawEndpoint[p]];
  }

  const entryCount = new Uint32Array(endpoints.length);
  let minEntries = total === 0 ? 0 : Infinity;
  let maxEntries = 0;
  for (let j = 0; j < unique.length; j++) {
    entryCount[unique[j]] = counts[j];
    minEntries = Math.min(minEntries, counts[j]);
    maxEntries = Math.max(maxEntries, counts[j]);
  }

  // Entry k owns the arc (hash[k-1], hash[k]]; entry 0 also owns the wrap-around arc.
  const shares = new Float64Array(endpoints.length);
  for (let k = 0; k < total; k++) {
    const here = hashHi[k] * TWO_POW_32 + hashLo[k];
    const prev = k === 0 ? hashHi[total - 1] * TWO_POW_32 + hashLo[total - 1] - TWO_POW_64 : hashHi[k - 1] * TWO_POW_32 + hashLo[k - 1];
    shares[endpointIndex[k]] += (here - prev) / TWO_POW_64;
  }
  if (total === 1) shares[endpointIndex[0]] = 1;

  return {
    entries: total,
    hashHi,
    hashLo,
    endpointIndex,
    minEntriesPerEndpoint: minEntries,
    maxEntriesPerEndpoint: maxEntries,
    find(hash: Hash64): number {
      return findEntry(hashHi, hashLo, hash.hi, hash.lo);
    },
    entriesOf(i: number): number {
      return entryCount[i] ?? 0;
    },
    share(i: number): number {
      return shares[i] ?? 0;
    },
  };
}

/** Lower bound of (hi, lo) in the sorted hash arrays, wrapping past the end to 0. */
export function findEntry(hashHi: Uint32Array, hashLo: Uint32Array, hi: number, lo: number): number {
  const n = hashHi.length;
  if (n === 0) return -1;
  let low = 0;
  let high = n;
  // log2(n) + 1 rounds at most.
  while (low < high) {
    const mid = (low + high) >>> 1;
    const mh = hashHi[mid];
    if (mh < hi || (mh === hi && hashLo[mid] < lo)) low = mid + 1;
    else high = mid;
  }
  return low === n ? 0 : low;
}

function stableCounts(endpoints: readonly RingEndpoint[], unique: readonly number[], options: RingOptions): number[] {
  const counts: number[] = [];
  let total = 0;
  for (const u of unique) {
    const c = options.entriesPerEndpoint * endpoints[u].weight;
    counts.push(c);
    total += c;
  }
  if (total > options.maxRingSize) {
    // Safety cap only (sizes are normally far below it): scale everyone down
    // proportionally, at least one entry each. Stability is lost while capped.
    const factor = options.maxRingSize / total;
    for (let j = 0; j < counts.length; j++) counts[j] = Math.max(1, Math.floor(counts[j] * factor));
  }
  return counts;
}

// Envoy's ring sizing, in the same double arithmetic and order of operations
// as RingHashLoadBalancer::Ring::Ring and normalizeHostWeights in Envoy
// (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc,
// source/common/upstream/thread_aware_lb_impl.cc), so the counts agree bit for bit.
function envoyCounts(endpoints: readonly RingEndpoint[], unique: readonly number[], options: RingOptions): number[] {
  const counts: number[] = [];
  if (unique.length === 0) return counts;
  let sum = 0;
  for (const u of unique) sum += endpoints[u].weight;
  const weights: number[] = [];
  let minWeight = 1.0;
  for (const u of unique) {
    const w = (endpoints[u].weight * 1.0) / sum;
    weights.push(w);
    minWeight = Math.min(minWeight, w);
  }
  const scale = Math.min(Math.ceil(minWeight * options.minRingSize) / minWeight, options.maxRingSize);
  let current = 0.0;
  let target = 0.0;
  for (let j = 0; j < unique.length; j++) {
    target += scale * weights[j];
    let i = 0;
    // Ends after at most ceil(scale) + 1 entries in total across all endpoints.
    while (current < target) {
      i++;
      current++;
    }
    counts.push(i);
  }
  return counts;
}

/** Byte-wise order of the keys' UTF-16 code units (keys are ASCII `host:port`). */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function validateOptions(o: RingOptions): void {
  if (o.mode !== 'stable' && o.mode !== 'envoy') throw new RangeError(`ring mode must be 'stable' or 'envoy', got ${String(o.mode)}`);
  if (!Number.isInteger(o.entriesPerEndpoint) || o.entriesPerEndpoint < 1) throw new RangeError('entriesPerEndpoint must be an integer >= 1');
  if (!Number.isInteger(o.minRingSize) || o.minRingSize < 1) throw new RangeError('minRingSize must be an integer >= 1');
  if (!Number.isInteger(o.maxRingSize) || o.maxRingSize < o.minRingSize) throw new RangeError('maxRingSize must be an integer >= minRingSize');
}
