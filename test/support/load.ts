// A bounded load generator for end-to-end tests: N concurrent callers, each
// awaiting one call at a time, stopping at whichever comes first of a total
// call count, a time limit or stop(). Every outcome is counted per label (the
// replica that answered) and every failure is kept, so a test can assert
// "zero failed requests" and "who served what, when".
//
//   const load = startLoad(async () => (await unary(client, { count: 20 })).replica, { concurrency: 20, maxCalls: 2000, maxMs: 4000 });
//   ...change something...
//   const stats = await load.stop();
//   expect(stats.failures).toEqual([]);

export interface LoadOptions {
  /** Callers running at once (each has at most one call in flight). */
  readonly concurrency: number;
  /** Hard limit on calls started, over all callers. */
  readonly maxCalls: number;
  /** Hard limit on time: no call starts after this many ms. */
  readonly maxMs: number;
}

export interface LoadFailure {
  /** Index of the call (0-based, in start order). */
  readonly call: number;
  /** ms since the load started. */
  readonly at: number;
  readonly error: string;
}

export interface LoadStats {
  started: number;
  succeeded: number;
  failed: number;
  /** Successful calls per label (what the call function returned). */
  readonly byLabel: Map<string, number>;
  /** First success per label, in ms since the load started. */
  readonly firstAt: Map<string, number>;
  /** Last success per label, in ms since the load started (when the call was started). */
  readonly lastStartedAt: Map<string, number>;
  readonly failures: LoadFailure[];
  /** performance.now() when the load started. */
  readonly startedAt: number;
  /** ms the load ran, set when it is done. */
  durationMs: number;
}

export interface RunningLoad {
  /** Live counters (read while the load runs). */
  readonly stats: LoadStats;
  /** Resolves when every caller stopped (a limit was reached or stop() was called). */
  readonly done: Promise<LoadStats>;
  /** Start no new calls, wait for the ones in flight. */
  stop(): Promise<LoadStats>;
}

/** Describe an error in one line: gRPC code and details, HTTP status, or the message. */
function describeError(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    if (typeof e.details === 'string') return `code ${String(e.code)}: ${e.details}`;
    if (typeof e.message === 'string') return e.code === undefined ? e.message : `${String(e.code)}: ${e.message}`;
  }
  return String(err);
}

export function startLoad(call: (index: number) => Promise<string>, options: LoadOptions): RunningLoad {
  if (!(options.concurrency >= 1 && options.maxCalls >= 1 && options.maxMs > 0)) {
    throw new RangeError('startLoad: concurrency and maxCalls must be >= 1 and maxMs > 0');
  }
  const startedAt = performance.now();
  const deadline = startedAt + options.maxMs;
  const stats: LoadStats = {
    started: 0,
    succeeded: 0,
    failed: 0,
    byLabel: new Map(),
    firstAt: new Map(),
    lastStartedAt: new Map(),
    failures: [],
    startedAt,
    durationMs: 0,
  };
  let stopped = false;

  const caller = async (): Promise<void> => {
    while (!stopped && stats.started < options.maxCalls && performance.now() < deadline) {
      const index = stats.started++;
      const began = performance.now() - startedAt;
      try {
        const label = await call(index);
        stats.succeeded++;
        stats.byLabel.set(label, (stats.byLabel.get(label) ?? 0) + 1);
        if (!stats.firstAt.has(label)) stats.firstAt.set(label, performance.now() - startedAt);
        stats.lastStartedAt.set(label, began);
      } catch (err) {
        stats.failed++;
        stats.failures.push({ call: index, at: performance.now() - startedAt, error: describeError(err) });
      }
    }
  };

  const done = Promise.all(Array.from({ length: options.concurrency }, caller)).then(() => {
    stats.durationMs = performance.now() - startedAt;
    return stats;
  });
  return {
    stats,
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}
