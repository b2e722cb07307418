// Readiness probes: one real request per protocol, retried until it succeeds,
// so "time to ready" is spawn -> first successful proxied request.

import http from 'node:http';
import http2 from 'node:http2';
import { isRunning } from './proc.ts';
import type { PinnedProcess } from './proc.ts';
import { createEchoClient, grpc } from '../test/support/grpc-replicas.ts';

export type Probe = () => Promise<boolean>;

export function createHttp1Probe(host: string, port: number): Probe {
  return () =>
    new Promise((resolve) => {
      const req = http.get({ host, port, path: '/?key=probe', agent: false, timeout: 1000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
}

export function createH2cProbe(host: string, port: number): Probe {
  return () =>
    new Promise((resolve) => {
      const session = http2.connect(`http://${host}:${port}`);
      const done = (ok: boolean): void => {
        session.destroy();
        resolve(ok);
      };
      session.on('error', () => done(false));
      session.setTimeout(1000, () => done(false));
      const stream = session.request({ ':path': '/?key=probe' });
      let status = 0;
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('error', () => done(false));
      stream.resume();
      stream.on('end', () => done(status === 200));
    });
}

export function createGrpcProbe(host: string, port: number): Probe {
  return () =>
    new Promise((resolve) => {
      const client = createEchoClient(`${host}:${port}`);
      const md = new grpc.Metadata();
      md.set('x-key', 'probe');
      client.Unary({ message: 'probe' }, md, { deadline: Date.now() + 1000 }, (err) => {
        client.close();
        resolve(!err);
      });
    });
}

/**
 * Poll `probe` every 10 ms until it succeeds; returns milliseconds since the
 * process was spawned. Throws (with the process's output) if it exits or
 * `timeoutMs` passes first.
 */
export async function waitReady(proc: PinnedProcess, probe: Probe, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) throw new Error(`${proc.name} exited before it was ready:\n${proc.output()}`);
    if (await probe()) return Number(process.hrtime.bigint() - proc.startedAt) / 1e6;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${proc.name} not ready after ${timeoutMs} ms:\n${proc.output()}`);
}
