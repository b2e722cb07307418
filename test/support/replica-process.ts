// Upstream replicas as child processes (test/support/replica-main.ts), for
// tests that kill one like a crashed pod: SIGKILL by PID, no goodbye, the
// kernel closes its sockets.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./replica-main.ts', import.meta.url));

export interface ReplicaProcess {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `host:port`, as ringside keys endpoints. */
  readonly key: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code or the signal name. */
  readonly exited: Promise<number | string>;
  /** Send a signal to this process (by its PID); SIGKILL unless told. */
  kill(signal?: NodeJS.Signals): void;
  /** Stop it (SIGTERM) if it still runs, and wait for it to exit. */
  stop(): Promise<void>;
}

export interface ReplicaProcessOptions {
  /** Serve the gRPC echo service instead of HTTP. */
  readonly grpc?: boolean;
  readonly host?: string;
  readonly port?: number;
  /** Give up when the replica has not printed its port within this time. */
  readonly startTimeoutMs?: number;
}

export async function startReplicaProcess(name: string, options: ReplicaProcessOptions = {}): Promise<ReplicaProcess> {
  const host = options.host ?? '127.0.0.1';
  const args = [MAIN, '--name', name, '--host', host, '--port', String(options.port ?? 0)];
  if (options.grpc) args.push('--grpc');
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`replica ${name} did not start within ${options.startTimeoutMs ?? 10_000} ms: ${stderr}`));
    }, options.startTimeoutMs ?? 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve((JSON.parse(buffer.slice(0, nl)) as { port: number }).port);
      } catch (err) {
        reject(err);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`replica ${name} exited (${code}) before it listened: ${stderr}`));
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    name,
    host,
    port,
    key: `${host}:${port}`,
    pid: child.pid!,
    child,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (!done) process.kill(child.pid!, signal);
    },
    stop: async () => {
      if (!done) process.kill(child.pid!, 'SIGTERM');
      await exited;
    },
  };
}
