// undici and yaml are loaded only when something needs them (deploy/README.md
// "Sizing": 3.5 MiB and 0.4 MiB of RSS): a sidecar on the default engine,
// configured by flags, serving HTTP/1.1, never loads either. Of prom-client,
// only the Registry is loaded. Each case runs in
// a fresh process, since the test runner's own module cache is shared.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const MAIN = fileURLToPath(new URL('./support/lazy-deps-main.ts', import.meta.url));

function run(engine: string): { body: string; promClientRegistry: boolean; promClientIndex: boolean; openTelemetry: boolean; undiciAtStart: boolean; undiciAfterRequest: boolean; yamlFlagsOnly: boolean; yamlWithFile: boolean } {
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

  test('--engine compat loads undici at its first request (so the check above can see it)', () => {
    const r = run('compat');
    expect(r.body).toBe('200 ok');
    expect(r.undiciAtStart).toBe(false);
    expect(r.undiciAfterRequest).toBe(true);
  });

  test("the metrics load prom-client's Registry alone: not its index with the default-metrics set and @opentelemetry/api (lib/metrics/registry.ts)", () => {
    const r = run('lean');
    expect(r.promClientRegistry).toBe(true);
    expect(r.promClientIndex).toBe(false);
    expect(r.openTelemetry).toBe(false);
  });
});
