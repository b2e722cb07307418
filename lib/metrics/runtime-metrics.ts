// The process and Node.js runtime metrics the admin port serves beside
// ringside's own, under the names prom-client's collectDefaultMetrics() uses
// (and Prometheus' client libraries share), so dashboards and alerts written
// for those keep working. Everything is read at scrape time; nothing runs per
// request or per garbage collection.
//
// Why not collectDefaultMetrics(): under the benchmark's HTTP/1.1 load
// (bench/memory.ts, 2026-12-04) ringside peaked at 82.1 MiB with it and at
// 79.6 MiB with this file and ./registry.ts, against an 80 MiB budget.
//   - Its nodejs_gc_duration_seconds histogram observes every garbage
//     collection through a PerformanceObserver. Node builds an entry object
//     (with deprecation wrappers) for each one, and with a 1 MiB young
//     generation there are hundreds a second: in a sampling heap profile these
//     entries were two thirds of all bytes that survived a scavenge, so the
//     old generation grew steadily under load.
//   - Its process CPU counters load @opentelemetry/api (for exemplars), and
//     the package's index loads code that stays resident without running.
// Left out: the GC histogram (see above), per-space heap sizes and the
// per-type active handle/request counts; nodejs_active_resources is one
// series without the `type` label (sum by type gives the same query result).
// The event-loop lag comes from perf_hooks' sampling histogram, as in
// prom-client.

import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from './registry.ts';
import { registerCollectedMetric } from './collected-metric.ts';
import type { Sample } from './collected-metric.ts';

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});
const LINUX = process.platform === 'linux';

/** One gauge or counter without labels, whose value `read` returns at scrape time (NaN: not exported). */
function single(registry: Registry, name: string, help: string, type: 'gauge' | 'counter', read: () => number): void {
  registerCollectedMetric(registry, {
    name,
    help,
    type,
    collect(out: Sample[]) {
      const value = read();
      if (!Number.isNaN(value)) out.push({ labels: NO_LABELS, value });
    },
  });
}

/** The `kB` fields of /proc/self/status that we export, in bytes; empty off Linux or on a read error. */
function procStatus(): { rss: number; vsize: number; data: number } | null {
  if (!LINUX) return null;
  try {
    const text = readFileSync('/proc/self/status', 'latin1');
    const field = (key: string): number => {
      const m = new RegExp(`^${key}:\\s*(\\d+) kB`, 'm').exec(text);
      return m === null ? NaN : Number(m[1]) * 1024;
    };
    return { rss: field('VmRSS'), vsize: field('VmSize'), data: field('VmData') };
  } catch {
    return null;
  }
}

/** The soft limit on open files, from /proc/self/limits; NaN when unknown or unlimited. */
function maxFds(): number {
  if (!LINUX) return NaN;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    return m === null ? NaN : Number(m[1]);
  } catch {
    return NaN;
  }
}

function openFds(): number {
  if (!LINUX) return NaN;
  try {
    // readdir opens the directory itself: one descriptor that is not ours to count.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return NaN;
  }
}

export interface RuntimeMetrics {
  /** Stops the event-loop delay sampler (tests; the process's own registry lives as long as the process). */
  stop(): void;
}

/** Registers the process_* and nodejs_* families on `registry`. */
export function registerRuntimeMetrics(registry: Registry): RuntimeMetrics {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  single(registry, 'process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', 'counter', () => process.cpuUsage().user / 1e6);
  single(registry, 'process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', 'counter', () => process.cpuUsage().system / 1e6);
  single(registry, 'process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter', () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  });
  single(registry, 'process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', 'gauge', () => startTime);
  single(registry, 'process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', () => procStatus()?.rss ?? process.memoryUsage.rss());
  single(registry, 'process_virtual_memory_bytes', 'Virtual memory size in bytes.', 'gauge', () => procStatus()?.vsize ?? NaN);
  single(registry, 'process_heap_bytes', 'Process heap size (data segment) in bytes.', 'gauge', () => procStatus()?.data ?? NaN);
  single(registry, 'process_open_fds', 'Number of open file descriptors.', 'gauge', openFds);
  single(registry, 'process_max_fds', 'Maximum number of open file descriptors.', 'gauge', maxFds);

  single(registry, 'nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', 'gauge', () => process.memoryUsage().heapTotal);
  single(registry, 'nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', 'gauge', () => process.memoryUsage().heapUsed);
  single(registry, 'nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', 'gauge', () => process.memoryUsage().external);
  single(registry, 'nodejs_active_resources', 'Number of active resources that are currently keeping the event loop alive (prom-client: the sum of nodejs_active_resources over type).', 'gauge', () => process.getActiveResourcesInfo().length);

  // Sampled every 10 ms by a libuv timer in C++; the figures cover the time
  // since the previous scrape (the histogram is reset after each one).
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const lag = (read: () => number) => () => (delay.count === 0 ? NaN : read() / 1e9);
  single(registry, 'nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', 'gauge', lag(() => delay.min));
  single(registry, 'nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', 'gauge', lag(() => delay.max));
  single(registry, 'nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', 'gauge', lag(() => delay.mean));
  single(registry, 'nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', 'gauge', lag(() => delay.percentile(50)));
  single(registry, 'nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', 'gauge', lag(() => delay.percentile(99)));
  // Registered last: the registry collects in registration order, so the
  // reset comes after every lag family of this scrape has been read.
  const [major, minor, patch] = process.versions.node.split('.');
  const versionLabels = Object.freeze({ version: process.version, major: major!, minor: minor!, patch: patch! });
  registerCollectedMetric(registry, {
    name: 'nodejs_version_info',
    help: 'Node.js version info.',
    type: 'gauge',
    collect(out) {
      out.push({ labels: versionLabels, value: 1 });
      delay.reset();
    },
  });
  return { stop: () => delay.disable() };
}
