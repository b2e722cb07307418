// The proxy benchmark (issue 6): upstreams on core 1, each contender alone on
// core 0, the same load for each, several rounds in rotating order; prints a
// markdown report and writes it to bench/results/<date>.md.
// Run: npm run bench   (QUICK=1 for a < 2 minute pass; see bench/README.md)
// Settings: QUICK=1, BENCH_ROUNDS, BENCH_SECONDS, BENCH_PROTOCOLS=http1,h2c,grpc

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENDERS, REFERENCE, RINGSIDE_IMAGE } from './contenders.ts';
import type { RunningContender } from './contenders.ts';
import { Load, LOADS, Protocol, runLoad } from './load.ts';
import { readCpuMicros, readPeakRssKiB, runPinned } from './proc.ts';
import { formatProfileSummary, summariseProfile } from './profile-summary.ts';
import { headline, PROTOCOL_TITLES, protocolTable } from './report.ts';
import type { ContenderResult, Sample } from './report.ts';
import { LOAD_CORE, PROXY_CORE, startUpstreams } from './upstreams.ts';

const QUICK = process.env.QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 2 : 5));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 8));
const WARMUP_SECONDS = QUICK ? 1 : 3;
const PROFILE_SECONDS = QUICK ? 2 : 10;
const PROTOCOLS = (process.env.BENCH_PROTOCOLS ?? 'http1,h2c,grpc').split(',') as Protocol[];

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);

// --- preflight -----------------------------------------------------------------
if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`bench: needs Node.js >= 24 (this is ${process.version}); run it with \`npm run bench\` or \`npx node bench/run.ts\`.`);
  process.exit(2);
}
const missingTools = ['taskset', 'haproxy', 'nginx', 'wrk', 'h2load'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
if (missingTools.length > 0) {
  console.error(`bench: missing ${missingTools.join(', ')}; run bench/install.sh (apt-get install -y haproxy nginx wrk nghttp2-client).`);
  process.exit(2);
}
if (os.availableParallelism() < 2) {
  console.error('bench: needs at least 2 CPU cores (proxy on core 0, load and upstreams on core 1).');
  process.exit(2);
}
for (const p of PROTOCOLS) {
  if (!(p in Protocol)) {
    console.error(`bench: unknown protocol ${p} in BENCH_PROTOCOLS (http1, h2c, grpc)`);
    process.exit(2);
  }
}
// ringside runs as the image runs it: the JavaScript `npm run build` emits to
// dist/, with the Dockerfile's node flags (bench/contenders.ts). Built once here,
// so every contender and round runs the same build of the working tree.
{
  process.stderr.write('[bench] building dist/ (npm run build)\n');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) {
    console.error(`bench: npm run build failed (${build.status ?? build.signal}); ringside runs from dist/.`);
    process.exit(2);
  }
}

function firstLine(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim()) ?? '?';
}

function machine(): string[] {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  return [
    `- machine: ${os.availableParallelism()} CPUs (nproc), ${cpu}, Linux ${os.release()}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} (1, 5, 15 min)`,
    `- Node.js ${process.version}; ${firstLine('haproxy', ['-v'])}; ${firstLine('nginx', ['-v'])}; ${firstLine('wrk', ['-v'])}; ${firstLine('h2load', ['--version'])}`,
    `- ringside: \`${[...Object.entries(RINGSIDE_IMAGE.env).map(([k, v]) => `${k}=${v}`), 'node', ...RINGSIDE_IMAGE.nodeFlags, 'dist/cmd/ringside.js'].join(' ')}\` (the image's ENV and ENTRYPOINT; dist/ built by \`npm run build\` at the start of the run)`,
    `- settings: ${ROUNDS} rounds x ${SECONDS} s per contender and protocol, ${WARMUP_SECONDS} s warm-up for Node.js processes${QUICK ? ' (QUICK=1)' : ''}; proxy on core ${PROXY_CORE}, load + upstreams on core ${LOAD_CORE}`,
  ];
}

// --- cleanup: only what this run started, by PID ------------------------------------
const stops = new Set<() => Promise<void>>();
async function stopAll(): Promise<void> {
  for (const stop of [...stops].reverse()) await stop().catch(() => {});
  stops.clear();
}
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

const cpuOf = (c: RunningContender): number => (c.process ? readCpuMicros(c.process.pid) : 0);

async function benchProtocol(protocol: Protocol, tmpDir: string): Promise<ContenderResult[]> {
  const results: ContenderResult[] = [];
  // One result per load of the protocol (gRPC: grpc-js and h2load) for each contender, started once.
  const running: { contender: RunningContender; results: ContenderResult[] }[] = [];
  try {
    for (const c of CONTENDERS) {
      const mine = LOADS[protocol].map((load): ContenderResult => ({ protocol: load, name: c.name, missing: c.unsupported(protocol), readyMs: null, peakRssKiB: null, samples: [] }));
      results.push(...mine);
      if (mine[0].missing !== null) continue;
      try {
        const contender = await c.start(protocol, { tmpDir });
        stops.add(contender.stop);
        for (const result of mine) result.readyMs = contender.readyMs;
        running.push({ contender, results: mine });
        log(`${protocol} ${c.name}: ready${contender.readyMs === null ? '' : ` in ${contender.readyMs.toFixed(0)} ms`}${c.warmUp ? `; warming up ${WARMUP_SECONDS} s` : ''}`);
        if (c.warmUp) for (const load of LOADS[protocol]) await runLoad(load, contender.target, WARMUP_SECONDS, tmpDir);
      } catch (err) {
        for (const result of mine) result.missing = `failed: ${String((err as Error).message).split('\n').slice(0, 3).join(' ')}`;
        log(`${protocol} ${c.name}: ${mine[0].missing}`);
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no contender always runs first or last.
      const order = running.map((_, i) => running[(i + round) % running.length]);
      for (const { contender, results: mine } of order) {
        for (const result of mine) {
          if (result.missing !== null) continue;
          try {
            const cpuBefore = cpuOf(contender);
            const load = await runLoad(result.protocol, contender.target, SECONDS, tmpDir);
            const cpuUs = cpuOf(contender) - cpuBefore;
            const sample: Sample = { round, load, cpuUsPerRequest: contender.process && load.requests > 0 ? cpuUs / load.requests : null };
            result.samples.push(sample);
            log(
              `${result.protocol} round ${round + 1}/${ROUNDS} ${contender.name}: ${load.rps.toFixed(0)} req/s, p99 ${load.p99Ms.toFixed(2)} ms, ` +
                `${sample.cpuUsPerRequest === null ? '' : `${sample.cpuUsPerRequest.toFixed(1)} µs CPU/req, `}${load.errors} errors`,
            );
          } catch (err) {
            result.missing = `failed in round ${round + 1}: ${String((err as Error).message).split('\n')[0]}`;
            log(`${result.protocol} ${contender.name}: ${result.missing}`);
          }
        }
      }
    }
    // Peak RSS is the process's, over all of the protocol's loads.
    for (const { contender, results: mine } of running) if (contender.process) for (const result of mine) result.peakRssKiB = readPeakRssKiB(contender.process.pid);
  } finally {
    for (const { contender } of running) {
      await contender.stop();
      stops.delete(contender.stop);
    }
  }
  return results;
}

/** ringside under one load with --cpu-prof; returns the summary of the newest profile. */
async function profileRingside(load: Load, tmpDir: string): Promise<string> {
  const protocol = load === Load.grpcH2load ? Protocol.grpc : load;
  const ringside = CONTENDERS.find((c) => c.name === 'ringside')!;
  const before = new Set(readdirSync(RESULTS_DIR));
  const name = `ringside-${load}-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.cpuprofile`;
  const nodeFlags = ['--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', name];
  const contender = await ringside.start(protocol, { tmpDir, nodeFlags });
  stops.add(contender.stop);
  try {
    await runLoad(load, contender.target, WARMUP_SECONDS, tmpDir);
    const result = await runLoad(load, contender.target, PROFILE_SECONDS, tmpDir);
    log(`profile ${load}: ${result.rps.toFixed(0)} req/s for ${PROFILE_SECONDS} s`);
  } finally {
    await contender.stop(); // SIGTERM -> ringside exits cleanly -> the profile is written
    stops.delete(contender.stop);
  }
  const fresh = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.cpuprofile') && !before.has(f))
    .sort((a, b) => statSync(join(RESULTS_DIR, b)).mtimeMs - statSync(join(RESULTS_DIR, a)).mtimeMs);
  if (fresh.length === 0) return '(no profile written: did ringside exit on SIGTERM?)';
  const file = join(RESULTS_DIR, fresh[0]);
  const summary = formatProfileSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8')), 20));
  return `Profile: \`bench/results/${fresh[0]}\` (${PROTOCOL_TITLES[load]} load, ${WARMUP_SECONDS} s warm-up + ${PROFILE_SECONDS} s, includes start-up).\n\n${summary}`;
}

async function microBenchmark(script: string, core: number): Promise<string> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const { stdout, stderr, code } = await runPinned(core, process.execPath, [path], 180_000);
  return code === 0 ? stdout.trim() : `(bench/${script} failed with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')})`;
}

// --- main ----------------------------------------------------------------------------
mkdirSync(RESULTS_DIR, { recursive: true });
const tmpDir = mkdtempSync(join(os.tmpdir(), 'ringside-bench-'));
const started = new Date();
const header = machine();
const all: ContenderResult[] = [];
const profiles: { protocol: Load; summary: string }[] = [];
try {
  const upstreams = await startUpstreams(tmpDir);
  stops.add(upstreams.stop);
  log(`upstreams ready (nginx pid ${upstreams.nginx.pid}, gRPC pid ${upstreams.grpc.pid})`);
  for (const protocol of PROTOCOLS) all.push(...(await benchProtocol(protocol, tmpDir)));
  // The hot paths: the lean HTTP/1.1 engine, HTTP/2 (our server, lean h2c client), and gRPC under h2load.
  for (const p of [Protocol.http1, Protocol.h2c]) if (PROTOCOLS.includes(p)) profiles.push({ protocol: p, summary: await profileRingside(p, tmpDir) });
  if (PROTOCOLS.includes(Protocol.grpc)) profiles.push({ protocol: Load.grpcH2load, summary: await profileRingside(Load.grpcH2load, tmpDir) });
} finally {
  await stopAll();
  rmSync(tmpDir, { recursive: true, force: true });
}
log('micro-benchmarks: bench/ring.ts, bench/metrics.ts');
// Single-threaded and nothing else runs by now: one on each core, side by side.
const [ring, metrics] = await Promise.all([microBenchmark('./ring.ts', LOAD_CORE), microBenchmark('./metrics.ts', PROXY_CORE)]);
const elapsed = (Date.now() - started.getTime()) / 1000;

const report = [
  `# ringside proxy benchmark, ${started.toISOString()}`,
  '',
  ...header,
  `- duration of the whole run: ${elapsed.toFixed(0)} s`,
  '',
  'Cells are the median over the rounds with (min–max). Ratios to HAProxy are taken within each round, then their median. CPU is utime+stime of the proxy process over the measured run divided by the requests it served; peak RSS is VmHWM at the end; ready is spawn to first successful proxied request.',
  '',
  '## ringside vs HAProxy',
  '',
  headline(all, 'ringside', REFERENCE),
  '',
  ...PROTOCOLS.flatMap((p) => LOADS[p]).flatMap((l) => [`## ${PROTOCOL_TITLES[l]}`, '', protocolTable(all.filter((r) => r.protocol === l), REFERENCE), '']),
  ...(profiles.length === 0 ? ['## Where ringside spends its CPU', '', '(not run)', ''] : profiles.flatMap(({ protocol, summary }) => [`## Where ringside spends its CPU (${protocol})`, '', summary, ''])),
  '## Ring hash micro-benchmarks (bench/ring.ts)',
  '',
  ring.replace(/^# /gm, '### '),
  '',
  '## Metrics overhead (bench/metrics.ts)',
  '',
  '```',
  metrics,
  '```',
  '',
].join('\n');
const outFile = join(RESULTS_DIR, `${started.toISOString().slice(0, 16).replace(':', '-')}${QUICK ? '-quick' : ''}.md`);
writeFileSync(outFile, report);
process.stdout.write(report);
log(`written to ${outFile}`);
