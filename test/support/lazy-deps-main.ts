// Child process of test/lazy-dependencies.test.ts (a fresh module cache):
// proxies one HTTP/1.1 request with the engine named in argv[2], reads a
// configuration from flags and then from a YAML file, and prints which of
// undici and yaml were loaded at each point (and how prom-client was), as JSON on stdout.

import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../lib/config/load-config.ts';
import type { Engine } from '../../lib/config/config.ts';
import { startApp } from '../../lib/app.ts';
import { createRingsideConfig, createUpstreamConfig } from '../../lib/config/defaults.ts';
import { silentLogger } from '../../lib/log/logger.ts';
import { startProxy, staticTarget } from './proxy.ts';

const cache = createRequire(import.meta.url).cache;
const loaded = (name: string): boolean => Object.keys(cache).some((k) => k.includes(`/node_modules/${name}/`));

const server = http.createServer((_req, res) => res.end('ok'));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const proxy = await startProxy({ endpoints: [`127.0.0.1:${(server.address() as AddressInfo).port}`], engine: process.argv[2] as Engine });
const undiciAtStart = loaded('undici');
// The app serves its metrics through prom-client's public entry (lib/metrics/registry.ts),
// and never starts prom-client's default collectors on its global registry.
const promClientIndex = Object.keys(cache).some((k) => k.endsWith('/node_modules/prom-client/index.js'));
const promClientGlobalMetrics = promClientIndex ? (createRequire(import.meta.url)('prom-client') as typeof import('prom-client')).register.getMetricsAsArray().length : -1;
const body = await new Promise<string>((resolve, reject) => {
  http
    .get(`${proxy.url}/`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(`${res.statusCode} ${text}`));
    })
    .on('error', reject);
});
const undiciAfterRequest = loaded('undici');
await proxy.stop();
// The Redis client of global rate limits: only with --rate-limit-redis (Redis itself
// need not answer: the budget then starts unreachable and fails open).
const redisDefault = loaded('@redis/client');
const withRedis = await startApp(
  createRingsideConfig({
    logLevel: 'error',
    listeners: [{ name: 'default', listen: { host: '127.0.0.1', port: 0 }, upstream: 'default' }],
    upstreams: [createUpstreamConfig('default', staticTarget(['127.0.0.1:1']), { rateLimit: { rate: { perSecond: 10, text: '10/s' }, burst: 10, key: null, maxKeys: 10 } })],
    rateLimitRedis: { address: { host: '127.0.0.1', port: 1 }, tls: false, user: null, password: null, fail: 'open' },
  }),
  { logger: silentLogger, version: 'test', admin: false, runtimeMetrics: false },
);
const redisWhenConfigured = loaded('@redis/client');
await withRedis.stop();
server.close();

const readFile = (): string => 'engine: compat\n';
loadConfig({ argv: ['--upstream', 'static:127.0.0.1:1'], env: {}, readFile }, 'test');
const yamlFlagsOnly = loaded('yaml');
loadConfig({ argv: ['--upstream', 'static:127.0.0.1:1', '--config', 'ringside.yaml'], env: {}, readFile }, 'test');
const yamlWithFile = loaded('yaml');

process.stdout.write(JSON.stringify({ body, promClientIndex, promClientGlobalMetrics, undiciAtStart, undiciAfterRequest, yamlFlagsOnly, yamlWithFile, redisDefault, redisWhenConfigured }) + '\n');
