// Builds EndpointAddress values with the one key format every layer agrees on:
// `HOST:PORT`, and `[ADDR]:PORT` for IPv6 (the URL authority form, RFC 3986 section 3.2.2).

import { isIPv6 } from 'node:net';
import type { EndpointAddress } from './discovery.ts';

export function endpointKey(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function createEndpointAddress(host: string, port: number, weight = 1): EndpointAddress {
  return Object.freeze({ key: endpointKey(host, port), host, port, weight });
}
