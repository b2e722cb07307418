// The contenders: how each proxy is configured and started for a protocol,
// pinned to the proxy core, and how the load reaches it. "direct" is the
// load generator straight at one replica: the physical limit, no proxy.

import { mkdirSync, readFileSync } from 'node:fs';
import { DockerfileParser, type JSONInstruction } from 'dockerfile-ast';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Protocol } from './load.ts';
import type { LoadTarget } from './load.ts';
import { readPeakRssKiB, spawnPinned, stopProcess } from './proc.ts';
import type { PinnedProcess } from './proc.ts';
import { createGrpcProbe, createH2cProbe, createHttp1Probe, waitReady } from './probe.ts';
import type { Probe } from './probe.ts';
import { renderTemplate } from './template.ts';
import { GRPC_PORT, H2C_PORT, HTTP1_PORT, PROXY_CORE, REPLICA_HOSTS } from './upstreams.ts';

export interface RunningContender {
  readonly name: string;
  readonly target: LoadTarget;
  /** The proxy's process; null for direct. */
  readonly process: PinnedProcess | null;
  /** Spawn -> first successful request, ms; null for direct. */
  readonly readyMs: number | null;
  stop(): Promise<void>;
}

export interface StartOptions {
  tmpDir: string;
  /** Extra Node.js flags for Node contenders (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

export interface Contender {
  readonly name: string;
  /**
   * Run a load before measuring: Node.js processes need it to optimise their
   * hot path, and "direct" warms the upstreams (the gRPC ones are Node.js).
   */
  readonly warmUp: boolean;
  /** null when it can forward this protocol, else why not (shown as n/a). */
  unsupported(protocol: Protocol): string | null;
  start(protocol: Protocol, options: StartOptions): Promise<RunningContender>;
}

const LISTEN_HOST = '127.0.0.1';

/** The replicas' port for a protocol. */
function replicaPort(protocol: Protocol): number {
  return protocol === Protocol.http1 ? HTTP1_PORT : protocol === Protocol.h2c ? H2C_PORT : GRPC_PORT;
}

function replicaList(port: number): string {
  return REPLICA_HOSTS.map((h) => `${h}:${port}`).join(',');
}

export function createProbe(protocol: Protocol, target: LoadTarget): Probe {
  if (protocol === Protocol.http1) return createHttp1Probe(target.host, target.port);
  if (protocol === Protocol.h2c) return createH2cProbe(target.host, target.port);
  return createGrpcProbe(target.host, target.port);
}

/** A free port on 127.0.0.1 (bind to 0, read it, release it). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, LISTEN_HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startProcess(name: string, protocol: Protocol, port: number, command: string, args: string[], env: Readonly<Record<string, string>> = {}): Promise<RunningContender> {
  const target = { host: LISTEN_HOST, port };
  const proc = spawnPinned(name, PROXY_CORE, command, args, { ...process.env, ...env });
  try {
    const readyMs = await waitReady(proc, createProbe(protocol, target));
    return { name, target, process: proc, readyMs, stop: () => stopProcess(proc) };
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
}

const direct: Contender = {
  name: 'direct',
  warmUp: true,
  unsupported: () => null,
  start: async (protocol) => ({
    name: 'direct',
    target: { host: REPLICA_HOSTS[0], port: replicaPort(protocol) },
    process: null,
    readyMs: null,
    stop: async () => {},
  }),
};

const haproxy: Contender = {
  name: 'HAProxy',
  warmUp: false,
  unsupported: () => null,
  async start(protocol, { tmpDir }) {
    const port = await findFreePort();
    const h2 = protocol !== Protocol.http1 ? ' proto h2' : '';
    const conf = renderTemplate(
      'haproxy.cfg',
      {
        PORT: String(port),
        // gRPC has no query string: hash on a metadata header instead.
        BALANCE: protocol === Protocol.grpc ? 'balance hdr(x-key)' : 'balance url_param key',
        SERVERS: REPLICA_HOSTS.map((h, i) => `  server r${i + 1} ${h}:${replicaPort(protocol)}${h2}`).join('\n'),
      },
      tmpDir,
      `haproxy-${protocol}.cfg`,
    );
    // -db: stay in the foreground, one process (no master-worker).
    return startProcess('HAProxy', protocol, port, 'haproxy', ['-db', '-f', conf]);
  },
};

const nginx: Contender = {
  name: 'nginx',
  warmUp: false,
  unsupported: () => null,
  async start(protocol, { tmpDir }) {
    const port = await findFreePort();
    const prefix = `${tmpDir}/nginx-proxy-${protocol}`;
    mkdirSync(prefix, { recursive: true });
    const grpc = protocol === Protocol.grpc;
    // nginx's proxy_pass speaks only HTTP/1.x upstream, so h2c clients are
    // forwarded to the HTTP/1.1 replicas; grpc_pass speaks h2c upstream.
    const upstreamPort = grpc ? GRPC_PORT : HTTP1_PORT;
    const conf = renderTemplate(
      'nginx-proxy.conf',
      {
        PREFIX: prefix,
        LISTEN: `listen ${LISTEN_HOST}:${port}${protocol === Protocol.http1 ? '' : ' http2'} backlog=4096;`,
        HASH: grpc ? 'hash $http_x_key consistent;' : 'hash $arg_key consistent;',
        UPSTREAM_SERVERS: REPLICA_HOSTS.map((h) => `    server ${h}:${upstreamPort};`).join('\n'),
        PASS: grpc
          ? '      grpc_pass grpc://replicas;'
          : ['      proxy_pass http://replicas;', '      proxy_http_version 1.1;', '      proxy_set_header Connection "";'].join('\n'),
      },
      prefix,
      'nginx.conf',
    );
    return startProcess('nginx', protocol, port, 'nginx', ['-p', prefix, '-c', conf, '-e', `${prefix}/error.log`]);
  },
};

const NODE_HTTP_PROXY = fileURLToPath(new URL('./node-peers/node-http-proxy.ts', import.meta.url));
const FASTIFY_PROXY = fileURLToPath(new URL('./node-peers/fastify-proxy.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * How the image starts ringside, read from the Dockerfile's ENTRYPOINT (exec
 * form: node, its flags, dist/cmd/ringside.js), so the benchmark measures the
 * emitted JavaScript with the image's V8 flags and cannot drift from it.
 * bench/run.ts builds dist/ (npm run build) before anything starts.
 */
export const RINGSIDE_IMAGE = ((): { nodeFlags: readonly string[]; script: string; env: Readonly<Record<string, string>> } => {
  const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const entrypoint = dockerfile.getENTRYPOINTs()[0] as JSONInstruction | undefined;
  const argv = entrypoint?.getJSONStrings().map((a) => a.getJSONValue()) ?? [];
  if (argv[0] !== 'node' || !argv.at(-1)?.endsWith('.js')) throw new Error(`bench: expected the Dockerfile's ENTRYPOINT to be ["node", ...flags, "dist/....js"], got ${JSON.stringify(argv)}`);
  // The runtime (last) stage's process-tuning environment (the C library's
  // allocator, V8's old-generation bound in NODE_OPTIONS), not ringside's own
  // RINGSIDE_* settings: the benchmark passes those as flags.
  const runtimeStart = dockerfile.getFROMs().at(-1)?.getRange().start.line ?? 0;
  const env: Record<string, string> = {};
  for (const instruction of dockerfile.getENVs()) {
    if (instruction.getRange().start.line < runtimeStart) continue;
    for (const p of instruction.getProperties()) if (/^(MALLOC_|GLIBC_TUNABLES$|NODE_OPTIONS$)/.test(p.getName())) env[p.getName()] = p.getValue() ?? '';
  }
  return { nodeFlags: argv.slice(1, -1), script: join(ROOT, argv.at(-1)!), env };
})();

const nodeHttpProxy: Contender = {
  name: 'node-http-proxy',
  warmUp: true,
  unsupported: (protocol) => (protocol === Protocol.http1 ? null : 'HTTP/1.1 only (node:http server, http.request upstream)'),
  async start(protocol, { nodeFlags = [] }) {
    const port = await findFreePort();
    const args = [...nodeFlags, NODE_HTTP_PROXY, `${LISTEN_HOST}:${port}`, replicaList(HTTP1_PORT)];
    return startProcess('node-http-proxy', protocol, port, process.execPath, args);
  },
};

const fastify: Contender = {
  name: 'fastify-http-proxy',
  warmUp: true,
  unsupported: (protocol) => (protocol === Protocol.grpc ? 'no gRPC forwarding (HTTP/1.1 upstream only, no trailers)' : null),
  async start(protocol, { nodeFlags = [] }) {
    const port = await findFreePort();
    // HTTP/1.1 upstream in both cases: reply-from's HTTP/2 upstream mode is a separate client.
    const args = [...nodeFlags, FASTIFY_PROXY, `${LISTEN_HOST}:${port}`, protocol, replicaList(HTTP1_PORT)];
    return startProcess('fastify-http-proxy', protocol, port, process.execPath, args);
  },
};

/** Node flags (the image's, then the caller's), the entry point (the image's unless given) and ringside's own options. */
export function ringsideArgs(protocol: Protocol, port: number, adminPort: number, nodeFlags: readonly string[], script = RINGSIDE_IMAGE.script): string[] {
  return [
    ...RINGSIDE_IMAGE.nodeFlags,
    ...nodeFlags,
    script,
    '--listen',
    `${LISTEN_HOST}:${port}`,
    '--admin',
    `${LISTEN_HOST}:${adminPort}`,
    '--log-level',
    'warn',
    '--upstream',
    `static:${replicaList(replicaPort(protocol))}`,
    '--lb',
    'ring_hash',
    ...(protocol === Protocol.grpc ? ['--hash-header', 'x-key'] : ['--hash-query', 'key']),
    ...(protocol === Protocol.http1 ? [] : ['--upstream-protocol', 'h2c']),
  ];
}

/**
 * ringside with its reference engine, to keep the lean engine's gain in view:
 * for HTTP/1.1 node:http + undici's Pool instead of the lean HTTP/1.1 engine,
 * for h2c and gRPC undici's H2CClient upstream instead of the lean h2c client
 * (the client side is node:http2 with either engine).
 */
const ringsideCompat: Contender = {
  name: 'ringside --engine compat',
  warmUp: true,
  unsupported: () => null,
  async start(protocol, { nodeFlags = [] }) {
    const [port, adminPort] = [await findFreePort(), await findFreePort()];
    const args = [...ringsideArgs(protocol, port, adminPort, nodeFlags), '--engine', 'compat'];
    return startProcess('ringside --engine compat', protocol, port, process.execPath, args, RINGSIDE_IMAGE.env);
  },
};

const ringside: Contender = {
  name: 'ringside',
  warmUp: true,
  unsupported: () => null,
  async start(protocol, { nodeFlags = [] }) {
    const [port, adminPort] = [await findFreePort(), await findFreePort()];
    const args = ringsideArgs(protocol, port, adminPort, nodeFlags);
    return startProcess('ringside', protocol, port, process.execPath, args, RINGSIDE_IMAGE.env);
  },
};

/** In report order; HAProxy is the reference every ratio is taken against. */
export const CONTENDERS: readonly Contender[] = [direct, haproxy, nginx, nodeHttpProxy, fastify, ringsideCompat, ringside];
export const REFERENCE = 'HAProxy';

export { readPeakRssKiB };
