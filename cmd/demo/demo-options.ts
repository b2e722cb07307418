// The demo's few options, from argv and the environment, and the timings
// they imply. `--fast` (or RINGSIDE_DEMO_FAST=1) runs act 1 at double speed
// (every duration of the story halved, so the same number of requests meet
// the same rules) and shortens act 2's phases; the DNS refresh stays 500 ms.

import type { KillMode } from './grpc-scaling-act.ts';
import type { CacheRules } from './recommendations-replica.ts';

export interface DemoOptions {
  readonly help: boolean;
  /** Leave everything running after the story, until Ctrl-C. */
  readonly keep: boolean;
  readonly fast: boolean;
  readonly killMode: KillMode;
  /** Act 1: the pods' cache rules, and the clients' pace. */
  readonly rules: CacheRules;
  readonly periodMs: number;
  readonly periods: number;
  /** Act 2: how long each phase runs. */
  readonly phaseMs: number;
}

export const DEMO_USAGE = `Usage: npm run demo [-- OPTIONS]

Runs ringside's demo in one process: an embedded DNS server playing two
headless Services, pods on 127.0.0.2..10, ringside on 127.0.0.1:15001-15003
(admin on 127.0.0.1:15090), and a load generator.

Options:
  --keep        leave everything running after the story, until Ctrl-C
  --fast        shorter timings (same story); also RINGSIDE_DEMO_FAST=1
  --hard-kill   act 2 kills a pod without draining it first (failed calls are counted)
  --help        this text
`;

export function parseDemoOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): DemoOptions | { error: string } {
  let keep = false;
  let fast = env.RINGSIDE_DEMO_FAST === '1' || env.RINGSIDE_DEMO_FAST === 'true';
  let help = false;
  // Drain first until ringside retries calls refused by a dead pod; then 'hard' is the honest default.
  let killMode: KillMode = 'drain-first';
  for (const arg of argv) {
    if (arg === '--keep') keep = true;
    else if (arg === '--fast') fast = true;
    else if (arg === '--hard-kill') killMode = 'hard';
    else if (arg === '--help' || arg === '-h') help = true;
    else return { error: `unknown option ${arg}; expected --keep, --fast, --hard-kill or --help` };
  }
  const scale = fast ? 0.5 : 1;
  return {
    help,
    keep,
    fast,
    killMode,
    rules: { maxDistinctQueries: 5, windowMs: 2_000 * scale, penaltyMs: 5_000 * scale },
    periodMs: 1_000 * scale,
    periods: 10,
    phaseMs: fast ? 1_000 : 2_000,
  };
}
