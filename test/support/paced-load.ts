// A paced HTTP/1.1 load: requests started at a fixed rate (not as fast as
// answers come back, so a limiter sees the offered rate), bounded by a count
// and a time limit. Each outcome is kept: when it started, status, the
// rate-limit headers, latency, or the error.

import http from 'node:http';

export interface PacedResult {
  /** ms after the load started when the request was sent. */
  readonly at: number;
  /** 0 when the request failed without a response. */
  readonly status: number;
  readonly error: string | null;
  readonly ringsideError: string | undefined;
  readonly retryAfter: string | undefined;
  readonly latencyMs: number;
}

export interface PacedLoadOptions {
  readonly port: number;
  readonly perSecond: number;
  readonly durationMs: number;
  readonly path?: string;
}

/** Send `perSecond` requests a second for `durationMs` (at most perSecond x duration of them); resolves when all answered. */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedResult[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.floor((options.perSecond * options.durationMs) / 1000);
  const interval = 1000 / options.perSecond;
  const start = performance.now();
  const pending: Promise<PacedResult>[] = [];
  for (let i = 0; i < total; i++) {
    // Paced against the start, so a slow turn of the event loop does not lower the rate.
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(agent, options.port, options.path ?? `/p${i}`, start));
  }
  const results = await Promise.all(pending);
  agent.destroy();
  return results;
}

function one(agent: http.Agent, port: number, path: string, start: number): Promise<PacedResult> {
  const sent = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          at: sent - start,
          status: res.statusCode ?? 0,
          error: null,
          ringsideError: res.headers['x-ringside-error'] as string | undefined,
          retryAfter: res.headers['retry-after'],
          latencyMs: performance.now() - sent,
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 5 s')));
    req.on('error', (err) => resolve({ at: sent - start, status: 0, error: err.message, ringsideError: undefined, retryAfter: undefined, latencyMs: performance.now() - sent }));
  });
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
