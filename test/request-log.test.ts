// The request log line at debug is the same on every engine: listener,
// upstream, endpoint, attempts, status, grpcStatus, error (the lean engine's
// line once lacked attempts and grpcStatus).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Engine } from '../lib/config/config.ts';
import { createLogger } from '../lib/log/logger.ts';
import { startHttpReplica } from './support/http-replicas.ts';
import { startProxy, stopWhenIdle } from './support/proxy.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A port nothing listens on: connecting to it is refused (the request never reaches an upstream, so it is retried). */
async function refusingKey(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `127.0.0.1:${port}`;
}

describe.each<Engine>(['lean', 'compat'])('request log (--engine %s)', (engine) => {
  it('names the endpoint, the attempts (a connect failure retried elsewhere) and both statuses', async () => {
    const replica = await startHttpReplica('r');
    cleanups.push(() => replica.close());
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('debug', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));
    const dead = await refusingKey();
    const proxy = await startProxy({ engine, endpoints: [dead, replica.key], logger, upstream: { lb: 'round_robin' } });
    cleanups.push(() => stopWhenIdle(proxy.app));
    const agent = new Agent();
    cleanups.push(() => agent.close());
    // Round robin over [dead, replica]: some requests go to the dead endpoint first and are retried on the replica.
    for (let i = 0; i < 6; i++) {
      const res = await request(`${proxy.url}/x`, { dispatcher: agent, headers: { 'content-type': 'application/grpc' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    const retried = lines.find((l) => l.msg === 'request' && l.attempts === 2);
    expect(retried).toMatchObject({ level: 'debug', listener: 'default', upstream: 'default', endpoint: replica.key, attempts: 2, status: 200 });
    expect(retried).toHaveProperty('grpcStatus');
    const plain = lines.find((l) => l.msg === 'request' && l.attempts === 1);
    expect(plain).toMatchObject({ endpoint: replica.key, attempts: 1, status: 200 });
  });
});
