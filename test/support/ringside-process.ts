// Run the real `ringside` command as a child process (the CLI, signals, exit
// codes, and memory measured apart from the test process). Ports are 0 and
// read back from the JSON "listening" log lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CMD = fileURLToPath(new URL('../../cmd/ringside.ts', import.meta.url));

export interface RingsideProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Data-plane port of the first listener. */
  readonly port: number;
  readonly adminPort: number;
  /** Every log line so far (parsed JSON). */
  readonly logs: Record<string, unknown>[];
  /** Resident set size now, from /proc (bytes). */
  rss(): number;
  /** Peak resident set size (VmHWM, bytes). */
  peakRss(): number;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export async function startRingsideProcess(args: readonly string[], env: Record<string, string> = {}): Promise<RingsideProcess> {
  const child = spawn(process.execPath, [CMD, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], {
    // The plain-io test project (vitest.config.ts) reaches child processes too.
    env: { PATH: process.env.PATH ?? '', ...(process.env.RINGSIDE_LEAN_PLAIN_IO === undefined ? {} : { RINGSIDE_LEAN_PLAIN_IO: process.env.RINGSIDE_LEAN_PLAIN_IO }), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
    if (process.env.RINGSIDE_TEST_STDERR) process.stderr.write(d);
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    let buffer = '';
    let port = 0;
    let adminPort = 0;
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'listening' && port === 0) port = Number(String(entry.address).split(':').pop());
          if (entry.msg === 'admin listening') adminPort = Number(String(entry.address).split(':').pop());
          if (entry.msg === 'started') resolve({ port, adminPort });
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`ringside exited (${code}) before it started: ${stderr}`)));
  });
  const { port, adminPort } = await ready;
  const status = (field: string): number => {
    const m = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  return {
    child,
    pid: child.pid!,
    port,
    adminPort,
    logs,
    rss: () => status('VmRSS'),
    peakRss: () => status('VmHWM'),
    exited,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
}
