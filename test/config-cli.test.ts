// The ringside command's configuration surface, run as a real process:
// --help lists every flag, --version prints package.json's version, and a bad
// configuration exits 2 naming every bad key on stderr without binding a port.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { OPTIONS } from '../lib/config/options.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** The test runner's environment without any RINGSIDE_* variable, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RINGSIDE_')));
  return { ...env, ...extra };
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cmd/ringside.ts', ...args], { cwd: root, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A process that did not stop on its own is a failure: kill only this child, by its handle.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Holds a loopback port, so that any attempt by ringside to bind it would fail with EADDRINUSE. */
async function holdPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

test('--help exits 0 and lists every flag with its environment twin', async () => {
  const { code, stdout } = await run(['--help']);
  expect(code).toBe(0);
  for (const option of OPTIONS) {
    expect(stdout).toContain(`--${option.name}`);
    if (option.env !== null) expect(stdout).toContain(option.env);
  }
  const short = await run(['-h']);
  expect(short.code).toBe(0);
  expect(short.stdout).toBe(stdout);
});

test("--version prints package.json's version", async () => {
  const { code, stdout } = await run(['--version']);
  expect(code).toBe(0);
  expect(stdout.trim()).toBe(`ringside ${version}`);
});

test('a bad configuration exits 2, names every bad key on stderr, and binds nothing', async () => {
  const listenPort = await holdPort();
  const adminPort = await holdPort();
  const { code, stdout, stderr } = await run(
    ['--listen', `127.0.0.1:${listenPort}`, '--admin', `127.0.0.1:${adminPort}`, '--upstream', 'static:127.0.0.1:9', '--lb', 'fastest', '--hash-heder', 'x'],
    { RINGSIDE_CONNECT_TIMEOUT: '5' },
  );
  expect(code).toBe(2);
  expect(stderr).toContain('ringside: invalid configuration');
  expect(stderr).toMatch(/--lb: got "fastest"; expected one of round_robin\|random\|least_request\|ring_hash/);
  expect(stderr).toContain('--hash-heder: unknown flag; did you mean --hash-header?');
  expect(stderr).toMatch(/RINGSIDE_CONNECT_TIMEOUT: .*expected a duration like 250ms, 5s, 1m/);
  // Had it tried to bind the held ports it would have failed differently (EADDRINUSE), and logged to stdout.
  expect(stderr).not.toContain('EADDRINUSE');
  expect(stdout).toBe('');
});

test('a bad config file names the file key', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'ringside-cli-'));
  try {
    const file = join(dir, 'ringside.yaml');
    writeFileSync(file, 'listeners: [{listen: 127.0.0.1:0, upstream: recs}]\nupstreams:\n  recs: {target: recs:80, lb: fastest}\n');
    const { code, stderr } = await run([], { RINGSIDE_CONFIG: file });
    expect(code).toBe(2);
    expect(stderr).toMatch(/upstreams\.recs\.lb: got "fastest"; expected one of/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
