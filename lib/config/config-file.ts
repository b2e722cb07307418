// The config file layer: YAML or JSON read through the injected readFile, the
// single-listener keys and each upstreams.NAME mapping read into layers, every
// unknown key reported with a suggestion.

import { createRequire } from 'node:module';
import type { HashSource } from './config.ts';
import { createLayer, parseGiven, type GivenHash, type Layer } from './layer.ts';
import { parseBoolean, parseCookieName, parseHeaderName, parseQueryName, type OptionSpec } from './options.ts';
import type { Parsed } from './parsed.ts';
import { describeRaw, type Problems } from './problems.ts';
import { suggestClosest } from './suggest.ts';

// yaml is loaded only when a YAML file is read: a sidecar configured by flags
// and environment (the usual case) does not keep its ~440 KB of source around.
let yamlModule: typeof import('yaml') | null = null;
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

export type FileMapping = Map<string, unknown>;

export function readConfigFile(path: string, key: string, readFile: (path: string) => string, problems: Problems): FileMapping | undefined {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    problems.add(key, `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}; expected a readable YAML or JSON file`);
    return undefined;
  }
  let data: unknown;
  if (path.endsWith('.json')) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      problems.add(path, `invalid JSON (${err instanceof Error ? err.message : String(err)}); expected a JSON object`);
      return undefined;
    }
  } else {
    const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) {
      for (const error of doc.errors) problems.add(path, `invalid YAML: ${error.message.split('\n')[0]}`);
      return undefined;
    }
    data = doc.toJS();
  }
  if (data === null || data === undefined) return new Map();
  if (!isMapping(data)) {
    problems.add(path, `${describeRaw(data)}; expected a mapping of settings (see --help)`);
    return undefined;
  }
  return new Map(Object.entries(data));
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Reads the settings of one file mapping (the top level, or one `upstreams.NAME`).
 * `keys` maps each accepted file key (`lb`, `dns.refresh`) to its option; `hashOn`
 * is read as a hash source list; keys in `other` are read by the caller; any
 * other key is reported with a suggestion.
 */
export function readFileSettings(
  mapping: FileMapping,
  path: string,
  keys: ReadonlyMap<string, OptionSpec>,
  other: readonly string[],
  problems: Problems,
): Layer {
  const layer = createLayer();
  const nested = new Set([...keys.keys()].filter((k) => k.includes('.')).map((k) => k.split('.')[0]));
  const topKeys = [...[...keys.keys()].filter((k) => !k.includes('.')), ...nested, 'hashOn', ...other];
  for (const [fileKey, raw] of mapping) {
    const keyPath = joinPath(path, fileKey);
    const spec = keys.get(fileKey);
    if (spec !== undefined) {
      layer.values.set(spec.name, parseGiven(spec, raw, keyPath, problems));
    } else if (fileKey === 'hashOn') {
      layer.hash = readHashOn(raw, keyPath, problems);
    } else if (nested.has(fileKey)) {
      if (!isMapping(raw)) {
        problems.invalid(keyPath, raw, `a mapping with keys ${[...keys.keys()].filter((k) => k.startsWith(fileKey + '.')).map((k) => k.split('.')[1]).join(', ')}`);
        continue;
      }
      const inner = new Map([...keys].filter(([k]) => k.startsWith(fileKey + '.')).map(([k, s]) => [k.slice(fileKey.length + 1), s]));
      for (const [innerKey, innerRaw] of Object.entries(raw)) {
        const innerSpec = inner.get(innerKey);
        if (innerSpec === undefined) unknownKey(joinPath(keyPath, innerKey), innerKey, [...inner.keys()], innerRaw, problems);
        else layer.values.set(innerSpec.name, parseGiven(innerSpec, innerRaw, joinPath(keyPath, innerKey), problems));
      }
    } else if (!other.includes(fileKey)) {
      unknownKey(keyPath, fileKey, topKeys, raw, problems);
    }
  }
  return layer;
}

export function unknownKey(keyPath: string, key: string, known: readonly string[], raw: unknown, problems: Problems): void {
  const suggestion = suggestClosest(key, known);
  let message = `unknown key${suggestion ? `; did you mean ${suggestion}?` : `; expected one of ${known.join(', ')}`}`;
  // `{target: static:10.0.0.1:80,10.0.0.2:80}`: inside a YAML flow mapping a comma ends the value.
  if (raw === null && /:\d+$/.test(key)) message += ' (inside {...} a comma ends a YAML value: quote lists like "static:A:80,B:80")';
  problems.add(keyPath, message);
}

const HASH_ON_FORM = 'a list like [{header: x-user-id}, {query: user, terminal: true}, {cookie: sid}, {sourceIp: true}]';
const HASH_ENTRY_KINDS = ['header', 'query', 'cookie', 'sourceIp'] as const;

function readHashOn(raw: unknown, path: string, problems: Problems): GivenHash {
  if (!Array.isArray(raw)) {
    problems.invalid(path, raw, HASH_ON_FORM);
    return { sources: [], key: path, valid: false };
  }
  const sources: HashSource[] = [];
  let valid = true;
  raw.forEach((entry: unknown, index) => {
    const entryPath = `${path}[${index}]`;
    if (!isMapping(entry)) {
      problems.invalid(entryPath, entry, 'a mapping with one of header, query, cookie, sourceIp (and optionally terminal)');
      valid = false;
      return;
    }
    const kinds = HASH_ENTRY_KINDS.filter((k) => Object.hasOwn(entry, k));
    for (const k of Object.keys(entry)) {
      if (!(HASH_ENTRY_KINDS as readonly string[]).includes(k) && k !== 'terminal') {
        unknownKey(`${entryPath}.${k}`, k, [...HASH_ENTRY_KINDS, 'terminal'], entry[k], problems);
        valid = false;
      }
    }
    let terminal = false;
    if (Object.hasOwn(entry, 'terminal')) {
      const parsed = typeof entry.terminal === 'boolean' ? parseBoolean(entry.terminal) : ({ ok: false, expected: 'true or false' } as Parsed<boolean>);
      if (parsed.ok) terminal = parsed.value;
      else {
        problems.invalid(`${entryPath}.terminal`, entry.terminal, parsed.expected);
        valid = false;
      }
    }
    if (kinds.length !== 1) {
      problems.add(entryPath, `${kinds.length === 0 ? 'no hash source' : `${kinds.join(' and ')} together`}; expected exactly one of header, query, cookie, sourceIp`);
      valid = false;
      return;
    }
    const kind = kinds[0];
    const value = entry[kind];
    const keyPath = `${entryPath}.${kind}`;
    if (kind === 'sourceIp') {
      if (value === true) sources.push({ type: 'source_ip', terminal });
      else {
        problems.invalid(keyPath, value, 'true (leave the entry out to not hash on the source IP)');
        valid = false;
      }
      return;
    }
    const parse = kind === 'header' ? parseHeaderName : kind === 'query' ? parseQueryName : parseCookieName;
    const parsed = parse(value);
    if (!parsed.ok) {
      problems.invalid(keyPath, value, parsed.expected);
      valid = false;
      return;
    }
    sources.push({ type: kind, name: parsed.value, terminal });
  });
  return { sources, key: path, valid };
}
