// undici and yaml are loaded only when something needs them (deploy/README.md
// "Sizing": 3.5 MiB and 0.4 MiB of RSS): a sidecar on the default engine,
// configured by flags, serving HTTP/1.1, never loads either. prom-client is
// used only through its public entry, and its default collectors never start.
// Each case runs in a fresh process, since the test runner's own module cache
// is shared.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const MAIN = fileURLToPath(new URL('./support/lazy-deps-main.ts', import.meta.url));

function run(engine: string): { body: string; promClientIndex: boolean; promClientGlobalMetrics: number; undiciAtStart: boolean; undiciAfterRequest: boolean; yamlFlagsOnly: boolean; yamlWithFile: boolean; redisDefault: boolean; redisWhenConfigured: boolean } {
  const r = spawnSync(process.execPath, [MAIN, engine], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`lazy-deps-main exited ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('dependencies loaded on first use', () => {
  test('the lean engine proxies HTTP/1.1 without loading undici; a flags-only configuration does not load yaml, a YAML file does', () => {
    const r = run('lean');
    expect(r.body).toBe('200 ok');
    expect(r.undiciAtStart).toBe(false);
    expect(r.undiciAfterRequest).toBe(false);
    expect(r.yamlFlagsOnly).toBe(false);
    expect(r.yamlWithFile).toBe(true);
  });

  test('the Redis client (@redis/client) loads only when --rate-limit-redis is set', () => {
    const r = run('lean');
    expect(r.redisDefault).toBe(false);
    expect(r.redisWhenConfigured).toBe(true);
  });

  test('--engine compat loads undici at its first request (so the check above can see it)', () => {
    const r = run('compat');
    expect(r.body).toBe('200 ok');
    expect(r.undiciAtStart).toBe(false);
    expect(r.undiciAfterRequest).toBe(true);
  });

  test("the metrics load prom-client through its public entry, and its default collectors never start (ringside's runtime metrics are its own)", () => {
    const r = run('lean');
    expect(r.promClientIndex).toBe(true);
    // collectDefaultMetrics() would register prom-client's process_* and nodejs_* metrics on its global registry
    // and observe every GC (the cost lib/metrics/runtime-metrics.ts avoids).
    expect(r.promClientGlobalMetrics).toBe(0);
  });

  test('no file in lib/ or cmd/ imports a private path of prom-client (issue 19: it has no exports map to stop it)', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    // Any string naming a file inside the package: `from 'prom-client/lib/...'`, `require('prom-client/...')`.
    const privatePath = /['"`]prom-client\//;
    const offenders: string[] = [];
    for (const dir of ['lib', 'cmd']) {
      for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
        const path = join(entry.parentPath, entry.name);
        if (privatePath.test(readFileSync(path, 'utf8'))) offenders.push(path);
      }
    }
    expect(offenders).toEqual([]);
  });
});
