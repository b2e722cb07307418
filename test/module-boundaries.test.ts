// Keeps the module map of /work/shared/STYLE.md true: every import between the
// folders of lib/ must be allowed by the table below, either at runtime or as
// a type only (`import type` / `export type`, which Node's type stripping
// erases, https://nodejs.org/api/typescript.html#type-stripping). A mixed
// `import { type A, b }` or `import { type A }` still loads the module at
// runtime, so it counts as a runtime import.
//
// Changing the table is a design decision: do it on purpose, in its own commit.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = fileURLToPath(new URL('../lib/', import.meta.url));

/** A folder of lib/, or `app` for the composition root lib/app.ts. */
type Module = 'errors' | 'config' | 'hash' | 'balancer' | 'discovery' | 'upstream' | 'forwarding' | 'listener' | 'http1' | 'http2' | 'io' | 'metrics' | 'admin' | 'log' | 'rate-limit' | 'app';

interface Allowed {
  /** Modules this one may import values from (and types). */
  readonly runtime: readonly Module[];
  /** Modules this one may import types from only. */
  readonly types: readonly Module[];
}

const ALL: readonly Module[] = ['errors', 'config', 'hash', 'balancer', 'discovery', 'upstream', 'forwarding', 'listener', 'http1', 'http2', 'io', 'metrics', 'admin', 'log', 'rate-limit'];

// The arrows of STYLE.md's module map. Where today's code needs more than the
// map says, the extra arrow is marked with "beyond STYLE.md" and a reason.
export const ALLOWED: Readonly<Record<Module, Allowed>> = {
  errors: { runtime: [], types: [] },
  // EndpointAddress is the one shape of a configured static endpoint and a discovered one.
  config: { runtime: ['errors'], types: ['discovery'] },
  hash: { runtime: ['errors'], types: ['config'] },
  // The ring hashes endpoint keys with the same xxHash64 as requests: a runtime arrow to hash.
  balancer: { runtime: ['hash', 'errors'], types: ['config'] },
  discovery: { runtime: ['config', 'errors'], types: [] },
  // beyond STYLE.md: `config` (types) - Upstream keeps its UpstreamConfig (timeouts, name).
  // Each endpoint's clients are the engine's set (endpoint-clients.ts: our HTTP/1.1 pool and h2c client from
  // http1 and http2, or the reference ones), chosen once in lib/app.ts and handed in.
  // The upstream clients implement the forwarding core's controller contract (lib/forwarding/dispatch-controller.ts).
  upstream: { runtime: ['errors', 'metrics', 'log', 'http1', 'http2', 'forwarding'], types: ['balancer', 'discovery', 'hash', 'config'] },
  // The core every request goes through: route, exchange (pick, dispatch, retries, deadlines,
  // accounting), request body tap, hop-by-hop rules; and the controller contract the codecs implement.
  forwarding: { runtime: ['errors', 'upstream', 'metrics'], types: ['hash', 'config', 'log', 'rate-limit'] },
  // The listener hands HTTP/1 connections to our HTTP/1.1 server and HTTP/2 ones to our HTTP/2 server (--engine lean).
  listener: { runtime: ['balancer', 'upstream', 'hash', 'errors', 'metrics', 'log', 'http1', 'http2', 'forwarding'], types: ['config', 'rate-limit'] },
  // Codecs: HTTP/1.1 (server connection, client pool, head parsers, chunked framing) and HTTP/2 (frames,
  // HPACK, flow control, client session); they know nothing of balancing.
  // The HTTP/1.1 server connection is a codec in front of the one core: its side of the core's contract
  // (http1-server-exchange.ts, pool-attempt.ts) subclasses Exchange and implements the controller.
  // An HTTP/1.1 attempt takes the pool of the endpoint the core picked (endpoint.clients.pool(), typed through the core).
  http1: { runtime: ['errors', 'forwarding', 'io'], types: ['config'] },
  http2: { runtime: ['io', 'forwarding'], types: [] },
  // Socket reader/writer on the stream handle, the timer wheel.
  io: { runtime: [], types: [] },
  metrics: { runtime: ['errors'], types: ['discovery'] },
  // Read-only views of the rest, never the listener (the admin port must not reach the data plane).
  admin: { runtime: ['metrics'], types: ['errors', 'config', 'hash', 'balancer', 'discovery', 'upstream', 'metrics', 'log'] },
  log: { runtime: [], types: ['config'] },
  'rate-limit': { runtime: ['hash', 'errors'], types: ['config', 'metrics', 'log'] },
  app: { runtime: ALL, types: ALL },
};

/**
 * Single imports that break the table today, each with why it is wrong and how to fix it.
 * Listed here (not allowed by widening the table) so they stay visible; an entry that is no
 * longer needed fails the test, so the list only shrinks.
 */
export const KNOWN_EXCEPTIONS: readonly { readonly file: string; readonly specifier: string; readonly why: string }[] = [];

/** Pure modules: no I/O, no HTTP client (STYLE.md: "No I/O, no undici, no node:http"). */
const PURE: readonly Module[] = ['errors', 'hash', 'balancer'];

export interface ImportRef {
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

/** Replaces comments with spaces (keeping newlines and string literals), so commented-out imports are not seen. */
export function blankComments(source: string): string {
  let out = '';
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < n && source[i] !== '\n') {
        out += ' ';
        i++;
      }
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      for (; i < stop; i++) out += source[i] === '\n' ? '\n' : ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      // Copy the literal as is; a backslash escapes the next character.
      out += c;
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === '\\') out += source[i++];
        out += source[i++];
      }
      if (i < n) out += source[i++];
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Static imports, re-exports, side-effect imports and literal dynamic import() calls of one file. */
export function findImports(source: string): ImportRef[] {
  const code = blankComments(source);
  const lineOf = (index: number): number => code.slice(0, index).split('\n').length;
  const refs: ImportRef[] = [];
  // `import x from 'm'`, `import type { A } from 'm'`, `export { a } from 'm'`, `export type * from 'm'`, multi-line too.
  const fromClause = /(?:^|;)[ \t]*(import|export)\s+(type\s+)?([^;'"`]*?)\s*from\s*(['"])([^'"]+)\4/gm;
  for (const m of code.matchAll(fromClause)) {
    refs.push({ specifier: m[5], typeOnly: m[2] !== undefined, line: lineOf(m.index) });
  }
  for (const m of code.matchAll(/(?:^|;)[ \t]*import\s*(['"])([^'"]+)\1/gm)) refs.push({ specifier: m[2], typeOnly: false, line: lineOf(m.index) });
  for (const m of code.matchAll(/\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g)) refs.push({ specifier: m[2], typeOnly: false, line: lineOf(m.index) });
  // `import('m').T` in a type position is type-only, but telling it apart needs a parser: it counts as runtime (stricter).
  return refs;
}

/** Which module a path under lib/ belongs to (relative, forward slashes), or null for files outside the map. */
export function moduleOf(libRelative: string): Module | 'unknown' {
  if (libRelative === 'app.ts') return 'app';
  const top = libRelative.split('/')[0];
  return (ALL as readonly string[]).includes(top) && libRelative.includes('/') ? (top as Module) : 'unknown';
}

export interface SourceFile {
  /** Path relative to lib/, forward slashes. */
  readonly path: string;
  readonly source: string;
}

/** Every import that breaks the table, as readable lines (empty when the map holds). */
export function checkBoundaries(files: readonly SourceFile[], exceptions = KNOWN_EXCEPTIONS): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const file of files) {
    const from = moduleOf(file.path);
    if (from === 'unknown') {
      problems.push(`lib/${file.path}: not in the module map; add its folder to ALLOWED in test/module-boundaries.test.ts`);
      continue;
    }
    const allowed = ALLOWED[from];
    for (const ref of findImports(file.source)) {
      const where = `lib/${file.path}:${ref.line}`;
      if (!ref.specifier.startsWith('.')) {
        if (PURE.includes(from) && (/^node:/.test(ref.specifier) || ref.specifier === 'undici' || ref.specifier.startsWith('undici/'))) {
          problems.push(`${where}: ${from} is pure (no I/O, no HTTP client) but imports '${ref.specifier}'`);
        }
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), ref.specifier));
      if (target.startsWith('../')) {
        problems.push(`${where}: lib imports outside lib/ ('${ref.specifier}')`);
        continue;
      }
      const to = moduleOf(target);
      if (to === from) continue;
      if (to === 'unknown') {
        problems.push(`${where}: imports '${ref.specifier}', which is in no module of the map`);
        continue;
      }
      if (allowed.runtime.includes(to)) continue;
      if (ref.typeOnly && allowed.types.includes(to)) continue;
      if (exceptions.some((e) => e.file === file.path && e.specifier === ref.specifier)) {
        used.add(`${file.path} ${ref.specifier}`);
        continue;
      }
      const hint = allowed.types.includes(to) ? ` (only types may come from ${to}: use \`import type\`)` : '';
      problems.push(`${where}: ${from} must not import ${to} ('${ref.specifier}')${hint}`);
    }
  }
  for (const e of exceptions) {
    const scanned = files.some((f) => f.path === e.file);
    if (scanned && !used.has(`${e.file} ${e.specifier}`)) problems.push(`lib/${e.file}: the known exception for '${e.specifier}' is no longer needed; remove it from KNOWN_EXCEPTIONS`);
  }
  return problems;
}

function libFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  for (const entry of readdirSync(LIB, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const full = path.join(entry.parentPath, entry.name);
    out.push({ path: path.relative(LIB, full).split(path.sep).join('/'), source: readFileSync(full, 'utf8') });
  }
  return out;
}

describe('module boundaries (STYLE.md module map)', () => {
  it('every import in lib/ follows the map', () => {
    const files = libFiles();
    // A broken scan (wrong directory, a regex that matches nothing) must not pass silently.
    expect(files.length).toBeGreaterThan(30);
    expect(files.flatMap((f) => findImports(f.source)).filter((r) => r.specifier.startsWith('.')).length).toBeGreaterThan(80);
    expect(checkBoundaries(files)).toEqual([]);
  });

  it('admin importing the listener is caught, even inside a multi-line import', () => {
    const admin = libFiles().find((f) => f.path === 'admin/admin-app.ts')!;
    const tampered = { path: admin.path, source: `import {\n  Listener,\n} from '../listener/listener.ts';\n${admin.source}` };
    expect(checkBoundaries([tampered])).toEqual(["lib/admin/admin-app.ts:1: admin must not import listener ('../listener/listener.ts')"]);
    // Not even a type: the admin port must not know the data plane.
    const typeOnly = { path: admin.path, source: `import type { Route } from '../listener/route.ts';\n${admin.source}` };
    expect(checkBoundaries([typeOnly])).toHaveLength(1);
  });

  it('a value import where only types are allowed is caught; `import { type X }` still loads the module', () => {
    const cases: [string, number][] = [
      [`import type { UpstreamConfig } from '../config/config.ts';`, 0],
      [`export type { UpstreamConfig } from '../config/config.ts';`, 0],
      [`import { loadConfig } from '../config/load-config.ts';`, 1],
      [`import { type UpstreamConfig } from '../config/config.ts';`, 1],
      [`const m = await import('../config/load-config.ts');`, 1],
      [`// import { loadConfig } from '../config/load-config.ts';`, 0],
      [`/* import { loadConfig } from '../config/load-config.ts'; */`, 0],
      [`const s = "// not a comment"; import { x } from '../listener/route.ts';`, 1],
    ];
    for (const [source, expected] of cases) {
      expect(checkBoundaries([{ path: 'hash/hash-policy.ts', source }]), source).toHaveLength(expected);
    }
  });

  it('errors imports nothing of ours; pure modules do no I/O; unknown folders must be added to the map', () => {
    expect(checkBoundaries([{ path: 'errors/errors.ts', source: `import type { HostPort } from '../config/config.ts';` }])).toHaveLength(1);
    expect(checkBoundaries([{ path: 'balancer/ring-hash/ring.ts', source: `import { request } from 'undici';\nimport net from 'node:net';` }])).toHaveLength(2);
    expect(checkBoundaries([{ path: 'retry/retry.ts', source: '' }])).toHaveLength(1);
    expect(checkBoundaries([{ path: 'log/logger.ts', source: `import { startApp } from '../app.ts';` }])).toHaveLength(1);
    // A known exception whose import is gone must be removed from the list.
    const stale = KNOWN_EXCEPTIONS[0];
    if (stale) expect(checkBoundaries([{ path: stale.file, source: '' }])).toHaveLength(1);
  });

  it('lib/app.ts may import every module', () => {
    const source = ALL.map((m, i) => `import { x${i} } from './${m}/${m}.ts';`).join('\n');
    expect(checkBoundaries([{ path: 'app.ts', source }])).toEqual([]);
  });
});
