// Start ringside in-process for a test, on 127.0.0.1 port 0, with a config
// built directly (the config loader has its own tests).

import type { Engine, HashSource, RingsideConfig, UpstreamConfig } from '../../lib/config/config.ts';
import { startApp, type RunningApp } from '../../lib/app.ts';
import { createRingsideConfig, createUpstreamConfig } from '../../lib/config/defaults.ts';
import { silentLogger, type Logger } from '../../lib/log/logger.ts';

export interface TestProxyOptions {
  /** Static endpoints as `host:port` keys; or a full target. */
  endpoints?: readonly string[];
  target?: UpstreamConfig['target'];
  upstream?: Partial<UpstreamConfig>;
  hashOn?: readonly HashSource[];
  /** HTTP/1.1 engine (default: ringside's default). */
  engine?: Engine;
  logger?: Logger;
  /** Process-wide settings (maxTunnels, tunnelIdleTimeoutMs, drainTimeoutMs, ...). */
  global?: Partial<Pick<RingsideConfig, 'maxTunnels' | 'tunnelIdleTimeoutMs' | 'drainTimeoutMs'>>;
}

export interface TestProxy {
  readonly app: RunningApp;
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` */
  readonly address: string;
  /** `http://127.0.0.1:ADMINPORT` */
  readonly adminUrl: string;
  stop(graceMs?: number): Promise<void>;
}

export function staticTarget(keys: readonly string[]): UpstreamConfig['target'] {
  return {
    kind: 'static',
    endpoints: keys.map((key) => {
      const i = key.lastIndexOf(':');
      const host = key.slice(0, i).replace(/^\[|\]$/g, '');
      return { key, host, port: Number(key.slice(i + 1)), weight: 1 };
    }),
  };
}

export function upstreamConfig(options: TestProxyOptions): UpstreamConfig {
  const hashOn = options.hashOn ?? [];
  return createUpstreamConfig('default', options.target ?? staticTarget(options.endpoints ?? []), {
    hashOn,
    connectTimeoutMs: 2_000,
    ...options.upstream,
  });
}

export async function startProxy(options: TestProxyOptions): Promise<TestProxy> {
  const config: RingsideConfig = createRingsideConfig({
    logLevel: 'error',
    admin: { host: '127.0.0.1', port: 0 },
    listeners: [{ name: 'default', listen: { host: '127.0.0.1', port: 0 }, upstream: 'default' }],
    upstreams: [upstreamConfig(options)],
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    ...options.global,
  });
  const app = await startApp(config, { logger: options.logger ?? silentLogger, version: 'test' });
  const port = app.listeners[0].port;
  // Wait for the first discovery update so the first request does not race it.
  const upstream = app.upstreams.get('default')!;
  for (let i = 0; i < 200 && !upstream.resolved; i++) await new Promise((r) => setTimeout(r, 10));
  return { app, port, url: `http://127.0.0.1:${port}`, address: `127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${app.adminPort}`, stop: (graceMs) => app.stop(graceMs) };
}

/** Both HTTP/1.1 engines, for the suites both must pass. */
export const ENGINES: readonly Engine[] = ['compat', 'lean'];

/** One proxy per HTTP/1.1 engine, with otherwise identical options. */
export async function startProxyPerEngine(options: TestProxyOptions): Promise<Map<Engine, TestProxy>> {
  const proxies = new Map<Engine, TestProxy>();
  for (const engine of ENGINES) proxies.set(engine, await startProxy({ ...options, engine }));
  return proxies;
}

/** Stop an app once its listeners have no client connection left; a leaked connection fails the test. */
export async function stopWhenIdle(app: RunningApp): Promise<void> {
  const open = () =>
    Promise.all(app.listeners.map((l) => new Promise<number>((resolve) => l.tcp.getConnections((err, n) => resolve(err ? 0 : n))))).then((ns) =>
      ns.reduce((a, b) => a + b, 0),
    );
  const end = Date.now() + 3000;
  let n = await open();
  while (n > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    n = await open();
  }
  await app.stop();
  if (n > 0) throw new Error(`${n} client connections still open at teardown`);
}
