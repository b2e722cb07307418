// Protocol-switch handshakes (WebSocket) from node:http's 'upgrade' event
// (--engine compat): the handshake head is rebuilt from the raw fields and
// handed, with the socket and the bytes node:http read past the head, to the
// tunnel core (../forwarding/tunnel.ts), the same one the lean engine uses.

import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { startTunnel, tunnelsUpgrade } from '../forwarding/tunnel.ts';
import type { Route } from '../forwarding/route.ts';

/**
 * Fields that never go upstream with a handshake: connection-specific ones
 * (RFC 9110 section 7.6.1) other than Upgrade, which this request is about;
 * Connection itself is rewritten to `connection: upgrade`.
 */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'http2-settings']);

/**
 * Tunnel the handshake `req` on `socket`; `early` is what the client sent
 * after the head. False (nothing done) when it asks for a protocol we do not
 * switch to (h2c) or is HTTP/1.0: the caller refuses it as before.
 */
export function handleHttp1Upgrade(route: Route, req: IncomingMessage, socket: net.Socket, early: Buffer): boolean {
  const upgrade = req.headers.upgrade;
  if (req.httpVersionMinor !== 1 || req.httpVersionMajor !== 1 || typeof upgrade !== 'string' || !tunnelsUpgrade(upgrade)) return false;
  const raw = req.rawHeaders;
  let upgrades = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 7 && raw[i].toLowerCase() === 'upgrade') upgrades++;
  if (upgrades !== 1) return false;
  const named = new Set<string>();
  for (const v of req.headersDistinct.connection ?? []) for (const t of v.split(',')) named.add(t.trim().toLowerCase());
  named.delete('upgrade');
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (DROPPED.has(name) || named.has(name)) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  head += 'connection: upgrade\r\n\r\n';
  startTunnel(route, socket, socket, { method: req.method ?? 'GET', target: req.url ?? '/', head, hashHeaders: req.headersDistinct }, early);
  return true;
}
