// One pod of the recommendations service from the client-side load balancing
// story. It keeps a small cache of results per query; when one pod has to
// serve too many different queries its cache thrashes and it falls over:
// once it has seen more than `maxDistinctQueries` distinct `query` values
// within `windowMs`, it answers every request with 503 for `penaltyMs`.
// Sending each query to the same pod (affinity) keeps every cache small.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { startHttpReplica, type Replica } from '../../test/support/http-replicas.ts';

export interface CacheRules {
  readonly maxDistinctQueries: number;
  readonly windowMs: number;
  readonly penaltyMs: number;
}

export interface RecommendationsStats {
  requests: number;
  /** Requests answered 503 (thrashing). */
  failures: number;
  /** Every distinct query this pod was asked for since the last reset. */
  readonly queries: Set<string>;
}

export interface RecommendationsReplica {
  readonly host: string;
  readonly port: number;
  /** `HOST:PORT`, as ringside keys endpoints. */
  readonly key: string;
  readonly stats: RecommendationsStats;
  /** True while the pod answers 503. */
  isThrashing(): boolean;
  /** Empty cache, no penalty, counters at zero: a freshly started pod. */
  reset(): void;
  close(): Promise<void>;
}

const ITEMS: Record<string, string[]> = {};
const itemsFor = (query: string): string[] => (ITEMS[query] ??= [1, 2, 3].map((i) => `${query}-pick-${i}`));

export async function startRecommendationsReplica(host: string, port: number, rules: CacheRules): Promise<RecommendationsReplica> {
  let stats: RecommendationsStats = { requests: 0, failures: 0, queries: new Set() };
  /** The queries of the last `windowMs`, oldest first. */
  let recent: { at: number; query: string }[] = [];
  let thrashingUntil = 0;

  const handle = (req: IncomingMessage, res: ServerResponse, replica: Replica): void => {
    const now = performance.now();
    const query = new URL(req.url ?? '/', 'http://recs').searchParams.get('query') ?? '';
    stats.requests++;
    stats.queries.add(query);
    // Every request touches the cache, including while it is thrashing.
    recent.push({ at: now, query });
    while (recent.length > 0 && recent[0].at <= now - rules.windowMs) recent.shift();
    if (now >= thrashingUntil) {
      const distinct = new Set(recent.map((r) => r.query)).size;
      if (distinct > rules.maxDistinctQueries) thrashingUntil = now + rules.penaltyMs;
    }
    res.setHeader('x-replica', replica.host);
    res.setHeader('content-type', 'application/json');
    if (now < thrashingUntil) {
      stats.failures++;
      res.statusCode = 503;
      res.end(JSON.stringify({ error: `cache thrashing: more than ${rules.maxDistinctQueries} distinct queries within ${rules.windowMs} ms`, replica: replica.host }));
      return;
    }
    res.end(JSON.stringify({ query, replica: replica.host, items: itemsFor(query) }));
  };

  const replica = await startHttpReplica(host, {
    host,
    port,
    handler: (req, res, r) => {
      // Drain the (empty) request body so keep-alive connections stay usable.
      req.resume();
      handle(req as IncomingMessage, res as ServerResponse, r);
    },
  });
  return {
    host,
    port: replica.port,
    key: replica.key,
    get stats() {
      return stats;
    },
    isThrashing: () => performance.now() < thrashingUntil,
    reset() {
      stats = { requests: 0, failures: 0, queries: new Set() };
      recent = [];
      thrashingUntil = 0;
    },
    close: () => replica.close(),
  };
}
