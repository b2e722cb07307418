// Starts the demo's small "cluster" in this process: the embedded DNS server
// that plays the headless Services, the pods, and ringside (configured from
// the same YAML a user would pass with --config). close() stops all of it.

import type { RunningApp } from '../../lib/app.ts';
import { startApp } from '../../lib/app.ts';
import { loadConfig } from '../../lib/config/load-config.ts';
import { startDnsServer, type TestDnsServer } from '../../test/support/dns-server.ts';
import { startGrpcReplica, type GrpcReplica } from '../../test/support/grpc-replicas.ts';
import { waitFor } from '../../test/support/wait.ts';
import { createDemoLogger } from './demo-logger.ts';
import { createDemoConfigYaml, ECHO_FIRST_HOSTS, ECHO_PORT, ECHO_SERVICE, RECS_HOSTS, RECS_PORT, RECS_SERVICE } from './demo-topology.ts';
import { startRecommendationsReplica, type CacheRules, type RecommendationsReplica } from './recommendations-replica.ts';

export interface DemoCluster {
  readonly dns: TestDnsServer;
  readonly recsPods: readonly RecommendationsReplica[];
  /** The echo pods currently running (act 2 adds and removes some). */
  readonly echoPods: GrpcReplica[];
  readonly app: RunningApp;
  /** The YAML ringside was started from. */
  readonly configYaml: string;
  close(): Promise<void>;
}

export async function startDemoCluster(rules: CacheRules, version: string, say: (line: string) => void): Promise<DemoCluster> {
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    // Reverse order: ringside first (it drains its clients), then the pods, then DNS.
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const dns = await startDnsServer();
    closers.push(() => dns.close());
    // TTL 1 s, as a headless Service's records are short-lived; ringside re-resolves on its own refresh anyway.
    dns.setA(RECS_SERVICE, RECS_HOSTS, 1);
    dns.setA(ECHO_SERVICE, ECHO_FIRST_HOSTS, 1);

    const recsPods: RecommendationsReplica[] = [];
    closers.push(() => Promise.all(recsPods.map((p) => p.close())).then(() => {}));
    for (const host of RECS_HOSTS) recsPods.push(await startRecommendationsReplica(host, RECS_PORT, rules));
    const echoPods: GrpcReplica[] = [];
    closers.push(() => Promise.all(echoPods.map((p) => p.close())).then(() => {}));
    for (const host of ECHO_FIRST_HOSTS) echoPods.push(await startGrpcReplica(host, host, ECHO_PORT));

    const configYaml = createDemoConfigYaml(dns.address);
    const loaded = loadConfig({ argv: ['--config', 'ringside-demo.yaml'], env: {}, readFile: () => configYaml }, version);
    if (loaded.kind !== 'config') throw new Error('the demo configuration did not load');
    const config = loaded.config;
    const app = await startApp(config, { logger: createDemoLogger(config.logLevel, say), version });
    closers.push(() => app.stop(1_000));
    // Ready when every upstream has its pods: the first DNS answers arrived.
    await waitFor(() => [...app.upstreams.values()].every((u) => u.endpoints.size > 0), 5_000, 'ringside resolves the demo Services');

    return { dns, recsPods, echoPods, app, configYaml, close };
  } catch (err) {
    await close();
    throw err;
  }
}
