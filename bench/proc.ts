// Child processes for the benchmark: start a command pinned to one CPU core
// (taskset execs the command, so the PID we hold is the command's own), read
// its CPU time and peak memory from /proc, and stop it by that PID only.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/PID/stat (USER_HZ; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

export interface PinnedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** process.hrtime.bigint() just before spawn, for time-to-ready. */
  readonly startedAt: bigint;
  /** Last lines of stderr+stdout, for error messages. */
  output(): string;
}

/**
 * Start `command args` on CPU `core` (taskset -c). The output is kept (last
 * 8 KiB) so a failure to start can say why.
 */
export function spawnPinned(name: string, core: number, command: string, args: string[], env?: NodeJS.ProcessEnv): PinnedProcess {
  const startedAt = process.hrtime.bigint();
  const child = spawn('taskset', ['-c', String(core), command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ?? process.env,
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  return { name, child, pid: child.pid, startedAt, output: () => tail };
}

/** Run `command args` on `core` to completion (bounded by `timeoutMs`), returning stdout. */
export function runPinned(core: number, command: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', String(core), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code });
    });
  });
}

/**
 * utime + stime of a process (all its threads) in microseconds.
 * Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name
 * (which may itself contain spaces): https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
export function readCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) is fields[11] and stime (15) fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Peak resident set size (VmHWM) in KiB: https://man7.org/linux/man-pages/man5/proc_pid_status.5.html */
export function readPeakRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : NaN;
}

/** SIGTERM the process by its PID, then SIGKILL after `graceMs` if it has not exited. */
export async function stopProcess(proc: PinnedProcess, graceMs = 3000): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  if (await Promise.race([exited.then(() => false), timedOut])) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
  clearTimeout(timer);
}

export function isRunning(proc: PinnedProcess): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}
