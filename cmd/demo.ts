#!/usr/bin/env node
// `npm run demo`: the story of the problem ringside solves and of the fix,
// played in one process on loopback (embedded DNS, pods on 127.0.0.2..10,
// ringside in-process, a load generator). Act 1: affinity (round robin vs
// ring hash); act 2: one gRPC channel following a Service as it scales up and
// loses a pod. `-- --keep` leaves it all running until Ctrl-C.

import { readFileSync } from 'node:fs';
import { runAffinityAct } from './demo/affinity-act.ts';
import { startDemoCluster, type DemoCluster } from './demo/demo-cluster.ts';
import { DEMO_USAGE, parseDemoOptions } from './demo/demo-options.ts';
import {
  ADMIN,
  DNS_REFRESH_MS,
  ECHO_ADDED_HOSTS,
  ECHO_FIRST_HOSTS,
  ECHO_PORT,
  ECHO_SERVICE,
  LISTENERS,
  neededPorts,
  QUERIES,
  RECS_HOSTS,
  RECS_PORT,
  RECS_SERVICE,
} from './demo/demo-topology.ts';
import { runGrpcScalingAct } from './demo/grpc-scaling-act.ts';
import { describeUnavailablePorts, findUnavailablePorts } from './demo/port-check.ts';

const say = (line = ''): void => {
  process.stdout.write(line + '\n');
};
const heading = (title: string): void => say(`\n${title}\n${'='.repeat(title.length)}`);

const options = parseDemoOptions(process.argv.slice(2), process.env);
if ('error' in options) {
  process.stderr.write(`ringside demo: ${options.error}\n\n${DEMO_USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(DEMO_USAGE);
  process.exit(0);
}

const unavailable = await findUnavailablePorts(neededPorts());
if (unavailable.length > 0) {
  process.stderr.write(describeUnavailablePorts(unavailable));
  process.exit(1);
}

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const { rules, periodMs, periods } = options;
const seconds = (ms: number): string => `${ms / 1000} s`;
const url = (a: { host: string; port: number }): string => `http://${a.host}:${a.port}`;
const range = (hosts: readonly string[]): string => `${hosts[0]}..${hosts[hosts.length - 1].split('.').pop()}`;

let cluster: DemoCluster | null = null;
let stopping: Promise<void> | null = null;
let keeping = false;
const shutDown = (): Promise<void> => (stopping ??= cluster?.close() ?? Promise.resolve());
const onSignal = (): void => {
  if (stopping) process.exit(1); // a second Ctrl-C: stop now
  say(keeping ? '\nStopping ringside, the pods and the DNS server...' : '\nInterrupted: stopping...');
  void shutDown().then(() => process.exit(keeping ? 0 : 130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

heading(`ringside ${version} demo${options.fast ? ' (fast)' : ''}`);
say('ringside is a sidecar: the application in a pod sends its requests to 127.0.0.1,');
say('and ringside balances each request over the pods behind a headless Service.');
say('This process plays a small cluster on loopback:');
try {
  cluster = await startDemoCluster(rules, version, say);
  const { app, dns, recsPods, echoPods } = cluster;
  say(`  cluster DNS       ${dns.address} (embedded), answering for the headless Services`);
  say(`  recs (HTTP/1.1)   ${RECS_SERVICE} -> pods ${range(RECS_HOSTS)}, port ${RECS_PORT}`);
  say(`  echo (gRPC)       ${ECHO_SERVICE} -> pods ${range(ECHO_FIRST_HOSTS)}, port ${ECHO_PORT}`);
  say(`  ringside          ${LISTENERS.recsRoundRobin.host}:${LISTENERS.recsRoundRobin.port} -> recs, round robin`);
  say(`                    ${LISTENERS.recsRingHash.host}:${LISTENERS.recsRingHash.port} -> recs, ring hash on ?query=`);
  say(`                    ${LISTENERS.echo.host}:${LISTENERS.echo.port} -> echo, least request`);
  say(`                    admin on ${ADMIN.host}:${ADMIN.port}`);
  say("ringside's configuration (the file you would give it with --config):");
  say(cluster.configYaml.trimEnd().replace(/^/gm, '    '));

  heading('Act 1: affinity');
  say('Some services work best when the same key always reaches the same pod: a per-pod');
  say('cache, a session, a shard. A ClusterIP Service (kube-proxy) and plain round robin');
  say('spread every key over every pod.');
  say(`Here each recs pod caches results per query. A pod that sees more than ${rules.maxDistinctQueries} different`);
  say(`queries within ${seconds(rules.windowMs)} starts thrashing and answers 503 for ${seconds(rules.penaltyMs)}.`);
  say(`Ten clients, each with its own query, send one request every ${seconds(periodMs)} for ${seconds(periodMs * periods)}.`);
  say();
  say(`  1a. Round robin over ${RECS_HOSTS.length} pods (${url(LISTENERS.recsRoundRobin)}): every pod sees every query.`);
  const roundRobin = await runAffinityAct({ label: '1a (round robin)', baseUrl: url(LISTENERS.recsRoundRobin), pods: recsPods, upstream: app.upstreams.get('recs-round-robin')!, queries: QUERIES, periodMs, periods, listQueries: false, say });
  say();
  say(`  1b. Ring hash on the query parameter (${url(LISTENERS.recsRingHash)}): each query always`);
  say('      reaches the same pod, so each pod only caches its share. (The pods start afresh, caches empty.)');
  const ringHash = await runAffinityAct({ label: '1b (ring hash)', baseUrl: url(LISTENERS.recsRingHash), pods: recsPods, upstream: app.upstreams.get('recs-ring-hash')!, queries: QUERIES, periodMs, periods, listQueries: true, say });
  say();
  say(`  => Same clients, same pods: ${roundRobin.failed} failed requests with round robin, ${ringHash.failed} with ring hash on ?query=.`);

  heading('Act 2: gRPC over one long-lived channel');
  say('A gRPC client opens one HTTP/2 connection and sends every call over it. Behind a');
  say('ClusterIP Service, kube-proxy balances connections, not calls: all calls land on one');
  say('pod. A client that resolved DNS once never sees new pods, and keeps calling a pod');
  say('that is gone. ringside balances every call (each HTTP/2 stream) over the pods and');
  say(`re-resolves the headless Service every ${DNS_REFRESH_MS} ms.`);
  say();
  const grpc = await runGrpcScalingAct({
    dns,
    service: ECHO_SERVICE,
    port: ECHO_PORT,
    pods: echoPods,
    addedHosts: ECHO_ADDED_HOSTS,
    upstream: app.upstreams.get('echo')!,
    listener: app.listeners.find((l) => l.route.listenerName === 'echo')!,
    killMode: options.killMode,
    phaseMs: options.phaseMs,
    refreshMs: DNS_REFRESH_MS,
    say,
  });

  heading('Done');
  say(`Act 1: round robin ${roundRobin.failed} failed of ${roundRobin.sent}; ring hash ${ringHash.failed} failed of ${ringHash.sent}.`);
  const slowest = grpc.firstCallAfterMs.includes(null) ? null : Math.max(...(grpc.firstCallAfterMs as number[]));
  say(`Act 2: ${grpc.calls} gRPC calls on one channel, ${grpc.failed} failed; ${slowest === null ? 'a new pod never got a call' : `new pods served within ${slowest} ms of the DNS change`}.`);
  say("ringside's admin server:");
  say(`  ${url(ADMIN)}/status    status page: upstreams, endpoints, ring shares, DNS health`);
  say(`  ${url(ADMIN)}/metrics   Prometheus metrics`);

  if (options.keep) {
    keeping = true;
    say();
    say('Everything keeps running (--keep). Try:');
    say(`  curl '${url(LISTENERS.recsRingHash)}/recommendations?query=jazz'`);
    say(`  curl '${url(LISTENERS.recsRoundRobin)}/recommendations?query=jazz'`);
    say(`  curl -s ${url(ADMIN)}/metrics | grep ringside_   (or open ${url(ADMIN)}/status in a browser)`);
    say('Press Ctrl-C to stop.');
  } else {
    await shutDown();
    process.exit(0);
  }
} catch (err) {
  // Something in the story broke (a pod did not start, ringside never drained a pod...): say what, clean up, exit 1.
  process.stderr.write(`\nringside demo: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutDown();
  process.exit(1);
}
