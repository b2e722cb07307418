// The JavaScript the image ships: `npm run build` run on exactly what the
// Dockerfile's build stage copies (package files, tsconfig.json, lib/ without
// tests, cmd/ringside.ts) in a scratch directory, then laid out like the
// runtime image (dist/ + node_modules, nothing else) and run the way its
// ENTRYPOINT runs it, plus --no-experimental-strip-types: any .ts file loaded
// at run time (a missed import rewrite, a path built from import.meta.url)
// fails the start instead of being stripped silently.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
/** The ENTRYPOINT's node flags (exec form: ["node", ...flags, "dist/cmd/ringside.js"]). */
const ENTRYPOINT = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))![1]) as string[];
const NODE_FLAGS = [...ENTRYPOINT.slice(1, -1), '--no-experimental-strip-types'];

let work: string;
let app: string;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

beforeAll(() => {
  work = mkdtempSync(join(os.tmpdir(), 'ringside-dist-'));
  const build = join(work, 'build');
  mkdirSync(join(build, 'cmd'), { recursive: true });
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'cmd/ringside.ts']) cpSync(join(ROOT, file), join(build, file));
  // lib/ as the build context has it: .dockerignore leaves out tests and the balancer conformance suite.
  cpSync(join(ROOT, 'lib'), join(build, 'lib'), {
    recursive: true,
    filter: (src) => !src.endsWith('.test.ts') && !src.endsWith('balancer-conformance.ts'),
  });
  symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'), 'dir');
  // What `npm run build` runs: the script, with node_modules/.bin first on PATH.
  const result = spawnSync('sh', ['-c', packageJson.scripts.build], {
    cwd: build,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(build, 'node_modules', '.bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
  });
  if (result.status !== 0) throw new Error(`npm run build failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  // The runtime image: dist/ and production node_modules only.
  app = join(work, 'app');
  mkdirSync(app);
  renameSync(join(build, 'dist'), join(app, 'dist'));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function runOnce(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [...NODE_FLAGS, ENTRYPOINT.at(-1)!, ...args], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
}

function get(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('the emitted JavaScript (dist/)', () => {
  test('is JavaScript only, with every relative import rewritten to .js', () => {
    const files = filesUnder(join(app, 'dist'));
    expect(files).toContain('cmd/ringside.js');
    expect(files).toContain('package.json');
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    const tsImport = /(?:from\s*|import\(\s*)['"](\.{1,2}\/[^'"]*\.ts)['"]/;
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      expect(tsImport.exec(readFileSync(join(app, 'dist', file), 'utf8'))?.[1], file).toBeUndefined();
    }
  });

  test('--version prints the version from the package.json the build wrote beside it, and --help the usage', () => {
    const version = runOnce(['--version']);
    expect(version.stderr).toBe('');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(`ringside ${packageJson.version}`);
    const help = runOnce(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: ringside');
    const bad = runOnce(['--upstream', 'static:127.0.0.1:1', '--lb', 'nope']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^ringside: /);
  });

  test('proxies HTTP/1.1 and h2c requests, serves the admin port, and drains on SIGTERM', async () => {
    const h1 = await startHttpReplica('h1');
    const h2c = await startHttpReplica('h2c', { h2c: true });
    const config = join(work, 'ringside.yaml');
    writeFileSync(
      config,
      [
        'listeners:',
        '  - { name: h1, listen: "127.0.0.1:0", upstream: h1 }',
        '  - { name: h2, listen: "127.0.0.1:0", upstream: h2 }',
        'upstreams:',
        `  h1: { target: "static:${h1.key}" }`,
        `  h2: { target: "static:${h2c.key}", protocol: h2c }`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [...NODE_FLAGS, ENTRYPOINT.at(-1)!, '--admin', '127.0.0.1:0', '--config', config], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const replicas: Replica[] = [h1, h2c];
    try {
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
      const ports = await new Promise<{ listeners: Map<string, number>; admin: number }>((resolve, reject) => {
        const listeners = new Map<string, number>();
        let admin = 0;
        let buffer = '';
        child.stdout.on('data', (d: Buffer) => {
          buffer += d.toString();
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const entry = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
            buffer = buffer.slice(nl + 1);
            const port = Number(String(entry.address).split(':').pop());
            if (entry.msg === 'listening') listeners.set(String(entry.listener), port);
            if (entry.msg === 'admin listening') admin = port;
            if (entry.msg === 'started') resolve({ listeners, admin });
          }
        });
        void exited.then((code) => reject(new Error(`ringside exited (${code}) before it started: ${stderr}`)));
      });

      const viaH1 = await get(ports.listeners.get('h1')!, '/hello?key=1');
      expect(viaH1.status).toBe(200);
      expect(viaH1.body).toBe('h1 GET /hello?key=1 0');
      const viaH2c = await get(ports.listeners.get('h2')!, '/over-h2c');
      expect(viaH2c.status).toBe(200);
      expect(viaH2c.body).toBe('h2c GET /over-h2c 0');
      expect(h2c.requests).toBe(1);

      expect((await get(ports.admin, '/healthz')).status).toBe(200);
      const metrics = await get(ports.admin, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^ringside_/m);
      expect(metrics.body).toMatch(/^nodejs_/m);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all(replicas.map((r) => r.close()));
    }
  }, 30_000);
});
