// Memory of ringside under the benchmark's HTTP/1.1 (or h2c, gRPC) load, with a
// breakdown of where the resident pages are, for comparing builds and Node.js flags.
//
// Run: npx node bench/memory.ts [VARIANT ...]
//   VARIANT is LABEL=SCRIPT[,FLAG...], e.g.
//     image=dist/cmd/ringside.js   (the default: the image's ENTRYPOINT flags are always added)
//     old32=dist/cmd/ringside.js,--max-old-space-size=32
//     before=/tmp/before/cmd/ringside.js
//     arena1=dist/cmd/ringside.js,env:MALLOC_ARENA_MAX=1   (env:NAME=VALUE sets an environment variable)
// Settings: MEM_ROUNDS (2), MEM_LOADS (5) x MEM_SECONDS (8) of load after a
// 3 s warm-up, MEM_GAP_SECONDS (0) idle between loads: the same amount of load
// one ringside process gets in a full `npm run bench` HTTP/1.1 pass. Variants
// alternate within each round. MEM_PROTOCOL=http1|h2c|grpc (http1): the load
// generator and upstreams of that `npm run bench` pass (h2load -c10 -m10 for h2c).
// Build dist/ first (npm run build); this script does not.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProbe, findFreePort, RINGSIDE_IMAGE, ringsideArgs } from './contenders.ts';
import { Protocol, runLoad } from './load.ts';
import { readCpuMicros, readPeakRssKiB, spawnPinned, stopProcess } from './proc.ts';
import type { PinnedProcess } from './proc.ts';
import { waitReady } from './probe.ts';
import { spread } from './report.ts';
import { PROXY_CORE, startUpstreams } from './upstreams.ts';

const ROUNDS = Number(process.env.MEM_ROUNDS ?? 2);
const LOADS = Number(process.env.MEM_LOADS ?? 5);
const SECONDS = Number(process.env.MEM_SECONDS ?? 8);
// Idle seconds between loads: in a full run ringside waits minutes between its
// rounds while the other contenders run, and its pooled upstream connections
// time out (4 s) and are opened again by the next round.
const GAP_SECONDS = Number(process.env.MEM_GAP_SECONDS ?? 0);
const PROTOCOL = (process.env.MEM_PROTOCOL ?? Protocol.http1) as Protocol;
if (!Object.values(Protocol).includes(PROTOCOL)) throw new Error(`bench/memory: MEM_PROTOCOL must be one of ${Object.values(Protocol).join(', ')}`);
const WARMUP_SECONDS = 3;
const log = (message: string): void => void process.stderr.write(`[memory] ${message}\n`);

interface Variant {
  readonly label: string;
  readonly script: string;
  readonly flags: readonly string[];
  readonly env: Record<string, string>;
}

const variants: Variant[] = (process.argv.length > 2 ? process.argv.slice(2) : ['image=dist/cmd/ringside.js']).map((spec) => {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`bench/memory: expected LABEL=SCRIPT[,FLAG...], got ${spec}`);
  const [script, ...rest] = spec.slice(eq + 1).split(',');
  const flags = rest.filter((f) => !f.startsWith('env:'));
  const env = Object.fromEntries(rest.filter((f) => f.startsWith('env:')).map((f) => [f.slice(4, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
  return { label: spec.slice(0, eq), script: resolve(script!), flags, env };
});

/** The lines of /proc/PID/smaps_rollup and status we report, in MiB. */
function snapshot(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
  for (const key of ['Rss', 'Anonymous']) {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(rollup);
    out[key] = m ? Number(m[1]) / 1024 : NaN;
  }
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  for (const key of ['RssFile', 'VmHWM', 'Threads']) {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status);
    out[key] = m ? Number(m[1]) / (key === 'Threads' ? 1 : 1024) : NaN;
  }
  return out;
}

/** V8's heap (committed) and the memory outside it, from the admin port's runtime metrics, in MiB. */
async function scrapeRuntime(adminPort: number): Promise<{ heapTotal: number; external: number }> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
  return { heapTotal: read('nodejs_heap_size_total_bytes'), external: read('nodejs_external_memory_bytes') };
}

async function measure(v: Variant): Promise<Record<string, number>> {
  const [port, adminPort] = [await findFreePort(), await findFreePort()];
  const args = ringsideArgs(PROTOCOL, port, adminPort, v.flags, v.script);
  const proc: PinnedProcess = spawnPinned(v.label, PROXY_CORE, process.execPath, args, { ...process.env, ...RINGSIDE_IMAGE.env, ...v.env });
  try {
    const target = { host: '127.0.0.1', port };
    await waitReady(proc, createProbe(PROTOCOL, target));
    await sleep(2000);
    const idle = snapshot(proc.pid);
    await runLoad(PROTOCOL, target, WARMUP_SECONDS, tmpDir);
    const cpu0 = readCpuMicros(proc.pid);
    let requests = 0;
    const p99s: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      if (i > 0 && GAP_SECONDS > 0) await sleep(GAP_SECONDS * 1000);
      const load = await runLoad(PROTOCOL, target, SECONDS, tmpDir);
      requests += load.requests;
      p99s.push(load.p99Ms);
    }
    const cpuPerRequest = (readCpuMicros(proc.pid) - cpu0) / requests;
    const after = snapshot(proc.pid);
    const runtime = await scrapeRuntime(adminPort);
    return {
      'idle RSS': idle.Rss!,
      'idle anon': idle.Anonymous!,
      'idle file': idle.RssFile!,
      'peak (VmHWM)': readPeakRssKiB(proc.pid) / 1024,
      'end RSS': after.Rss!,
      'end anon': after.Anonymous!,
      'end file': after.RssFile!,
      'end V8 heap': runtime.heapTotal,
      'end external': runtime.external,
      threads: after.Threads!,
      'CPU µs/req': cpuPerRequest,
      'p99 ms': spread(p99s)!.median,
    };
  } finally {
    await stopProcess(proc);
  }
}

const tmpDir = mkdtempSync(join(os.tmpdir(), 'ringside-memory-'));
const upstreams = await startUpstreams(tmpDir);
const results = new Map<string, Record<string, number>[]>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const v of order) {
      const r = await measure(v);
      log(`round ${round + 1} ${v.label}: ${Object.entries(r).map(([k, x]) => `${k} ${x.toFixed(1)}`).join(', ')}`);
      results.set(v.label, [...(results.get(v.label) ?? []), r]);
    }
  }
} finally {
  await upstreams.stop();
  rmSync(tmpDir, { recursive: true, force: true });
}

const columns = Object.keys(results.values().next().value![0]!);
const LOAD_NAMES: Record<Protocol, string> = { http1: 'HTTP/1.1 load (wrk -c50', h2c: 'h2c load (h2load -c10 -m10', grpc: 'gRPC load (grpc-load 4 channels x 100' };
console.log(`ringside memory, ${LOAD_NAMES[PROTOCOL]}, ${WARMUP_SECONDS} s warm-up + ${LOADS} x ${SECONDS} s), median of ${ROUNDS} rounds, MiB; ${new Date().toISOString()}, Node ${process.version}`);
console.log(`image flags: ${[...Object.entries(RINGSIDE_IMAGE.env).map(([k, x]) => `${k}=${x}`), ...RINGSIDE_IMAGE.nodeFlags].join(' ')}\n`);
console.log(`| variant | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---:').join('|')}|`);
for (const v of variants) {
  const rows = results.get(v.label)!;
  console.log(`| ${v.label}${v.flags.length + Object.keys(v.env).length ? ` (${[...Object.entries(v.env).map(([k, x]) => `${k}=${x}`), ...v.flags].join(' ')})` : ''} | ${columns.map((c) => spread(rows.map((r) => r[c]!))!.median.toFixed(1)).join(' | ')} |`);
}
