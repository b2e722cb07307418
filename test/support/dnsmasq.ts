// Runs Debian's dnsmasq as a real DNS server for tests: a child process on
// 127.0.0.1 and a free port, in the foreground, reading neither
// /etc/dnsmasq.conf, /etc/resolv.conf nor /etc/hosts, answering only from a
// hosts file in a temporary directory, authoritative for one local domain (so
// unknown names get NXDOMAIN from dnsmasq itself instead of being forwarded).
//
//   const dnsmasq = await startDnsmasq({ hosts: { 'api.svc.test': ['127.0.0.11', '127.0.0.12'] } });
//   await dnsmasq.reload({ 'api.svc.test': [...] });   // rewrite + SIGHUP, resolves once served
//   await dnsmasq.stop(); await dnsmasq.start();       // outage and restart on the same port
//   await dnsmasq.close();
//
// Needs the Debian package dnsmasq-base (the binary; the `dnsmasq` package adds the system service).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Resolver } from 'node:dns/promises';

/** Name -> IPv4/IPv6 addresses; a name with no addresses is simply absent (NXDOMAIN). */
export type HostsRecords = Readonly<Record<string, readonly string[]>>;

export interface StartDnsmasqOptions {
  readonly hosts: HostsRecords;
  /** The domain dnsmasq answers for itself (`--local`). Default `svc.test`. */
  readonly domain?: string;
  /** TTL of the answers (`--local-ttl`), seconds. Default 1. */
  readonly localTtl?: number;
}

export interface DnsmasqServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  /** PID of the running dnsmasq, or null while stopped. */
  readonly pid: number | null;
  /** Rewrite the hosts file, send SIGHUP, and resolve once dnsmasq serves the new answers. */
  reload(hosts: HostsRecords): Promise<void>;
  /** Kill dnsmasq (by PID) and wait for it to exit; the port and files are kept for start(). */
  stop(): Promise<void>;
  /** Start dnsmasq again on the same port, optionally with new records; resolves once it answers. */
  start(hosts?: HostsRecords): Promise<void>;
  /** stop() and remove the temporary directory. */
  close(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq', '/sbin/dnsmasq', '/usr/local/sbin/dnsmasq'];

/** The dnsmasq binary, or an error that says how to install it (tests must fail, not skip, without it). */
export function findDnsmasq(): string {
  for (const candidate of [...(process.env.DNSMASQ ? [process.env.DNSMASQ] : []), ...CANDIDATES]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `dnsmasq not found (looked in ${CANDIDATES.join(', ')}; set DNSMASQ to override). ` +
      'Install it: apt-get update && apt-get install -y dnsmasq-base',
  );
}

async function freePort(): Promise<number> {
  // Free for both UDP and TCP on 127.0.0.1: dnsmasq listens on both with one
  // number. Chosen below the kernel's ephemeral range (32768+), so that while
  // dnsmasq is stopped for an outage test no outgoing socket can take it.
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const udp = dgram.createSocket('udp4');
    const udpOk = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (!udpOk) {
      udp.close();
      continue;
    }
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
}

function hostsFileText(hosts: HostsRecords): string {
  const lines: string[] = [];
  for (const [name, ips] of Object.entries(hosts)) for (const ip of ips) lines.push(`${ip} ${name}`);
  return lines.join('\n') + '\n';
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

export async function startDnsmasq(options: StartDnsmasqOptions): Promise<DnsmasqServer> {
  const binary = findDnsmasq();
  const domain = options.domain ?? 'svc.test';
  const localTtl = options.localTtl ?? 1;
  const dir = await mkdtemp(path.join(tmpdir(), 'ringside-dnsmasq-'));
  // Started as root, dnsmasq drops privileges to `nobody` and re-reads the hosts file as that user on SIGHUP:
  // the directory (0700 from mkdtemp) and the file must be readable by others.
  await chmod(dir, 0o755);
  const hostsFile = path.join(dir, 'hosts');
  let hosts = options.hosts;
  const writeHosts = async (h: HostsRecords) => {
    await writeFile(hostsFile, hostsFileText(h));
    await chmod(hostsFile, 0o644);
  };
  await writeHosts(hosts);

  const probe = new Resolver({ timeout: 200, tries: 1 });
  let port = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  /** Polls dnsmasq until every name answers exactly its addresses (or NXDOMAIN when it has none). */
  const waitUntilServed = async (expected: HostsRecords, what: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    let last = '';
    for (;;) {
      if (!child) throw new Error(`dnsmasq exited while waiting for ${what}: ${last}`);
      let all = true;
      for (const [name, ips] of Object.entries(expected)) {
        const v4 = ips.filter((ip) => net.isIPv4(ip));
        // A name without IPv4 addresses is expected to fail (NXDOMAIN/NODATA): compare as an empty set.
        const got = await probe.resolve4(name).catch((err: { code?: string }) => {
          last = `${name} -> ${err.code}`;
          return [] as string[];
        });
        if (!sameSet(got, v4)) {
          all = false;
          last = `${name} -> ${got.join(',') || last}`;
        }
      }
      if (all) return;
      if (Date.now() > deadline) throw new Error(`dnsmasq did not serve ${what} within 5 s (last: ${last}); stderr: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  let stderr = '';
  const spawnOnce = async (): Promise<void> => {
    const args = [
      '--keep-in-foreground',
      '--log-facility=-',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      `--port=${port}`,
      `--addn-hosts=${hostsFile}`,
      `--local-ttl=${localTtl}`,
      `--local=/${domain}/`,
      `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    ];
    stderr = '';
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        if (child === proc) child = null;
        resolve();
      });
      proc.once('error', (err) => {
        stderr += String(err);
        if (child === proc) child = null;
        resolve();
      });
    });
    probe.setServers([`127.0.0.1:${port}`]);
    await waitUntilServed(hosts, 'the initial records');
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.pid === undefined) return;
    proc.kill('SIGTERM');
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killTimer);
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await spawnOnce();
      break;
    } catch (err) {
      await stop();
      // Someone took the port between our probe and dnsmasq's bind: try another one.
      if (attempt < 3 && /in use/i.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    get address() {
      return `127.0.0.1:${port}`;
    },
    get pid() {
      return child?.pid ?? null;
    },
    async reload(next) {
      if (!child) throw new Error('dnsmasq is not running');
      hosts = next;
      await writeHosts(next);
      // SIGHUP: dnsmasq clears its cache and re-reads --addn-hosts files (dnsmasq(8), NOTES).
      child.kill('SIGHUP');
      await waitUntilServed(next, 'the reloaded records');
    },
    stop,
    async start(next) {
      if (child) throw new Error('dnsmasq is already running');
      if (next) {
        hosts = next;
        await writeHosts(next);
      }
      await spawnOnce();
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
