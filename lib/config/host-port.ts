// `HOST:PORT` addresses for listeners, the admin port, static endpoints and
// DNS servers. IPv6 hosts are bracketed (`[::1]:15001`, RFC 3986 section 3.2.2);
// the parsed `host` drops the brackets, `formatHostPort` puts them back.

import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { HostPort } from './config.ts';
import { isDnsName } from './dns-name.ts';
import { expected, parsedValue, type Parsed } from './parsed.ts';

export const HOST_PORT_FORM = 'HOST:PORT (IPv6 as [::1]:15001)';

export interface HostPortOptions {
  /** Smallest accepted port: 0 for addresses we bind (ephemeral port), 1 for addresses we connect to. */
  readonly minPort: 0 | 1;
  /** Only IP literals, no names (DNS server addresses). */
  readonly ipOnly?: boolean;
}

export function parseHostPort(text: string, options: HostPortOptions): Parsed<HostPort> {
  const form = `${options.ipOnly ? 'IP:PORT (IPv6 as [::1]:53)' : HOST_PORT_FORM}, port ${options.minPort}..65535`;
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return expected(form);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return expected(form);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return expected(form);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    // An unbracketed IPv6 address: the last colon is ambiguous.
    if (host.includes(':')) return expected(form);
    if (!isIPv4(host)) {
      if (options.ipOnly || /^[\d.]+$/.test(host) || !isDnsName(host)) return expected(form);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) return expected(form);
  const port = Number(portText);
  if (port < options.minPort || port > 65535) return expected(form);
  return parsedValue({ host: isIPv6(host) ? host.toLowerCase() : host, port });
}

/** `HOST:PORT` with IPv6 hosts in brackets: the endpoint key format of lib/discovery/discovery.ts. */
export function formatHostPort(address: HostPort): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
