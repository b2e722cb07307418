// A real redis-server (Debian's package; .ci/run installs it) on a free
// loopback port, with nothing persisted, for the global rate-limit tests.
// Stopped by its PID; restartable on the same port (a test kills it mid-run).

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface RedisServer {
  readonly port: number;
  /** `127.0.0.1:PORT` */
  readonly address: string;
  readonly pid: number;
  /** SIGKILL (no goodbye to clients), and wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same port (after kill). */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function spawnRedis(port: number, extra: readonly string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start within 5 s: ${out}`));
    }, 5000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${out}`));
    });
  });
}

/** `extra`: more redis-server arguments, e.g. `['--requirepass', 'secret']`. */
export async function startRedisServer(extra: readonly string[] = []): Promise<RedisServer> {
  const port = await freePort();
  let child = await spawnRedis(port, extra);
  const server: RedisServer = {
    port,
    address: `127.0.0.1:${port}`,
    get pid() {
      return child.pid!;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
    async restart() {
      child = await spawnRedis(port, extra);
    },
  };
  return server;
}
