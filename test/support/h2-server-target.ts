// The target of the HTTP/2 server tests (test/h2-server-*.test.ts): ringside
// as its own process (so a crash or a runaway is seen, and its memory is its
// own) on one engine, in front of a real h2c replica on loopback, plus a
// well-behaved request through the same listener to show it still serves.

import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import type { Engine } from '../../lib/config/config.ts';
import { H2FrameClient, type ConnectOptions } from './h2-frame-client.ts';
import { defaultHandler, startHttpReplica, type Replica } from './http-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './ringside-process.ts';

export interface H2Target {
  readonly engine: Engine;
  readonly replica: Replica;
  readonly ringside: RingsideProcess;
  readonly port: number;
  /** RSS right after start and one warm-up request (bytes). */
  readonly baselineRss: number;
  /** A GET /ok over a fresh node:http2 connection: `STATUS BODY`, or what went wrong. */
  normalRequest(path?: string): Promise<string>;
  /** The process is still running (no exit seen). */
  alive(): boolean;
  stop(): Promise<void>;
}

/**
 * `/slow/MS...` answers after MS ms (a stream stays open on ringside while the
 * test sends more frames on it); `/big/N` answers N bytes (flow-control tests);
 * anything else as the default replica.
 */
function handler(...[req, res, replica]: Parameters<typeof defaultHandler>): void {
  const slow = /^\/slow\/(\d+)/.exec(req.url ?? '');
  if (slow !== null) {
    setTimeout(() => defaultHandler(req, res, replica), Number(slow[1])).unref();
    return;
  }
  const big = /^\/big\/(\d+)/.exec(req.url ?? '');
  if (big !== null) {
    // Written with backpressure, 16 KiB at a time, as a real server would: what piles up is ringside's doing.
    req.resume();
    let left = Number(big[1]);
    const chunk = Buffer.alloc(16_384, 0x61);
    const out = res as NodeJS.WritableStream & { destroyed?: boolean };
    const pump = (): void => {
      while (left > 0 && !out.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!out.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void out.once('drain', pump);
      }
      if (!out.destroyed) out.end();
    };
    pump();
    return;
  }
  defaultHandler(req, res, replica);
}

export async function startH2Target(engine: Engine, args: readonly string[] = []): Promise<H2Target> {
  const replica = await startHttpReplica('r0', { h2c: true, handler });
  let ringside: RingsideProcess;
  try {
    ringside = await startRingsideProcess(['--upstream', `static:${replica.key}`, '--upstream-protocol', 'h2c', '--engine', engine, ...args]);
  } catch (err) {
    await replica.close();
    throw err;
  }
  let exited = false;
  void ringside.exited.then(() => (exited = true));
  const port = ringside.port;
  const target: H2Target = {
    engine,
    replica,
    ringside,
    port,
    baselineRss: 0,
    normalRequest: (path = '/ok') => normalRequest(port, path),
    alive: () => !exited,
    stop: async () => {
      ringside.kill('SIGKILL');
      await ringside.exited;
      await replica.close();
    },
  };
  const warm = await target.normalRequest('/warm');
  if (!warm.startsWith('200 ')) throw new Error(`warm-up request through ringside (${engine}): ${warm}`);
  return { ...target, baselineRss: ringside.rss() };
}

export function normalRequest(port: number, path = '/ok', ms = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    let settled = false;
    const done = (s: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(s);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    session.on('error', (err) => done(`error ${err.message}`));
    const req = session.request({ ':path': path });
    let head = '';
    let body = '';
    req.on('response', (h) => (head = String(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => done(`${head} ${body}`));
    req.on('error', (err) => done(`error ${err.message}`));
    req.end();
  });
}

export interface UseH2TargetOptions {
  /** After each test: the replica's count settles, a normal request is served, the test's peak RSS growth stays under `rssGrowthCap`. */
  readonly checkAfterEach?: boolean;
  /** Peak RSS over the warm baseline that counts as a runaway (bytes). */
  readonly rssGrowthCap?: number;
}

export interface UsedH2Target {
  readonly target: H2Target;
  /** A raw frame client on the target, closed after the test. */
  connect(options?: ConnectOptions): Promise<H2FrameClient>;
}

/**
 * One ringside for the tests of a describe block (vitest hooks). A test that
 * makes it exit fails with its error log, and the next test gets a fresh one,
 * so one crash does not fail every test after it.
 */
export function useH2Target(engine: Engine, options: UseH2TargetOptions = {}): UsedH2Target {
  let target!: H2Target;
  const open: H2FrameClient[] = [];
  const MiB = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
  /** RSS when the test began; the peak (VmHWM) is reset then, so each test's growth is its own. */
  let startRss = 0;
  beforeAll(async () => {
    target = await startH2Target(engine);
  });
  beforeEach(() => {
    if (!target.alive()) return;
    try {
      writeFileSync(`/proc/${target.ringside.pid}/clear_refs`, '5'); // proc(5): resets the peak RSS
    } catch {
      // not allowed here: the peak stays the process's, a stricter check
    }
    startRss = target.ringside.rss();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    // A crash right after the test's last frame is this test's: give the exit a moment to be seen.
    await new Promise((r) => setTimeout(r, 10));
    if (!target.alive()) {
      const errors = target.ringside.logs.filter((l) => l.level === 'error').slice(0, 2);
      await target.stop();
      target = await startH2Target(engine);
      throw new Error(`ringside (--engine ${engine}) exited during this test; its errors: ${JSON.stringify(errors)}`);
    }
    if (options.checkAfterEach !== true) return;
    // Let streams forwarded by this test land (the replica counts them as they arrive) before the next one counts.
    for (let seen = -1, i = 0; seen !== target.replica.requests && i < 20; i++) {
      seen = target.replica.requests;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await target.normalRequest('/after')).toBe('200 r0 GET /after 0');
    const growth = target.ringside.peakRss() - startRss;
    expect(growth, `peak RSS ${MiB(target.ringside.peakRss())}, at the test's start ${MiB(startRss)}`).toBeLessThan(options.rssGrowthCap ?? 96 * 2 ** 20);
  });
  afterAll(async () => {
    if (target?.alive()) console.log(`[h2 target ${engine}] RSS baseline ${MiB(target.baselineRss)}, peak ${MiB(target.ringside.peakRss())}, now ${MiB(target.ringside.rss())}`);
    await target?.stop();
  });
  return {
    get target() {
      return target;
    },
    async connect(connectOptions) {
      const c = await H2FrameClient.connect(target.port, connectOptions);
      open.push(c);
      return c;
    },
  };
}
