// Where an upstream's endpoints come from, written as one string:
//   static:10.0.0.1:8080,10.0.0.2:8080  fixed endpoints
//   dns:recs.default.svc.cluster.local.:8080 (or without `dns:`)  A/AAAA records of a (headless) Service
//   srv:_grpc._tcp.recs.default.svc.cluster.local  SRV records (RFC 2782), port and weight from the record
// A bare IP literal (`127.0.0.1:8080`) is taken as a static endpoint: there is nothing to resolve.

import { isIP } from 'node:net';
import type { EndpointAddress } from '../discovery/discovery.ts';
import type { UpstreamTarget } from './config.ts';
import { isDnsName } from './dns-name.ts';
import { formatHostPort, parseHostPort } from './host-port.ts';
import { expected, parsedValue, type Parsed } from './parsed.ts';

export const UPSTREAM_TARGET_FORM = 'static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT, NAME:PORT or srv:_PORTNAME._tcp.NAME';

export function parseUpstreamTarget(text: string): Parsed<UpstreamTarget> {
  if (text.startsWith('static:')) return parseStatic(text.slice('static:'.length));
  if (text.startsWith('srv:')) return parseSrv(text.slice('srv:'.length));
  if (text.startsWith('dns:')) return parseDns(text.slice('dns:'.length), false);
  return parseDns(text, true);
}

function parseStatic(list: string): Parsed<UpstreamTarget> {
  const form = 'static:HOST:PORT[,HOST:PORT...] (IPv6 as [::1]:8080, port 1..65535)';
  if (list === '') return expected(form);
  const endpoints: EndpointAddress[] = [];
  const seen = new Set<string>();
  for (const item of list.split(',')) {
    const parsed = parseHostPort(item, { minPort: 1 });
    if (!parsed.ok) return expected(`${form}; "${item}" is not HOST:PORT`);
    const key = formatHostPort(parsed.value);
    if (seen.has(key)) return expected(`${form} without repeats; ${key} is listed twice`);
    seen.add(key);
    endpoints.push({ key, host: parsed.value.host, port: parsed.value.port, weight: 1 });
  }
  return parsedValue({ kind: 'static', endpoints });
}

function parseDns(rest: string, bare: boolean): Parsed<UpstreamTarget> {
  const parsed = parseHostPort(rest, { minPort: 1 });
  if (!parsed.ok) {
    return expected(bare ? UPSTREAM_TARGET_FORM : 'dns:NAME:PORT with a valid DNS name and port 1..65535');
  }
  const { host, port } = parsed.value;
  if (isIP(host) !== 0) {
    if (bare) return parsedValue({ kind: 'static', endpoints: [{ key: formatHostPort(parsed.value), host, port, weight: 1 }] });
    return expected(`dns:NAME:PORT with a DNS name (use static:${rest} for an IP address)`);
  }
  return parsedValue({ kind: 'dns', name: host, port });
}

function parseSrv(name: string): Parsed<UpstreamTarget> {
  // The SRV owner name is _service._proto.name; ringside only speaks TCP.
  if (!/^_[^.]+\._tcp\.[^.]/.test(name) || !isDnsName(name)) {
    return expected('srv:_PORTNAME._tcp.NAME, like srv:_grpc._tcp.recs.default.svc.cluster.local');
  }
  return parsedValue({ kind: 'srv', name });
}

/** Prints a target back in the form parseUpstreamTarget reads (used by help and tests). */
export function formatUpstreamTarget(target: UpstreamTarget): string {
  switch (target.kind) {
    case 'static':
      return 'static:' + target.endpoints.map((e) => e.key).join(',');
    case 'dns':
      return `dns:${target.name}:${target.port}`;
    case 'srv':
      return `srv:${target.name}`;
  }
}
