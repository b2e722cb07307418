// Act 1 of the demo: why affinity matters. The same ten clients call the
// recommendations service through a ringside listener; the pods' caches
// thrash when one pod sees too many different queries. Prints one progress
// line per period and a table per pod, and returns the totals.

import type { Upstream } from '../../lib/upstream/upstream.ts';
import { startPacedClients } from './paced-clients.ts';
import type { RecommendationsReplica } from './recommendations-replica.ts';
import { formatTable } from './table.ts';

export interface AffinityActOptions {
  /** Printed before the table, e.g. `1a round robin`. */
  readonly label: string;
  /** The ringside listener, e.g. `http://127.0.0.1:15001`. */
  readonly baseUrl: string;
  readonly pods: readonly RecommendationsReplica[];
  /** The ringside upstream behind the listener (read-only: to show which pods its outlier detection ejected). */
  readonly upstream: Upstream;
  readonly queries: readonly string[];
  readonly periodMs: number;
  readonly periods: number;
  /** Also list which queries each pod served (useful when each pod owns a few). */
  readonly listQueries: boolean;
  readonly say: (line: string) => void;
}

export interface AffinityActResult {
  readonly sent: number;
  readonly failed: number;
  readonly perPod: readonly { key: string; requests: number; failures: number; queries: number }[];
  /** Pods ringside ejected at some point of the act. */
  readonly ejected: readonly string[];
}

export async function runAffinityAct(options: AffinityActOptions): Promise<AffinityActResult> {
  const { pods, say } = options;
  for (const pod of pods) pod.reset();
  const clients = startPacedClients({
    baseUrl: options.baseUrl,
    queries: options.queries,
    periodMs: options.periodMs,
    periods: options.periods,
    timeoutMs: 2_000,
  });
  const startedAt = performance.now();
  const everEjected = new Set<string>();
  const ejectedNow = (): string[] => pods.filter((p) => options.upstream.endpoints.get(p.key)?.state === 'ejected').map((p) => p.host);
  const watchEjections = setInterval(() => ejectedNow().forEach((h) => everEjected.add(h)), 50);
  const progress = setInterval(() => {
    const t = clients.totals;
    const thrashing = pods.filter((p) => p.isThrashing()).map((p) => p.host);
    const ejected = ejectedNow();
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(2);
    say(
      `    [${seconds} s] sent ${String(t.sent).padStart(3)}   ok ${String(t.ok).padStart(3)}   failed ${String(t.failed).padStart(3)}` +
        `   thrashing now: ${thrashing.length ? thrashing.join(', ') : 'none'}${ejected.length ? `   ejected by ringside: ${ejected.join(', ')}` : ''}`,
    );
  }, 1_000);
  const totals = await clients.done.finally(() => {
    clearInterval(progress);
    clearInterval(watchEjections);
  });

  const perPod = pods.map((p) => ({ key: p.key, requests: p.stats.requests, failures: p.stats.failures, queries: p.stats.queries.size }));
  const rows = pods.map((p) => {
    const row: (string | number)[] = [p.key, p.stats.requests, p.stats.failures, p.stats.queries.size];
    if (options.listQueries) row.push([...p.stats.queries].sort().join(' '));
    return row;
  });
  const headers = ['pod', 'requests', 'failed (503)', 'distinct queries'];
  if (options.listQueries) headers.push('queries it served');
  const sum = (f: (p: RecommendationsReplica) => number): number => pods.reduce((a, p) => a + f(p), 0);
  say('');
  say(formatTable({ headers, rows, footer: ['total', sum((p) => p.stats.requests), sum((p) => p.stats.failures), options.queries.length], indent: '    ' }));
  const reasons = [...totals.failuresByReason].map(([r, n]) => `${n} x ${r}`).join(', ');
  const percent = totals.sent === 0 ? 0 : Math.round((100 * totals.failed) / totals.sent);
  say('');
  say(`  Act ${options.label}: ${totals.failed} of ${totals.sent} requests failed (${percent}%)${reasons ? `: ${reasons}` : ''}.`);
  const ejected = pods.map((p) => p.host).filter((h) => everEjected.has(h));
  if (ejected.length > 0) {
    say(`  ringside's outlier detection ejected ${ejected.join(', ')} for failing, which only moved their queries onto`);
    say('  the other pods and made those thrash too: ejection cannot fix what the balancing policy causes.');
  }
  return { sent: totals.sent, failed: totals.failed, perPod, ejected };
}
