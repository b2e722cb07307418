// The upstream replicas every contender forwards to: one nginx process
// answering a tiny 200 on 127.0.0.2..5 (:8080 HTTP/1.1, :8081 h2c), and one
// Node process with four @grpc/grpc-js Echo servers (:50051) for gRPC. Both
// run on the load generator's core, never on the proxy's.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnPinned, stopProcess } from './proc.ts';
import type { PinnedProcess } from './proc.ts';
import { createGrpcProbe, createH2cProbe, createHttp1Probe, waitReady } from './probe.ts';
import { renderTemplate } from './template.ts';

export const REPLICA_HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'] as const;
export const HTTP1_PORT = 8080;
export const H2C_PORT = 8081;
export const GRPC_PORT = 50051;

export const PROXY_CORE = 0;
export const LOAD_CORE = 1;

export interface Upstreams {
  readonly nginx: PinnedProcess;
  readonly grpc: PinnedProcess;
  stop(): Promise<void>;
}

export async function startUpstreams(tmpDir: string): Promise<Upstreams> {
  const prefix = `${tmpDir}/upstream-nginx`;
  mkdirSync(prefix, { recursive: true });
  const conf = renderTemplate(
    'nginx-upstream.conf',
    {
      PREFIX: prefix,
      LISTEN_HTTP1: REPLICA_HOSTS.map((h) => `    listen ${h}:${HTTP1_PORT} backlog=4096;`).join('\n'),
      LISTEN_H2C: REPLICA_HOSTS.map((h) => `    listen ${h}:${H2C_PORT} http2 backlog=4096;`).join('\n'),
    },
    prefix,
  );
  const nginx = spawnPinned('upstream nginx', LOAD_CORE, 'nginx', ['-p', prefix, '-c', conf, '-e', `${prefix}/error.log`]);
  const grpc = spawnPinned('upstream gRPC', LOAD_CORE, process.execPath, [
    fileURLToPath(new URL('./grpc-upstream.ts', import.meta.url)),
    String(GRPC_PORT),
    ...REPLICA_HOSTS,
  ]);
  try {
    for (const host of REPLICA_HOSTS) {
      await waitReady(nginx, createHttp1Probe(host, HTTP1_PORT));
      await waitReady(nginx, createH2cProbe(host, H2C_PORT));
      await waitReady(grpc, createGrpcProbe(host, GRPC_PORT));
    }
  } catch (err) {
    await Promise.all([stopProcess(nginx), stopProcess(grpc)]);
    throw err;
  }
  return { nginx, grpc, stop: async () => void (await Promise.all([stopProcess(nginx), stopProcess(grpc)])) };
}
