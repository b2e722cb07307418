// Checks, before the demo starts anything, that every fixed address it needs
// can be bound, so a taken port is reported at once, by name, instead of
// half-way through the story.

import net from 'node:net';
import type { NeededPort } from './demo-topology.ts';

export interface UnavailablePort extends NeededPort {
  /** EADDRINUSE, EADDRNOTAVAIL (no such loopback address), EACCES, ... */
  readonly code: string;
}

function tryBind(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** The needed addresses that cannot be bound right now (empty when all are free). */
export async function findUnavailablePorts(needed: readonly NeededPort[]): Promise<UnavailablePort[]> {
  const unavailable: UnavailablePort[] = [];
  // One at a time: the list is short, and parallel binds of the same port would report each other.
  for (const p of needed) {
    const code = await tryBind(p.host, p.port);
    if (code !== null) unavailable.push({ ...p, code });
  }
  return unavailable;
}

/** One line per problem, saying which port, what the demo wanted it for, and what to do. */
export function describeUnavailablePorts(unavailable: readonly UnavailablePort[]): string {
  const lines = unavailable.map((p) => {
    const why =
      p.code === 'EADDRINUSE'
        ? `port ${p.port} on ${p.host} is already in use (is another ringside or demo running? see: ss -ltnp 'sport = :${p.port}')`
        : p.code === 'EADDRNOTAVAIL'
          ? `address ${p.host} is not configured on this machine (Linux routes all of 127.0.0.0/8 to lo; on macOS add it with: sudo ifconfig lo0 alias ${p.host} up)`
          : `cannot bind ${p.host}:${p.port}: ${p.code}`;
    return `  ${p.host}:${p.port} (${p.purpose}): ${why}`;
  });
  return `ringside demo: cannot start, ${unavailable.length === 1 ? 'an address it needs is' : 'addresses it needs are'} not available:\n${lines.join('\n')}\n`;
}
