// Where everything in the demo lives: a small Kubernetes namespace played on
// loopback (pods on 127.0.0.2..10, like pod IPs; an embedded DNS server as the
// cluster DNS), and the ringside configuration that points at it.

/** The headless Service of the recommendations service (HTTP/1.1), and its pods. */
export const RECS_SERVICE = 'recs.demo.svc.cluster.local';
export const RECS_HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'] as const;
// Fixed ports keep the ring reproducible: the ring hashes `HOST:PORT`, so with
// these four keys the ten queries of act 1 land 2/2/2/4 on the pods (no pod
// owns more than 5, the thrashing limit). A different port reshuffles them
// (port 18080 puts 6 queries on one pod), and act 1b would fail. Ports below
// 32768 are outside Linux's ephemeral range, so no port-0 socket takes them.
export const RECS_PORT = 28080;

/** The headless Service of the gRPC echo service: 3 pods at first, 2 more when it scales up. */
export const ECHO_SERVICE = 'echo.demo.svc.cluster.local';
export const ECHO_FIRST_HOSTS = ['127.0.0.6', '127.0.0.7', '127.0.0.8'] as const;
export const ECHO_ADDED_HOSTS = ['127.0.0.9', '127.0.0.10'] as const;
export const ECHO_PORT = 29090;

/** What the application would call: ringside's listeners in the pod, and its admin port. */
export const LISTENERS = {
  recsRoundRobin: { host: '127.0.0.1', port: 15001 },
  recsRingHash: { host: '127.0.0.1', port: 15002 },
  echo: { host: '127.0.0.1', port: 15003 },
} as const;
export const ADMIN = { host: '127.0.0.1', port: 15090 } as const;

/** How often ringside re-resolves the headless Services. */
export const DNS_REFRESH_MS = 500;

/** The ten clients' queries (act 1): one per client. */
export const QUERIES = ['jazz', 'sci-fi', 'coffee', 'running-shoes', 'yoga', 'chess', 'gardening', 'sushi', 'podcasts', 'vinyl'] as const;

export interface NeededPort {
  readonly host: string;
  readonly port: number;
  readonly purpose: string;
}

/** Every fixed address the demo binds, checked before anything starts. */
export function neededPorts(): NeededPort[] {
  return [
    { ...LISTENERS.recsRoundRobin, purpose: "ringside's listener for recs, round robin" },
    { ...LISTENERS.recsRingHash, purpose: "ringside's listener for recs, ring hash" },
    { ...LISTENERS.echo, purpose: "ringside's listener for echo, gRPC" },
    { ...ADMIN, purpose: "ringside's admin server" },
    ...RECS_HOSTS.map((host) => ({ host, port: RECS_PORT, purpose: 'a recs pod' })),
    ...[...ECHO_FIRST_HOSTS, ...ECHO_ADDED_HOSTS].map((host) => ({ host, port: ECHO_PORT, purpose: 'an echo pod' })),
  ];
}

const hostPort = (a: { host: string; port: number }): string => `${a.host}:${a.port}`;

/**
 * ringside's configuration for the demo, as the YAML file a user would pass
 * with `--config` (it goes through the same loader as the CLI). Only the DNS
 * server differs from a real pod: there it is the cluster DNS from
 * /etc/resolv.conf; here it is the embedded server at `dnsServer`.
 */
export function createDemoConfigYaml(dnsServer: string): string {
  const dns = `{refresh: ${DNS_REFRESH_MS}ms, family: ipv4, server: ${dnsServer}}`;
  return `logLevel: warn
admin: ${hostPort(ADMIN)}
listeners:
  - {name: recs-round-robin, listen: ${hostPort(LISTENERS.recsRoundRobin)}, upstream: recs-round-robin}
  - {name: recs-ring-hash, listen: ${hostPort(LISTENERS.recsRingHash)}, upstream: recs-ring-hash}
  - {name: echo, listen: ${hostPort(LISTENERS.echo)}, upstream: echo}
upstreams:
  recs-round-robin:
    target: dns:${RECS_SERVICE}:${RECS_PORT}
    lb: round_robin
    requestTimeout: 2s
    dns: ${dns}
  recs-ring-hash:
    target: dns:${RECS_SERVICE}:${RECS_PORT}
    lb: ring_hash
    hashOn: [{query: query}]
    requestTimeout: 2s
    dns: ${dns}
  echo:
    target: dns:${ECHO_SERVICE}:${ECHO_PORT}
    lb: least_request
    dns: ${dns}
`;
}
