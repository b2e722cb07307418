// Top functions by self time in a V8 .cpuprofile (written by node --cpu-prof).
// Usage: node bench/profile-summary.ts FILE.cpuprofile [N=20]   (prints a markdown table)
// Format: https://chromedevtools.github.io/devtools-protocol/tot/Profiler/#type-Profile

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  functionName: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, in percent. */
  selfPercent: number;
}

const ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

/** `file:line` of a profile's call frame (0-based line), relative to the repository when inside it. */
export function shortLocation(url: string, line: number): string {
  if (!url) return '';
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (file.startsWith(ROOT + path.sep)) file = path.relative(ROOT, file);
  return `${file}:${line + 1}`;
}

/** Self time per function (same name and location merged), largest first, idle excluded. */
export function summariseProfile(profile: CpuProfile, top = 20): { rows: SelfTimeRow[]; busyMs: number; idleMs: number } {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  // timeDeltas[i] is the time between sample i-1 and sample i: charge it to sample i's node.
  const selfUs = new Map<string, { functionName: string; location: string; us: number }>();
  let idleUs = 0;
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    busyUs += dt;
    const location = shortLocation(url, lineNumber);
    const name = functionName || '(anonymous)';
    const key = `${name}\u0000${location}`;
    const entry = selfUs.get(key) ?? { functionName: name, location, us: 0 };
    entry.us += dt;
    selfUs.set(key, entry);
  }
  const rows = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ functionName: e.functionName, location: e.location, selfMs: e.us / 1000, selfPercent: busyUs ? (100 * e.us) / busyUs : 0 }));
  return { rows, busyMs: busyUs / 1000, idleMs: idleUs / 1000 };
}

export function formatProfileSummary(summary: ReturnType<typeof summariseProfile>): string {
  const lines = [
    `Busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms; self time as a share of busy time.`,
    '',
    '| # | self ms | self % | function | location |',
    '|---:|---:|---:|---|---|',
    ...summary.rows.map((r, i) => `| ${i + 1} | ${r.selfMs.toFixed(1)} | ${r.selfPercent.toFixed(1)} | \`${r.functionName}\` | ${r.location} |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, topText] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/profile-summary.ts FILE.cpuprofile [N]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(formatProfileSummary(summariseProfile(profile, topText ? Number(topText) : 20)));
}
