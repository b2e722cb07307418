// An in-process authoritative DNS server for tests: UDP and TCP on 127.0.0.1
// (same port), records set from the test, per-name failure modes, query
// counting, answer shuffling and RFC 1035 UDP truncation (TC bit) so that
// clients must retry over TCP (RFC 7766).
//
//   const dns = await startDnsServer();
//   dns.setA('api.svc.test', ['10.0.0.1', '10.0.0.2'], 5);
//   const resolver = new Resolver(); resolver.setServers([dns.address]);
//   ...
//   await dns.close();

import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';

export interface SrvRecord {
  readonly target: string;
  readonly port: number;
  readonly weight: number;
  readonly priority?: number;
}

/**
 * How the server treats queries for one name:
 * - normal: answer from the records (NXDOMAIN for unknown names, NODATA for a known name without that type);
 * - servfail / refused / nxdomain: answer with that RCODE;
 * - drop: never answer (the client times out).
 */
export type DnsNameMode = 'normal' | 'servfail' | 'refused' | 'drop' | 'nxdomain';

export type DnsRecordType = 'A' | 'AAAA' | 'SRV';

export interface DnsQueryLogEntry {
  readonly name: string;
  readonly type: string;
  readonly transport: 'udp' | 'tcp';
  readonly truncated: boolean;
}

export interface TestDnsServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `127.0.0.1:PORT`, ready for `Resolver.setServers([dns.address])`. */
  readonly address: string;
  setA(name: string, ips: readonly string[], ttl?: number): void;
  setAAAA(name: string, ips: readonly string[], ttl?: number): void;
  setSrv(name: string, records: readonly SrvRecord[], ttl?: number): void;
  /** Forget every record of `name` (it becomes NXDOMAIN). */
  remove(name: string): void;
  /** Failure mode for a name: for every type (clearing per-type modes), or only for `type`. */
  setMode(name: string, mode: DnsNameMode, type?: DnsRecordType): void;
  /** Shuffle the order of answers on every response (default true). */
  setShuffle(shuffle: boolean): void;
  /** UDP responses longer than this are truncated (TC bit, no answers). Default 512 (RFC 1035 section 4.2.1). */
  setUdpLimit(bytes: number): void;
  /** Queries received, keyed `name/TYPE` (lower-case name, no trailing dot), e.g. `api.svc.test/A`. */
  readonly queries: ReadonlyMap<string, number>;
  /** Count for one name, one type or all types. */
  queryCount(name: string, type?: string): number;
  /** Every query in arrival order. */
  readonly log: readonly DnsQueryLogEntry[];
  close(): Promise<void>;
}

export interface StartDnsServerOptions {
  shuffle?: boolean;
  udpLimit?: number;
  /** Internal: retries left when the UDP port number is taken on TCP. */
  attemptsLeft?: number;
}

interface NameEntry {
  a: { ips: string[]; ttl: number } | null;
  aaaa: { ips: string[]; ttl: number } | null;
  srv: { records: SrvRecord[]; ttl: number } | null;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export async function startDnsServer(options: StartDnsServerOptions = {}): Promise<TestDnsServer> {
  const names = new Map<string, NameEntry>();
  const modes = new Map<string, DnsNameMode>();
  const queries = new Map<string, number>();
  const log: DnsQueryLogEntry[] = [];
  let shuffle = options.shuffle ?? true;
  let udpLimit = options.udpLimit ?? 512;
  let closed = false;

  const entry = (name: string): NameEntry => {
    const key = normalizeName(name);
    let e = names.get(key);
    if (!e) {
      e = { a: null, aaaa: null, srv: null };
      names.set(key, e);
    }
    return e;
  };

  /** Builds the answers for one question, or an RCODE when there are none to give. */
  const answer = (q: Question): { rcode: number; answers: Answer[]; authorities: Answer[] } | 'drop' => {
    const name = normalizeName(q.name);
    const mode = modes.get(`${name}/${q.type}`) ?? modes.get(name) ?? 'normal';
    if (mode === 'drop') return 'drop';
    const soa: Answer = {
      type: 'SOA',
      name: 'test',
      ttl: 1,
      data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 60, minimum: 1 },
    };
    if (mode === 'servfail') return { rcode: RCODE.SERVFAIL, answers: [], authorities: [] };
    if (mode === 'refused') return { rcode: RCODE.REFUSED, answers: [], authorities: [] };
    const e = names.get(name);
    if (mode === 'nxdomain' || !e) return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [soa] };
    const answers: Answer[] = [];
    if (q.type === 'A' && e.a) {
      for (const ip of e.a.ips) answers.push({ type: 'A', name: q.name, ttl: e.a.ttl, data: ip });
    } else if (q.type === 'AAAA' && e.aaaa) {
      for (const ip of e.aaaa.ips) answers.push({ type: 'AAAA', name: q.name, ttl: e.aaaa.ttl, data: ip });
    } else if (q.type === 'SRV' && e.srv) {
      for (const r of e.srv.records) {
        answers.push({
          type: 'SRV',
          name: q.name,
          ttl: e.srv.ttl,
          data: { target: r.target, port: r.port, weight: r.weight, priority: r.priority ?? 0 },
        });
      }
    }
    // A known name without records of this type is NODATA: NOERROR, no answers, SOA for negative caching (RFC 2308).
    return { rcode: RCODE.NOERROR, answers: shuffle ? shuffled(answers) : answers, authorities: answers.length ? [] : [soa] };
  };

  const respond = (query: DecodedPacket, transport: 'udp' | 'tcp'): Buffer | null => {
    const q = query.questions?.[0];
    if (!q) return null;
    const key = `${normalizeName(q.name)}/${q.type}`;
    queries.set(key, (queries.get(key) ?? 0) + 1);
    const result = answer(q);
    if (result === 'drop') {
      log.push({ name: normalizeName(q.name), type: q.type, transport, truncated: false });
      return null;
    }
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | result.rcode;
    const response: Packet = {
      type: 'response',
      id: query.id,
      flags,
      questions: [q],
      answers: result.answers,
      authorities: result.authorities,
    };
    let buf = dnsPacket.encode(response);
    let truncated = false;
    if (transport === 'udp' && buf.length > udpLimit) {
      // RFC 2181 section 9: set TC and send what fits; we send no answers at all so a client that ignored TC would notice.
      truncated = true;
      buf = dnsPacket.encode({ ...response, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: [] });
    }
    log.push({ name: normalizeName(q.name), type: q.type, transport, truncated });
    return buf;
  };

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const buf = respond(query, 'udp');
    if (buf && !closed) udp.send(buf, rinfo.port, rinfo.address);
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      // RFC 1035 section 4.2.2: each message is prefixed by a two-byte length.
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < len + 2) break;
        const msg = pending.subarray(2, len + 2);
        pending = pending.subarray(len + 2);
        let query: DecodedPacket;
        try {
          query = dnsPacket.decode(msg);
        } catch {
          socket.destroy();
          return;
        }
        const buf = respond(query, 'tcp');
        if (buf) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(buf.length);
          socket.write(Buffer.concat([prefix, buf]));
        }
      }
    });
  });

  // UDP and TCP must share one port number: the client is configured with a single HOST:PORT.
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(0, '127.0.0.1', () => {
      udp.off('error', reject);
      resolve();
    });
  });
  const port = udp.address().port;
  const listening = await new Promise<boolean>((resolve) => {
    const onError = () => resolve(false);
    tcp.once('error', onError);
    tcp.listen(port, '127.0.0.1', () => {
      tcp.off('error', onError);
      resolve(true);
    });
  });
  if (!listening) {
    // The TCP port was taken by someone else; a dgram socket cannot be rebound, so start over with fresh sockets.
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if ((options.attemptsLeft ?? 10) <= 0) throw new Error('dns-server: cannot find a port free for both UDP and TCP');
    return startDnsServer({ ...options, attemptsLeft: (options.attemptsLeft ?? 10) - 1 });
  }

  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    setA(name, ips, ttl = 30) {
      entry(name).a = { ips: [...ips], ttl };
    },
    setAAAA(name, ips, ttl = 30) {
      entry(name).aaaa = { ips: [...ips], ttl };
    },
    setSrv(name, records, ttl = 30) {
      entry(name).srv = { records: [...records], ttl };
    },
    remove(name) {
      names.delete(normalizeName(name));
    },
    setMode(name, mode, type) {
      const n = normalizeName(name);
      if (type) {
        modes.set(`${n}/${type}`, mode);
        return;
      }
      // A name-wide mode replaces any per-type ones.
      for (const t of ['A', 'AAAA', 'SRV']) modes.delete(`${n}/${t}`);
      modes.set(n, mode);
    },
    setShuffle(value) {
      shuffle = value;
    },
    setUdpLimit(bytes) {
      udpLimit = bytes;
    },
    queries,
    queryCount(name, type) {
      const n = normalizeName(name);
      if (type) return queries.get(`${n}/${type}`) ?? 0;
      let total = 0;
      for (const [k, v] of queries) if (k.startsWith(`${n}/`)) total += v;
      return total;
    },
    log,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
