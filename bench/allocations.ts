// What ringside allocates per request under the benchmark's load, by
// function, and how often the garbage collector runs because of it. The young
// generation is 1 MiB per semi-space in the image (Dockerfile), so every
// ~1 MiB allocated is a scavenge that pauses every request in flight: bytes
// per request turn into p99 and CPU.
//
// Run: npm run build && npx node bench/allocations.ts [http1|h2c|grpc] [SCRIPT]
//   SCRIPT defaults to dist/cmd/ringside.js (compare builds: /tmp/before/cmd/ringside.js).
// Settings: ALLOC_SECONDS (10) of sampled load after a 3 s warm-up;
// ALLOC_SURVIVORS=1 counts only what outlived the young generation (what fills
// the old generation with garbage under load), not everything allocated.
// The sampling profiler slows ringside down (fewer requests per second), so
// read bytes per request and collections per 1000 requests, not throughput.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { findFreePort, RINGSIDE_IMAGE, ringsideArgs } from './contenders.ts';
import { Load, Protocol, runLoad } from './load.ts';
import { spawnPinned, stopProcess } from './proc.ts';
import { shortLocation } from './profile-summary.ts';
import { createGrpcProbe, createH2cProbe, createHttp1Probe, waitReady } from './probe.ts';
import { PROXY_CORE, startUpstreams } from './upstreams.ts';

const SECONDS = Number(process.env.ALLOC_SECONDS ?? 10);
const WARMUP_SECONDS = 3;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SAMPLER = fileURLToPath(new URL('./alloc-sampler.mjs', import.meta.url));

// A load of bench/load.ts: http1, h2c, grpc (grpc-js) or grpc-h2load (gRPC under h2load).
const loadName = (process.argv[2] ?? Load.http1) as Load;
if (!Object.values(Load).includes(loadName)) throw new Error(`bench/allocations: load must be http1, h2c, grpc or grpc-h2load, got ${loadName}`);
const protocol: Protocol = loadName === Load.grpcH2load ? Protocol.grpc : loadName;
const script = resolve(process.argv[3] ?? join(ROOT, 'dist/cmd/ringside.js'));
if (!existsSync(script)) throw new Error(`bench/allocations: ${script} not found (npm run build first)`);

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}
interface GcCounts {
  minor: number;
  minorMs: number;
  major: number;
  majorMs: number;
  maxPauseMs: number;
}

/** Estimated bytes allocated per function (the sampling profile scales its samples to totals). */
function bytesByFunction(root: HeapNode): { total: number; rows: [string, number][] } {
  const by = new Map<string, number>();
  let total = 0;
  const stack = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.selfSize > 0) {
      const f = node.callFrame;
      const key = `\`${f.functionName || '(anonymous)'}\` ${shortLocation(f.url, f.lineNumber)}`.trim();
      by.set(key, (by.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    stack.push(...node.children);
  }
  return { total, rows: [...by].sort((a, b) => b[1] - a[1]) };
}

const tmpDir = mkdtempSync(join(os.tmpdir(), 'ringside-alloc-'));
const outFile = join(tmpDir, 'alloc.json');
const upstreams = await startUpstreams(tmpDir);
try {
  const [port, adminPort] = [await findFreePort(), await findFreePort()];
  const args = ringsideArgs(protocol, port, adminPort, [`--import=${SAMPLER}`], script);
  const proc = spawnPinned('ringside', PROXY_CORE, process.execPath, args, { ...process.env, ...RINGSIDE_IMAGE.env, ALLOC_SAMPLER_OUT: outFile });
  try {
    const probe = protocol === Protocol.http1 ? createHttp1Probe : protocol === Protocol.h2c ? createH2cProbe : createGrpcProbe;
    const target = { host: '127.0.0.1', port };
    await waitReady(proc, probe(target.host, target.port));
    await runLoad(loadName, target, WARMUP_SECONDS, tmpDir);
    process.kill(proc.pid, 'SIGUSR2');
    const load = await runLoad(loadName, target, SECONDS, tmpDir);
    process.kill(proc.pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(outFile); i++) await sleep(100);
    await sleep(200);
    const result = JSON.parse(readFileSync(outFile, 'utf8')) as { profile: { head: HeapNode }; gc: GcCounts; error?: string };
    if (result.error) throw new Error(`bench/allocations: sampler failed: ${result.error}`);
    const { total, rows } = bytesByFunction(result.profile.head);
    const n = load.requests;
    const gc = result.gc;
    console.log(`ringside allocations, ${loadName} load (${SECONDS} s sampled after ${WARMUP_SECONDS} s warm-up); ${new Date().toISOString()}, Node ${process.version}`);
    console.log(`script: ${relative(process.cwd(), script) || script}; flags: ${RINGSIDE_IMAGE.nodeFlags.join(' ')}\n`);
    console.log(`- requests: ${n} (${Math.round(n / SECONDS)}/s under the profiler), errors ${load.errors}`);
    console.log(`- allocated: ${(total / n).toFixed(0)} bytes per request (${(total / 2 ** 20).toFixed(1)} MiB in all)`);
    console.log(`- scavenges: ${((gc.minor * 1000) / n).toFixed(2)} per 1000 requests, ${gc.minor ? (gc.minorMs / gc.minor).toFixed(2) : '0'} ms each; mark-compacts: ${gc.major} (${gc.majorMs.toFixed(1)} ms); longest pause ${gc.maxPauseMs.toFixed(2)} ms\n`);
    console.log('| bytes/request | share | function |');
    console.log('|---:|---:|---|');
    for (const [name, bytes] of rows.slice(0, 15)) console.log(`| ${(bytes / n).toFixed(1)} | ${((bytes / total) * 100).toFixed(1)}% | ${name} |`);
  } finally {
    await stopProcess(proc);
  }
} finally {
  await upstreams.stop();
  rmSync(tmpDir, { recursive: true, force: true });
}
