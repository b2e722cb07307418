// Act 2 of the demo: gRPC over one long-lived client channel. A ClusterIP
// Service balances connections, and a gRPC channel is one HTTP/2 connection:
// every call lands on one pod, and new pods never see traffic. Through
// ringside each call (HTTP/2 stream) is balanced, and the headless Service
// is re-resolved every refresh, so the channel follows the Service as it
// scales up and as a pod goes away.

import type { TestDnsServer } from '../../test/support/dns-server.ts';
import { createEchoClient, startGrpcReplica, unary, type GrpcReplica } from '../../test/support/grpc-replicas.ts';
import { startLoad } from '../../test/support/load.ts';
import { sleep, waitFor } from '../../test/support/wait.ts';
import type { Listener } from '../../lib/listener/listener.ts';
import type { Upstream } from '../../lib/upstream/upstream.ts';
import { formatTable } from './table.ts';

/**
 * How a pod is killed:
 * - `drain-first`: removed from DNS, ringside stops sending it new calls and
 *   lets the in-flight ones finish, then the pod is force-shut-down (a pod
 *   that leaves the Endpoints before it gets SIGKILL; no call can fail);
 * - `hard`: force-shut-down first (in-flight calls are cut, new connections
 *   are refused), and removed from DNS only afterwards: without retries in
 *   ringside, the calls caught in that gap fail, and the table shows them.
 */
export type KillMode = 'drain-first' | 'hard';

export interface GrpcScalingActOptions {
  readonly dns: TestDnsServer;
  readonly service: string;
  readonly port: number;
  /** Pods already running and in the DNS answer. */
  readonly pods: GrpcReplica[];
  /** Hosts of the pods to add when the Service scales up. */
  readonly addedHosts: readonly string[];
  /** The ringside upstream and listener serving the Service (read-only: to see draining and count client connections). */
  readonly upstream: Upstream;
  readonly listener: Listener;
  readonly killMode: KillMode;
  /** How long each phase runs (scale-up adds the time the new pods take to get traffic). */
  readonly phaseMs: number;
  readonly refreshMs: number;
  readonly say: (line: string) => void;
}

export interface GrpcScalingActResult {
  readonly calls: number;
  readonly failed: number;
  /** Per added pod: ms from the DNS change to its first call, or null if it got none. */
  readonly firstCallAfterMs: readonly (number | null)[];
  /** Calls each pod served, by phase name. */
  readonly callsByPhase: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly clientConnections: number;
}

const PHASES = ['3 pods', 'scaled to 5', 'after the kill'] as const;
type Phase = (typeof PHASES)[number];

export async function runGrpcScalingAct(options: GrpcScalingActOptions): Promise<GrpcScalingActResult> {
  const { dns, pods, say } = options;
  const hostsOf = (list: readonly GrpcReplica[]): string[] => list.map((p) => p.host);
  const client = createEchoClient(`${options.listener.options.listen.host}:${options.listener.port}`);

  let phase: Phase = '3 pods';
  const served = new Map<Phase, Map<string, number>>(PHASES.map((p) => [p, new Map()]));
  const failedIn = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
  const firstCallAt = new Map<string, number>();
  // Bounded load on the one channel: 8 callers, each pausing 10 ms after a call (a few hundred calls/s).
  const load = startLoad(
    async () => {
      // Outcomes count in the phase they happen in: a call cut by the kill counts after the kill.
      try {
        // Each call takes the pod a few ms (`count` = ms to wait), so a killed pod has calls in flight.
        const reply = await unary(client, { message: 'hello', count: 3 }, { deadlineMs: 2_000 });
        const perPod = served.get(phase)!;
        perPod.set(reply.replica, (perPod.get(reply.replica) ?? 0) + 1);
        if (!firstCallAt.has(reply.replica)) firstCallAt.set(reply.replica, performance.now());
        return reply.replica;
      } catch (err) {
        failedIn.set(phase, failedIn.get(phase)! + 1);
        throw err;
      } finally {
        await sleep(10);
      }
    },
    { concurrency: 8, maxCalls: 50_000, maxMs: options.phaseMs * 3 + 10_000 },
  );
  const startedAt = performance.now();
  const progress = setInterval(() => {
    const perPod = served.get(phase)!;
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(2);
    const spread = [...perPod].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([pod, n]) => `${pod} ${n}`).join('  ');
    say(`    [${seconds} s] ${phase.padEnd(14)} calls ${String(load.stats.started).padStart(5)}   failed ${String(load.stats.failed).padStart(3)}   this phase: ${spread}`);
  }, 1000);

  let result: GrpcScalingActResult;
  try {
    say(`  ${pods.length} pods in the DNS answer (${hostsOf(pods).join(', ')}); 8 callers share one client channel.`);
    await sleep(options.phaseMs);

    // Scale up: the new pods start (and are ready) before the DNS answer lists them, as with Endpoints.
    for (const host of options.addedHosts) pods.push(await startGrpcReplica(host, host, options.port));
    firstCallAt.clear();
    phase = 'scaled to 5';
    const changedAt = performance.now();
    dns.setA(options.service, hostsOf(pods), 1);
    say(`  Scale-up: the DNS answer now lists ${pods.length} pods (+ ${options.addedHosts.join(', ')}); ringside re-resolves every ${options.refreshMs} ms.`);
    await waitFor(() => options.addedHosts.every((h) => firstCallAt.has(h)), options.refreshMs * 6, 'the new pods get calls').catch(() => {});
    const firstCallAfterMs = options.addedHosts.map((h) => (firstCallAt.has(h) ? Math.round(firstCallAt.get(h)! - changedAt) : null));
    const firstCalls = firstCallAfterMs.map((ms, i) => `${ms === null ? 'never' : `${ms} ms`} (${options.addedHosts[i]})`).join(' and ');
    say(`  The new pods served their first calls ${firstCalls} after the DNS change:`);
    say(`  ringside asks DNS again ${options.refreshMs} ms (+-10%) after each answer, so a change waits about one refresh.`);
    await sleep(options.phaseMs);

    // Kill one of the first pods.
    const victim = pods[0];
    const remaining = pods.slice(1);
    say(`  Kill: pod ${victim.host} goes away (${options.killMode}).`);
    const killedAt = performance.now();
    if (options.killMode === 'drain-first') {
      dns.setA(options.service, hostsOf(remaining), 1);
      const key = victim.key;
      await waitFor(() => !options.upstream.endpoints.has(key) && ![...options.upstream.draining].some((e) => e.key === key), options.refreshMs * 6, `ringside drains ${key}`);
      say(`    removed from DNS; ${Math.round(performance.now() - killedAt)} ms later ringside had stopped sending it calls and its last ones had finished; now it is shut down.`);
      phase = 'after the kill';
      await victim.close();
    } else {
      phase = 'after the kill';
      await victim.close();
      dns.setA(options.service, hostsOf(remaining), 1);
      say('    force-shut-down with calls in flight, then removed from DNS.');
    }
    pods.splice(0, 1);
    await sleep(options.phaseMs);

    const stats = await load.stop();
    const clientConnections = await new Promise<number>((resolve, reject) => options.listener.tcp.getConnections((err, n) => (err ? reject(err) : resolve(n))));

    const allPods = [victim.host, ...hostsOf(pods)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const rows = allPods.map((host) => [host, ...PHASES.map((p) => served.get(p)!.get(host) ?? 0), PHASES.reduce((a, p) => a + (served.get(p)!.get(host) ?? 0), 0)]);
    say('');
    say(
      formatTable({
        headers: ['pod', ...PHASES, 'total'],
        rows,
        footer: ['failed calls', ...PHASES.map((p) => failedIn.get(p)!), stats.failed],
        indent: '    ',
      }),
    );
    const firstFailure = stats.failures[0]?.error;
    say('');
    say(
      `  Act 2: ${stats.started} calls over ${clientConnections} client connection${clientConnections === 1 ? '' : 's'}, ${stats.failed} failed` +
        `${firstFailure ? ` (first: ${firstFailure})` : ''}; new pods got traffic ${firstCallAfterMs.map((ms) => (ms === null ? 'never' : `${ms} ms`)).join(' and ')} after the DNS change.`,
    );
    result = { calls: stats.started, failed: stats.failed, firstCallAfterMs, callsByPhase: served, clientConnections };
  } finally {
    clearInterval(progress);
    await load.stop();
    client.close();
  }
  return result;
}
