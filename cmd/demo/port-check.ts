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

/** One line per problem (which address, what the demo wanted it for, what is wrong), then what to do. */
export function describeUnavailablePorts(unavailable: readonly UnavailablePort[]): string {
  const width = Math.max(...unavailable.map((p) => `${p.host}:${p.port}`.length));
  const lines = unavailable.map((p) => {
    const problem =
      p.code === 'EADDRINUSE'
        ? 'already in use'
        : p.code === 'EADDRNOTAVAIL'
          ? `address ${p.host} does not exist on this machine`
          : `cannot bind: ${p.code}`;
    return `  ${`${p.host}:${p.port}`.padEnd(width)}  ${p.purpose}: ${problem}`;
  });
  const hints: string[] = [];
  const inUse = unavailable.find((p) => p.code === 'EADDRINUSE');
  if (inUse) hints.push(`Is another demo or ringside running? Stop it, or see what holds a port with: ss -ltnp 'sport = :${inUse.port}'`);
  const missing = unavailable.find((p) => p.code === 'EADDRNOTAVAIL');
  if (missing) hints.push(`Linux routes all of 127.0.0.0/8 to the loopback interface; on macOS add each address first, e.g.: sudo ifconfig lo0 alias ${missing.host} up`);
  const count = unavailable.length === 1 ? 'an address it needs is' : `${unavailable.length} addresses it needs are`;
  return `ringside demo: cannot start: ${count} not available:\n${lines.join('\n')}\n${hints.join('\n')}\n`;
}
