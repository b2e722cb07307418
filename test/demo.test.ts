// `npm run demo` end to end: the real command (cmd/demo.ts) in a child
// process with the fast timings and --keep. The story must hold: round robin
// fails requests, ring hash fails none, the new gRPC pods get traffic within a
// refresh or two, no gRPC call fails; then everything keeps serving until
// SIGINT (Ctrl-C), which shuts it down and exits 0 (the same shutdown the
// plain run does before its exit 0). With a port it needs already taken, it
// exits non-zero before starting anything, naming the port.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { waitFor } from './support/wait.ts';

const DEMO = fileURLToPath(new URL('../cmd/demo.ts', import.meta.url));

interface Demo {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

function startDemo(args: string[] = []): Demo {
  const child = spawn(process.execPath, [DEMO, ...args], { env: { ...process.env, RINGSIDE_DEMO_FAST: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (output.stdout += d));
  child.stderr!.on('data', (d: Buffer) => (output.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

const number = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  if (!m) throw new Error(`no match for ${re} in the demo's output`);
  return Number(m[1]);
};

describe('npm run demo', () => {
  it('tells the story (round robin fails, ring hash does not, new gRPC pods get traffic, no call fails), keeps serving with --keep, and exits 0 on SIGINT', { timeout: 45_000 }, async () => {
    const started = performance.now();
    const demo = startDemo(['--keep']);
    try {
      await waitFor(() => demo.output.stdout.includes('Press Ctrl-C to stop.') || demo.child.exitCode !== null, 40_000, 'the demo finishes its story');
      const storyMs = performance.now() - started;
      const out = demo.output.stdout;
      expect(demo.child.exitCode, out + demo.output.stderr).toBeNull();

      const roundRobinFailed = number(out, /Act 1a \(round robin\): (\d+) of 100 requests failed/);
      const ringHashFailed = number(out, /Act 1b \(ring hash\): (\d+) of 100 requests failed/);
      expect(roundRobinFailed).toBeGreaterThan(0);
      expect(ringHashFailed).toBe(0);

      // Act 2: one connection, no failed call, both new pods served within a few refreshes (500 ms each).
      const act2 = /Act 2: (\d+) calls over (\d+) client connections?, (\d+) failed.*new pods got traffic (\d+) ms and (\d+) ms after the DNS change/.exec(out);
      expect(act2, out).not.toBeNull();
      const [, calls, connections, failed, first, second] = act2!.map(Number);
      expect(calls).toBeGreaterThan(100);
      expect(connections).toBe(1);
      expect(failed).toBe(0);
      for (const ms of [first, second]) expect(ms).toBeLessThan(1_500);
      // The per-pod table: the new pods had no calls before the scale-up, and calls after it.
      for (const pod of ['127.0.0.9', '127.0.0.10']) {
        const row = new RegExp(`^\\s+${pod.replace(/\./g, '\\.')}\\s+0\\s+(\\d+)\\s+(\\d+)\\s+\\d+$`, 'm').exec(out);
        expect(row, `${pod} row`).not.toBeNull();
        expect(Number(row![1]), `${pod} calls after scale-up`).toBeGreaterThan(0);
      }
      expect(out).toContain('http://127.0.0.1:15090/status');
      expect(out).toContain('http://127.0.0.1:15090/metrics');

      // --keep: still serving. The ring-hash listener answers, and the admin server reports ready.
      const recs = await request('http://127.0.0.1:15002/recommendations?query=jazz');
      expect(recs.statusCode).toBe(200);
      expect(await recs.body.json()).toMatchObject({ query: 'jazz', items: expect.any(Array) });
      const ready = await request('http://127.0.0.1:15090/readyz');
      await ready.body.dump();
      expect(ready.statusCode).toBe(200);

      demo.child.kill('SIGINT');
      expect(await demo.exited, demo.output.stderr).toBe(0);
      expect(demo.output.stdout).toContain('Stopping');
      console.log(`demo (fast) told its story in ${(storyMs / 1000).toFixed(1)} s: round robin ${roundRobinFailed} failed, ring hash ${ringHashFailed}; gRPC ${calls} calls, new pods at ${first}/${second} ms`);
    } finally {
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
  });

  it('exits non-zero naming the port when 127.0.0.1:15001 is taken, before starting anything', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(15001, '127.0.0.1', resolve);
    });
    try {
      const demo = startDemo();
      const code = await demo.exited;
      expect(code).not.toBe(0);
      expect(demo.output.stderr).toContain('127.0.0.1:15001');
      expect(demo.output.stderr).toMatch(/already in use/);
      // Nothing started: no act ran.
      expect(demo.output.stdout).not.toContain('Act 1');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
