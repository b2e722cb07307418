// The load generators, each run on the load core and bounded in time:
// wrk for HTTP/1.1, h2load for h2c, and for gRPC unary two: bench/grpc-load.ts
// (@grpc/grpc-js) and h2load posting one length-prefixed Echo request.
// All report the same LoadResult.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { EchoService } from '../test/support/grpc-replicas.ts';
import { runPinned } from './proc.ts';
import { LOAD_CORE } from './upstreams.ts';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** Non-2xx responses + socket errors (connect/read/write/timeout) + failed calls. */
  errors: number;
}

export const Protocol = { http1: 'http1', h2c: 'h2c', grpc: 'grpc' } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/**
 * The loads reported as rows of their own: a protocol's contenders are started
 * once and each round runs every load of the protocol against each of them.
 * gRPC has two: the grpc-js client is what users run but caps the rate at a
 * few thousand calls/s on its core; h2load is not the bottleneck.
 */
export const Load = { http1: 'http1', h2c: 'h2c', grpc: 'grpc', grpcH2load: 'grpc-h2load' } as const;
export type Load = (typeof Load)[keyof typeof Load];
export const LOADS: Record<Protocol, readonly Load[]> = {
  http1: [Load.http1],
  h2c: [Load.h2c],
  grpc: [Load.grpc, Load.grpcH2load],
};

export interface LoadTarget {
  host: string;
  port: number;
}

interface Summary {
  requests: number;
  durationUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
}

function fromSummary(s: Summary): LoadResult {
  const seconds = s.durationUs / 1e6;
  return {
    requests: s.requests,
    seconds,
    rps: s.requests / seconds,
    p50Ms: s.p50Us / 1000,
    p90Ms: s.p90Us / 1000,
    p99Ms: s.p99Us / 1000,
    errors: s.connect + s.read + s.write + s.status + s.timeout,
  };
}

const WRK_SCRIPT = fileURLToPath(new URL('./conf/wrk-keys.lua', import.meta.url));
const GRPC_LOAD = fileURLToPath(new URL('./grpc-load.ts', import.meta.url));

/** HTTP/1.1: wrk, one thread, 50 keep-alive connections, keys cycled over 1000 values. */
export async function runWrk(target: LoadTarget, seconds: number): Promise<LoadResult> {
  const args = ['-t1', '-c50', `-d${seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT, `http://${target.host}:${target.port}/`];
  const { stdout, stderr, code } = await runPinned(LOAD_CORE, 'wrk', args, (seconds + 30) * 1000);
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${stderr || stdout}`);
  return fromSummary(JSON.parse(line) as Summary);
}

/**
 * h2c with prior knowledge: h2load, one thread, 10 connections x 10 concurrent
 * streams, cycling through 1000 URIs (`-i`); percentiles come from its
 * per-request log (`--log-file`: start, status, microseconds).
 */
export function runH2load(target: LoadTarget, seconds: number, tmpDir: string): Promise<LoadResult> {
  const urisFile = join(tmpDir, `h2load-uris-${target.port}.txt`);
  writeFileSync(urisFile, Array.from({ length: 1000 }, (_, i) => `http://${target.host}:${target.port}/?key=${i}\n`).join(''));
  return h2load(target, seconds, tmpDir, ['-i', urisFile]);
}

// The Echo request of the grpc-js load ({ message: 'hello' }), serialised by the
// fixture service's own serialiser, behind gRPC's 5-byte message prefix
// (compressed flag 0, 32-bit big-endian length; PROTOCOL-HTTP2.md "Length-Prefixed-Message").
const ECHO_MESSAGE: Buffer = EchoService.service.Unary.requestSerialize({ message: 'hello' });
const GRPC_BODY = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), ECHO_MESSAGE]);
GRPC_BODY.writeUInt32BE(ECHO_MESSAGE.length, 1);

/**
 * gRPC unary with h2load: 10 connections x 10 streams POSTing the Echo request
 * to /ringside.test.Echo/Unary with gRPC's request headers. h2load has one set
 * of headers for every request, so the hash key is one value (x-key: 0, one
 * replica, for every contender alike). It counts 2xx, not grpc-status: the
 * replies were checked once with nghttp (bench/README.md).
 */
export function runGrpcH2load(target: LoadTarget, seconds: number, tmpDir: string): Promise<LoadResult> {
  const bodyFile = join(tmpDir, 'grpc-echo-request.bin');
  writeFileSync(bodyFile, GRPC_BODY);
  const headers = ['content-type: application/grpc', 'te: trailers', 'x-key: 0'].flatMap((h) => ['-H', h]);
  return h2load(target, seconds, tmpDir, ['-d', bodyFile, ...headers, `http://${target.host}:${target.port}/ringside.test.Echo/Unary`]);
}

/** h2load, one thread, 10 connections x 10 concurrent streams, with `extra` naming the requests. */
async function h2load(target: LoadTarget, seconds: number, tmpDir: string, extra: readonly string[]): Promise<LoadResult> {
  const logFile = join(tmpDir, `h2load-${target.port}.log`);
  const args = ['-t1', '-c10', '-m10', '-D', String(seconds), '--log-file', logFile, ...extra];
  const { stdout, stderr, code } = await runPinned(LOAD_CORE, 'h2load', args, (seconds + 30) * 1000);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  const finished = /finished in ([\d.]+)(m?s)/.exec(stdout);
  if (code !== 0 || !counts || !statuses || !finished) throw new Error(`h2load failed (${code}): ${stderr}\n${stdout}`);
  const lines = readFileSync(logFile, 'latin1').split('\n');
  rmSync(logFile, { force: true });
  const latencies = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const tab = line.lastIndexOf('\t');
    if (tab > 0) latencies[n++] = Number(line.slice(tab + 1));
  }
  const sorted = latencies.subarray(0, n).sort();
  const pct = (p: number): number => (n ? sorted[Math.min(n - 1, Math.floor((p / 100) * n))] : 0);
  const done = Number(counts[3]);
  const durationUs = Number(finished[1]) * (finished[2] === 'ms' ? 1e3 : 1e6);
  const non2xx = Number(statuses[2]) + Number(statuses[3]) + Number(statuses[4]);
  return fromSummary({
    requests: done,
    durationUs,
    p50Us: pct(50),
    p90Us: pct(90),
    p99Us: pct(99),
    connect: 0,
    read: 0,
    write: 0,
    status: Number(counts[5]) + Number(counts[6]) + Number(counts[7]) + non2xx,
    timeout: 0,
  });
}

/** gRPC unary: bench/grpc-load.ts on the pinned Node, 4 channels, 100 calls in flight. */
export async function runGrpcLoad(target: LoadTarget, seconds: number): Promise<LoadResult> {
  const args = [GRPC_LOAD, `${target.host}:${target.port}`, String(seconds), '4', '100'];
  const { stdout, stderr, code } = await runPinned(LOAD_CORE, process.execPath, args, (seconds + 30) * 1000);
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`gRPC load failed (${code}): ${stderr || stdout}`);
  return fromSummary(JSON.parse(line) as Summary);
}

export function runLoad(load: Load, target: LoadTarget, seconds: number, tmpDir: string): Promise<LoadResult> {
  if (load === Load.http1) return runWrk(target, seconds);
  if (load === Load.h2c) return runH2load(target, seconds, tmpDir);
  if (load === Load.grpcH2load) return runGrpcH2load(target, seconds, tmpDir);
  return runGrpcLoad(target, seconds);
}
