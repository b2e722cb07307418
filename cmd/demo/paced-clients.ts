// The load of act 1: a few clients, each asking for its own query once per
// period, at a random moment within the period (real clients are not in
// lock-step, and a lock-step schedule would hide what round robin does).
// Bounded: exactly `periods` requests per client, each with a timeout.

import { Agent, request } from 'undici';

export interface PacedClientsOptions {
  /** e.g. `http://127.0.0.1:15001`; each client asks for `/recommendations?query=Q`. */
  readonly baseUrl: string;
  /** One client per query. */
  readonly queries: readonly string[];
  readonly periodMs: number;
  readonly periods: number;
  readonly timeoutMs: number;
}

export interface PacedClientsTotals {
  sent: number;
  ok: number;
  failed: number;
  /** Failures by status code, or by error code when there was no response. */
  readonly failuresByReason: Map<string, number>;
}

export interface RunningPacedClients {
  /** Live totals. */
  readonly totals: PacedClientsTotals;
  /** Resolves when every client sent its last request and got its answer. */
  readonly done: Promise<PacedClientsTotals>;
}

const sleepUntil = (at: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));

export function startPacedClients(options: PacedClientsOptions): RunningPacedClients {
  // Keep-alive connections to the sidecar, as an application's HTTP client would keep.
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: options.queries.length });
  const totals: PacedClientsTotals = { sent: 0, ok: 0, failed: 0, failuresByReason: new Map() };
  const startedAt = performance.now();
  const fail = (reason: string): void => {
    totals.failed++;
    totals.failuresByReason.set(reason, (totals.failuresByReason.get(reason) ?? 0) + 1);
  };

  const client = async (query: string): Promise<void> => {
    const url = `${options.baseUrl}/recommendations?query=${encodeURIComponent(query)}`;
    for (let period = 0; period < options.periods; period++) {
      await sleepUntil(startedAt + (period + Math.random()) * options.periodMs);
      totals.sent++;
      try {
        const res = await request(url, { dispatcher: agent, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
        await res.body.dump();
        if (res.statusCode === 200) totals.ok++;
        else fail(`HTTP ${res.statusCode}`);
      } catch (err) {
        fail((err as { code?: string }).code ?? (err as Error).message);
      }
    }
  };

  const done = Promise.all(options.queries.map(client)).then(async () => {
    await agent.close();
    return totals;
  });
  return { totals, done };
}
