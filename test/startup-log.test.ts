// The start-up log line names what an operator needs to read the process's
// CPU figures: the engine, and the lean engine's socket I/O path (direct
// handle reads and writes, or the plain socket.write() / 'data' fallback).

import { afterEach, expect, it } from 'vitest';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';

let p: RingsideProcess | null = null;
afterEach(async () => {
  if (p !== null && p.child.exitCode === null) {
    p.kill('SIGKILL');
    await p.exited;
  }
  p = null;
});

it.each([
  ['direct', {}],
  ['plain', { RINGSIDE_LEAN_PLAIN_IO: '1' }],
] as const)('logs socketIo=%s at start', async (expected, env) => {
  // In the plain-io project the variable is set for every child: only the forced case can be told apart there.
  if (expected === 'direct' && process.env.RINGSIDE_LEAN_PLAIN_IO === '1') return;
  p = await startRingsideProcess(['--upstream', 'static:127.0.0.1:9', '--engine', 'lean'], env);
  const started = p.logs.find((l) => l.msg === 'started');
  expect(started).toMatchObject({ engine: 'lean', socketIo: expected });
});
