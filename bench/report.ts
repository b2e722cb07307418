// Turns the samples of a run into markdown: per protocol, one row per
// contender with medians and min-max over the rounds, and ratios to HAProxy
// taken round by round (the machine's speed drifts between rounds).

import type { Load, LoadResult } from './load.ts';

export interface Sample {
  round: number;
  load: LoadResult;
  /** Proxy CPU (utime+stime) per request in microseconds; null for direct. */
  cpuUsPerRequest: number | null;
}

export interface ContenderResult {
  /** The load (a protocol, or gRPC's second generator). */
  protocol: Load;
  name: string;
  /** Why there are no samples (n/a or failed to start), else null. */
  missing: string | null;
  readyMs: number | null;
  peakRssKiB: number | null;
  samples: Sample[];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread | null {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { median, min: xs[0], max: xs[xs.length - 1], n: xs.length };
}

function fmt(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Spread | null, digits: number, suffix = ''): string {
  if (!s) return '–';
  if (s.n === 1 || s.min === s.max) return `${fmt(s.median, digits)}${suffix}`;
  return `${fmt(s.median, digits)}${suffix} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** Per-round ratio of `pick(contender)` to `pick(reference)`, over the rounds both ran. */
export function roundRatios(contender: ContenderResult, reference: ContenderResult, pick: (s: Sample) => number | null): Spread | null {
  const ratios: number[] = [];
  for (const sample of contender.samples) {
    const ref = reference.samples.find((r) => r.round === sample.round);
    const a = pick(sample);
    const b = ref ? pick(ref) : null;
    if (a !== null && b !== null && b > 0) ratios.push(a / b);
  }
  return spread(ratios);
}

export const PROTOCOL_TITLES: Record<Load, string> = {
  http1: 'HTTP/1.1 (wrk, 50 connections, GET /?key=0..999)',
  h2c: 'h2c (h2load, 10 connections x 10 streams, GET /?key=0..999)',
  grpc: 'gRPC unary (@grpc/grpc-js client, 4 channels, 100 calls in flight, x-key metadata 0..999)',
  'grpc-h2load': 'gRPC unary (h2load, 10 connections x 10 streams, POST one Echo request, x-key: 0)',
};

export function protocolTable(results: readonly ContenderResult[], referenceName: string): string {
  const reference = results.find((r) => r.name === referenceName && r.missing === null);
  const header = [
    '| contender | req/s | p50 ms | p90 ms | p99 ms | errors | CPU µs/req | CPU × HAProxy | p99 × HAProxy | peak RSS MiB | RSS × HAProxy | ready ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const rows = results.map((r) => {
    if (r.missing !== null) return `| ${r.name} | n/a: ${r.missing} |||||||||||`;
    const s = r.samples;
    const errors = s.reduce((sum, x) => sum + x.load.errors, 0);
    const cpu = spread(s.map((x) => x.cpuUsPerRequest ?? NaN));
    const rssMiB = r.peakRssKiB === null ? null : r.peakRssKiB / 1024;
    const refRss = reference?.peakRssKiB ?? null;
    const isRef = r === reference;
    const cpuRatio = reference && !isRef && r.samples[0]?.cpuUsPerRequest !== null ? roundRatios(r, reference, (x) => x.cpuUsPerRequest) : null;
    const p99Ratio = reference && !isRef ? roundRatios(r, reference, (x) => x.load.p99Ms) : null;
    return [
      r.name,
      cell(spread(s.map((x) => x.load.rps)), 0),
      cell(spread(s.map((x) => x.load.p50Ms)), 2),
      cell(spread(s.map((x) => x.load.p90Ms)), 2),
      cell(spread(s.map((x) => x.load.p99Ms)), 2),
      String(errors),
      cell(cpu, 1),
      isRef ? '1' : cell(cpuRatio, 2),
      isRef ? '1' : cell(p99Ratio, 2),
      rssMiB === null ? '–' : fmt(rssMiB, 1),
      isRef ? '1' : rssMiB !== null && refRss ? fmt(r.peakRssKiB! / refRss, 1) : '–',
      r.readyMs === null ? '–' : fmt(r.readyMs, 0),
    ].join(' | ').replace(/^/, '| ').concat(' |');
  });
  return [...header, ...rows].join('\n');
}

/** One line per protocol: ringside's ratios to HAProxy. */
export function headline(all: readonly ContenderResult[], subject: string, referenceName: string): string {
  const lines: string[] = [];
  for (const protocol of Object.keys(PROTOCOL_TITLES) as Load[]) {
    const r = all.find((x) => x.protocol === protocol && x.name === subject && x.missing === null);
    const ref = all.find((x) => x.protocol === protocol && x.name === referenceName && x.missing === null);
    if (!r || !ref) continue;
    const cpu = roundRatios(r, ref, (x) => x.cpuUsPerRequest);
    const p99 = roundRatios(r, ref, (x) => x.load.p99Ms);
    const rss = r.peakRssKiB && ref.peakRssKiB ? r.peakRssKiB / ref.peakRssKiB : null;
    lines.push(
      `- ${protocol}: CPU/request ${cell(cpu, 2, 'x')}, p99 ${cell(p99, 2, 'x')}, peak RSS ${rss === null ? '–' : fmt(rss, 1) + 'x'} ` +
        `(${fmt((r.peakRssKiB ?? 0) / 1024, 1)} MiB vs ${fmt((ref.peakRssKiB ?? 0) / 1024, 1)} MiB)`,
    );
  }
  return lines.join('\n');
}
