import { closeSync, openSync } from 'node:fs';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { registerRuntimeMetrics, type RuntimeMetrics } from './runtime-metrics.ts';

/** The value of an unlabelled series in a Prometheus text exposition; NaN when absent. */
function valueOf(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
}

let runtime: RuntimeMetrics | null = null;
afterEach(() => {
  runtime?.stop();
  runtime = null;
});

function setUp(): Registry {
  const registry = new Registry();
  runtime = registerRuntimeMetrics(registry);
  return registry;
}

describe('runtime metrics', () => {
  it('reports this process: CPU, memory, start time, open and maximum descriptors', async () => {
    const registry = setUp();
    const cpu = process.cpuUsage();
    const text = await registry.metrics();
    const user = valueOf(text, 'process_cpu_user_seconds_total');
    const system = valueOf(text, 'process_cpu_system_seconds_total');
    expect(user).toBeGreaterThanOrEqual(cpu.user / 1e6);
    expect(system).toBeGreaterThanOrEqual(cpu.system / 1e6);
    expect(valueOf(text, 'process_cpu_seconds_total')).toBeCloseTo(user + system, 1);

    const rss = process.memoryUsage.rss();
    const reported = valueOf(text, 'process_resident_memory_bytes');
    expect(reported).toBeGreaterThan(rss * 0.8);
    expect(reported).toBeLessThan(rss * 1.25);
    expect(valueOf(text, 'process_virtual_memory_bytes')).toBeGreaterThan(reported);
    expect(valueOf(text, 'process_heap_bytes')).toBeGreaterThan(0);

    const started = valueOf(text, 'process_start_time_seconds');
    expect(Math.abs(started - (Date.now() / 1000 - process.uptime()))).toBeLessThanOrEqual(1);
    expect(valueOf(text, 'process_max_fds')).toBeGreaterThan(0);

    const heapUsed = valueOf(text, 'nodejs_heap_size_used_bytes');
    expect(heapUsed).toBeGreaterThan(0);
    expect(valueOf(text, 'nodejs_heap_size_total_bytes')).toBeGreaterThanOrEqual(heapUsed);
    expect(valueOf(text, 'nodejs_external_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(text, 'nodejs_active_resources')).toBeGreaterThan(0);
    const [major, minor, patch] = process.versions.node.split('.');
    expect(text).toContain(`nodejs_version_info{version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"} 1`);
  });

  it('counts a descriptor opened between two scrapes', async () => {
    const registry = setUp();
    const before = valueOf(await registry.metrics(), 'process_open_fds');
    const fds = [openSync(import.meta.filename, 'r'), openSync(import.meta.filename, 'r')];
    try {
      expect(valueOf(await registry.metrics(), 'process_open_fds')).toBe(before + 2);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(valueOf(await registry.metrics(), 'process_open_fds')).toBe(before);
  });

  it('reports the event-loop delay since the previous scrape', async () => {
    const registry = setUp();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const blockedUntil = Date.now() + 300;
    while (Date.now() < blockedUntil);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const first = await registry.metrics();
    expect(valueOf(first, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0.25);
    expect(valueOf(first, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0.25);
    expect(valueOf(first, 'nodejs_eventloop_lag_min_seconds')).toBeLessThan(0.25);
    // The histogram starts over after each scrape: the 300 ms block is gone from the next one.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await registry.metrics();
    expect(valueOf(second, 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.25);
  });
});
