// The container image's promises, checked on the Dockerfile itself because no
// Docker engine runs here: pinned multi-stage build, production dependencies
// only, the emitted JavaScript (not the TypeScript sources) at run time,
// numeric non-root user, ENTRYPOINT that execs node (so SIGTERM reaches
// ringside) with the V8 flags the benchmark uses, the two ports, and a build
// context without tests or history. test/dist-build.test.ts builds and runs
// what the build stage produces.
//
// Parsed with dockerfile-ast, the parser behind the VS Code Docker language
// server: it handles line continuations, parser directives, BuildKit flags
// (`RUN --mount`, `COPY --from`) and JSON (exec) form, which a few regexes
// would get subtly wrong. Docker's own grammar:
// https://docs.docker.com/reference/dockerfile/

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import { describe, expect, test } from 'vitest';
import { ENV_VARS, loadConfig } from '../lib/config/load-config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dockerfileText = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};

interface Stage {
  readonly name: string | null;
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

/** The instructions grouped by the FROM that opens each stage. */
function stagesOf(instructions: readonly Instruction[]): Stage[] {
  const stages: { name: string | null; image: string; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.getKeyword() === 'FROM') {
      const args = instruction.getArguments().map((a) => a.getValue());
      const asIndex = args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ name: asIndex >= 0 ? args[asIndex + 1] : null, image: args[0], instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const stages = stagesOf(dockerfile.getInstructions());
const finalStage = stages.at(-1) as Stage;
const inFinal = (keyword: string) => finalStage.instructions.filter((i) => i.getKeyword() === keyword);
const inStage = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const flagsOf = (i: Instruction) => ((i as Partial<JSONInstruction>).getFlags?.() ?? []).map((f) => [f.getName(), f.getValue()] as const);
const copiesOf = (stage: Stage) =>
  inStage(stage, 'COPY').map((c) => {
    const args = c.getArguments().map((a) => a.getValue());
    return { from: flagsOf(c).find(([name]) => name === 'from')?.[1] ?? null, sources: args.slice(0, -1), dest: args.at(-1) as string };
  });
const npmCiOf = (stage: Stage) =>
  inStage(stage, 'RUN')
    .map((r) => r.getArgumentsContent() ?? '')
    .filter((cmd) => /\bnpm ci\b/.test(cmd));
/** The ENTRYPOINT's argv (exec form). */
const entrypointArgv = (): string[] => (dockerfile.getENTRYPOINTs()[0] as unknown as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());

/** Docker's .dockerignore matching (Go filepath.Match plus `**`), enough for the patterns we use. https://docs.docker.com/build/concepts/context/#dockerignore-files */
function createDockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = normalize(negate ? line.slice(1) : line).replace(/^\/+/, '');
      // `**/` matches zero or more directories; `*` and `?` never cross a slash.
      const source = pattern
        .split('**/')
        .map((part) =>
          part
            .split('**')
            .map((piece) => piece.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]'))
            .join('.*'),
        )
        .join('(?:.*/)?');
      // A pattern that names a directory excludes everything below it.
      return { negate, regex: new RegExp(`^${source}(/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(path)) ignored = !rule.negate;
    return ignored;
  };
}

const isIgnored = createDockerignoreMatcher(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));

/**
 * Every file the entry point loads at run time, following relative imports
 * (static and dynamic) from the ENTRYPOINT script, and every package it imports.
 * `import type` lines are skipped: Node strips them, so they load nothing.
 */
function runtimeClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  const specifier = /(?:^|[\s;])(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(join(ROOT, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const match of source.matchAll(specifier)) {
      const spec = match[1] ?? match[2];
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) pending.push(normalize(join(dirname(file), spec)));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  }
  return { files, packages };
}

describe('Dockerfile', () => {
  test('is a multi-stage build whose every stage starts from a pinned Node 24 slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const nodeVersion = lock.packages['node_modules/node'].version;
    expect(nodeVersion).toMatch(/^24\.\d+\.\d+$/);
    for (const stage of stages) {
      // Pinned to the exact release the tests ran on; a digest may be appended.
      expect(stage.image).toMatch(new RegExp(`^node:${nodeVersion.replaceAll('.', '\\.')}-(bookworm|trixie)-slim(@sha256:[0-9a-f]{64})?$`));
    }
    expect(dockerfile.getFROMs().map((f) => f.getImageTag())).not.toContain('latest');
  });

  test('installs production dependencies only, with npm ci in a build stage, and no npm in the final stage', () => {
    const buildStages = stages.slice(0, -1);
    expect(buildStages.flatMap(npmCiOf).length).toBeGreaterThanOrEqual(1);
    expect(inFinal('RUN').map((r) => r.getArgumentsContent())).not.toEqual(expect.arrayContaining([expect.stringMatching(/\bnpm\b/)]));
    // node_modules reaches the final stage once, from a stage whose only npm ci is --omit=dev.
    const modules = copiesOf(finalStage).filter((c) => c.sources.some((a) => a.includes('node_modules')));
    expect(modules).toHaveLength(1);
    const source = stages.find((s) => s.name !== null && s.name === modules[0].from);
    expect(source, `node_modules comes from stage ${modules[0].from}`).toBeDefined();
    const installs = npmCiOf(source as Stage);
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/--omit=dev\b/);
    // The `node` devDependency (a whole Node.js binary) must not be a production dependency.
    expect(packageJson.dependencies).not.toHaveProperty('node');
  });

  test('the final stage runs the emitted JavaScript: dist/ from the stage that ran `npm run build`, and no TypeScript sources', () => {
    const finalCopies = copiesOf(finalStage);
    // Everything in the final stage comes from a build stage; nothing straight from the context.
    expect(finalCopies.filter((c) => c.from === null)).toEqual([]);
    const dist = finalCopies.filter((c) => c.sources.some((s) => /(^|\/)dist\/?$/.test(s)));
    expect(dist).toHaveLength(1);
    expect(dist[0].dest.replace(/\/$/, '')).toMatch(/^(\.\/)?dist$/);
    const build = stages.find((s) => s.name !== null && s.name === dist[0].from) as Stage;
    expect(build, `dist comes from stage ${dist[0].from}`).toBeDefined();
    expect(inStage(build, 'RUN').map((r) => r.getArgumentsContent())).toEqual(expect.arrayContaining([expect.stringMatching(/^npm run build$/)]));
    // The build script writes dist/ and the package.json beside it (the version and "type": "module").
    expect(packageJson.scripts.build).toMatch(/--outDir dist\b/);
    expect(packageJson.scripts.build).toMatch(/--rewriteRelativeImportExtensions\b/);
    expect(packageJson.scripts.build).toMatch(/cp package\.json dist\/package\.json/);
    // The build stage gets every source file the entry point loads (none excluded by .dockerignore) and the compiler's settings.
    const sources = copiesOf(build)
      .filter((c) => c.from === null)
      .flatMap((c) => c.sources);
    const copied = (file: string) => sources.some((src) => file === src || file.startsWith(src.replace(/\/?$/, '/')));
    const { files, packages } = runtimeClosure('cmd/ringside.ts');
    expect(files.size).toBeGreaterThan(20);
    for (const file of [...files, 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(copied(file), `${file} is not copied into the build stage`).toBe(true);
      expect(isIgnored(file), `${file} is excluded by .dockerignore`).toBe(false);
    }
    for (const name of packages) {
      expect(Object.keys(packageJson.dependencies), `${name} is imported at run time but is not a production dependency`).toContain(name);
    }
    expect(packages).toContain('undici');
    // The ENTRYPOINT's script is the emitted entry point inside the copied dist/.
    expect(entrypointArgv().at(-1)).toBe('dist/cmd/ringside.js');
  });

  test('runs as a numeric non-root user, with its files owned by root', () => {
    const users = inFinal('USER').map((u) => u.getArgumentsContent() ?? '');
    expect(users.length).toBeGreaterThanOrEqual(1);
    const [uid, gid] = (users.at(-1) as string).split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toMatch(/^\d+$/);
    expect(Number(uid)).toBe(65532);
    // Read-only root filesystem: nothing is handed to the runtime user to write, and no VOLUME is declared.
    expect(inFinal('COPY').flatMap(flagsOf).map(([name]) => name)).not.toContain('chown');
    expect(inFinal('VOLUME')).toHaveLength(0);
    // The USER comes before the ENTRYPOINT takes effect and nothing switches back to root.
    expect(inFinal('USER').every((u) => !/^(0|root)(:|$)/.test(u.getArgumentsContent() ?? ''))).toBe(true);
  });

  test('ENTRYPOINT execs node on dist/cmd/ringside.js in exec form (no npm, no shell), with V8 flags node accepts, and no CMD to wrap it', () => {
    const entrypoints = dockerfile.getENTRYPOINTs();
    expect(entrypoints).toHaveLength(1);
    const entrypoint = entrypoints[0] as unknown as JSONInstruction;
    // Exec (JSON) form: shell form would run `/bin/sh -c`, which does not forward SIGTERM.
    // https://docs.docker.com/reference/dockerfile/#entrypoint
    expect(entrypoint.getOpeningBracket()).not.toBeNull();
    const argv = entrypointArgv();
    expect(argv[0]).toBe('node');
    expect(argv.at(-1)).toBe('dist/cmd/ringside.js');
    const flags = argv.slice(1, -1);
    for (const flag of flags) expect(flag).toMatch(/^--[a-z0-9-]+(=[^\s]+)?$/);
    // The young generation is bounded (deploy/README.md "Sizing"), and node accepts every flag as given.
    expect(flags).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-semi-space-size=\d+$/)]));
    const check = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(argv.join(' ')).not.toMatch(/\b(npm|npx|sh|bash|tini)\b/);
    expect(inFinal('CMD')).toHaveLength(0);
    expect(inFinal('STOPSIGNAL').map((s) => s.getArgumentsContent())).not.toEqual(expect.arrayContaining([expect.not.stringMatching(/^SIGTERM$/)]));
  });

  test('exposes the listener and admin ports', () => {
    const ports = inFinal('EXPOSE').flatMap((e) => e.getArguments().map((a) => a.getValue()));
    expect(ports).toEqual(expect.arrayContaining(['15001', '15090']));
  });

  test('bounds the old generation in NODE_OPTIONS (replaceable by a pod), which node accepts and applies', () => {
    const env = Object.fromEntries(
      dockerfile.getENVs().flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)),
    );
    // Without a bound V8 lets the old generation grow 4x between mark-compacts:
    // +37 MiB peak RSS under h2c load (bench/README.md, 2026-12-06).
    expect(env.NODE_OPTIONS).toMatch(/^--max-old-space-size=\d+$/);
    const limitMiB = Number(env.NODE_OPTIONS!.split('=')[1]);
    const check = spawnSync(process.execPath, ['-p', 'require("node:v8").getHeapStatistics().heap_size_limit'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: env.NODE_OPTIONS } });
    expect(check.stderr).toBe('');
    const heapLimitMiB = Number(check.stdout) / 1048576;
    expect(heapLimitMiB).toBeGreaterThanOrEqual(limitMiB);
    expect(heapLimitMiB).toBeLessThan(limitMiB + 256); // plus the young generation's reserve
  });

  test('its RINGSIDE_* defaults are variables ringside reads, with values it accepts', () => {
    const env = Object.fromEntries(
      dockerfile.getENVs().flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)),
    );
    expect(env).toMatchObject({ RINGSIDE_LISTEN: '127.0.0.1:15001', RINGSIDE_ADMIN: '0.0.0.0:15090', NODE_ENV: 'production' });
    const ringside = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('RINGSIDE_')));
    for (const key of Object.keys(ringside)) expect(ENV_VARS).toContain(key);
    // The image cannot know the upstream: the pod gives it. Everything else must load as is.
    const result = loadConfig({ argv: [], env: { ...ringside, RINGSIDE_UPSTREAM: 'dns:recs.default.svc.cluster.local.:8080' }, readFile: () => '' }, '0.0.0');
    expect(result.kind).toBe('config');
    if (result.kind === 'config') {
      expect(result.config.admin).toEqual({ host: '0.0.0.0', port: 15090 });
      expect(result.config.listeners[0].listen).toEqual({ host: '127.0.0.1', port: 15001 });
    }
  });
});

describe('.dockerignore', () => {
  test('keeps history, local installs and builds, tests and benchmarks out of the build context', () => {
    for (const path of ['.git/HEAD', 'node_modules/undici/package.json', 'dist/cmd/ringside.js', 'test/http1-forwarding.test.ts', 'test/support/proxy.ts', 'bench/ring.ts', 'lib/config/load-config.test.ts', 'deploy/README.md']) {
      expect(isIgnored(path), path).toBe(true);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'cmd/ringside.ts', 'lib/app.ts', 'lib/config/load-config.ts']) {
      expect(isIgnored(path), path).toBe(false);
    }
  });

  test('the matcher follows Docker semantics: a root-level glob does not reach into directories', () => {
    const match = createDockerignoreMatcher('*.md\n**/*.test.ts\nbench\n!bench/keep.ts');
    expect(match('README.md')).toBe(true);
    expect(match('docs/README.md')).toBe(false);
    expect(match('lib/a/b.test.ts')).toBe(true);
    expect(match('bench/ring.ts')).toBe(true);
    expect(match('bench/keep.ts')).toBe(false);
    expect(match('root.test.ts')).toBe(true);
  });
});
