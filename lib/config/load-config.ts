// Builds the one frozen RingsideConfig from flags, RINGSIDE_* environment
// variables and an optional YAML/JSON file (flags > environment > file >
// defaults). Every problem is collected and thrown together as one
// ConfigError, each naming the key as the user wrote it (`--lb`, `RINGSIDE_LB`,
// `upstreams.recs.lb`) and the form it expects, in the spirit of linkerd2-proxy.

import { createRequire } from 'node:module';
import { ConfigError, type ConfigProblem } from '../errors/errors.ts';
import type {
  DnsFamily,
  Engine,
  FallbackPolicy,
  HashSource,
  HostPort,
  LbPolicy,
  ListenerConfig,
  LogLevel,
  RingMode,
  RingsideConfig,
  UpstreamConfig,
  UpstreamProtocol,
  UpstreamTarget,
} from './config.ts';
import { helpText } from './help.ts';
import { formatHostPort } from './host-port.ts';
import {
  DEFAULTS,
  ENV_VARS,
  OPTIONS,
  OPTIONS_BY_NAME,
  parseBoolean,
  parseCookieName,
  parseHeaderName,
  parseQueryName,
  type OptionSpec,
} from './options.ts';
import type { Parsed } from './parsed.ts';
import { suggestClosest } from './suggest.ts';

// yaml is loaded only when a YAML file is read: a sidecar configured by flags
// and environment (the usual case) does not keep its ~440 KB of source around.
let yamlModule: typeof import('yaml') | null = null;
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

export { ENV_VARS };

export interface ConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

export type LoadResult =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string }
  | { readonly kind: 'config'; readonly config: RingsideConfig };

/** One value as given by one source, already parsed; `valid: false` when it was reported as a problem. */
interface Given {
  readonly value: unknown;
  readonly key: string;
  readonly valid: boolean;
}

/** The hash source list as given by one source (flags, env, or a file mapping). */
interface GivenHash {
  readonly sources: readonly HashSource[];
  readonly key: string;
  readonly valid: boolean;
}

/** Everything one source said: option name -> value, plus the hash source list. */
interface Layer {
  readonly values: Map<string, Given>;
  hash: GivenHash | undefined;
}

function createLayer(): Layer {
  return { values: new Map(), hash: undefined };
}

class Problems {
  readonly list: ConfigProblem[] = [];
  readonly #seen = new Set<string>();

  add(key: string, message: string): void {
    // Flag-level problems are met once per upstream in the multi-listener form: report them once.
    const id = `${key}\u0000${message}`;
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.list.push({ key, message });
  }

  invalid(key: string, raw: unknown, expectedForm: string): void {
    this.add(key, `${describeRaw(raw)}; expected ${expectedForm}`);
  }
}

function describeRaw(raw: unknown): string {
  if (raw === null || raw === undefined) return 'no value';
  if (typeof raw === 'string') return `got ${JSON.stringify(raw)}`;
  if (Array.isArray(raw)) return 'got a list';
  if (typeof raw === 'object') return 'got a mapping';
  return `got ${String(raw)}`;
}

function parseGiven(spec: OptionSpec, raw: unknown, key: string, problems: Problems): Given {
  const parsed = spec.parse(raw);
  if (!parsed.ok) {
    problems.invalid(key, raw, parsed.expected);
    return { value: undefined, key, valid: false };
  }
  return { value: parsed.value, key, valid: true };
}

export function loadConfig(sources: ConfigSources, version: string): LoadResult {
  const problems = new Problems();
  const flags = readFlags(sources.argv, problems);
  if (flags.help) return { kind: 'help', text: helpText(version) };
  if (flags.version) return { kind: 'version', text: `ringside ${version}` };
  const env = readEnv(sources.env, problems);

  const configGiven = flags.layer.values.get('config') ?? env.values.get('config');
  const file = configGiven?.valid ? readConfigFile(String(configGiven.value), configGiven.key, sources.readFile, problems) : undefined;

  const config = file !== undefined && (file.has('listeners') || file.has('upstreams'))
    ? buildMultiListener(flags.layer, env, file, problems)
    : buildSingleListener(flags.layer, env, file, problems);

  if (problems.list.length > 0) throw new ConfigError(problems.list);
  return { kind: 'config', config: deepFreeze(config as RingsideConfig) };
}

// ---- flags -----------------------------------------------------------------

function readFlags(argv: readonly string[], problems: Problems): { help: boolean; version: boolean; layer: Layer } {
  const layer = createLayer();
  const hash: HashSource[] = [];
  let hashKey: string | undefined;
  let hashValid = true;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') help = true;
    else if (arg === '-v') version = true;
    if (arg === '-h' || arg === '-v') continue;
    if (!arg.startsWith('--') || arg === '--') {
      problems.add(arg === '' ? '""' : arg, 'unexpected argument; expected --flag VALUE or --flag=VALUE (see --help)');
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const key = `--${name}`;
    const spec = OPTIONS_BY_NAME.get(name);
    if (spec === undefined) {
      const suggestion = suggestClosest(name, OPTIONS.map((o) => o.name));
      problems.add(key, `unknown flag; ${suggestion ? `did you mean --${suggestion}?` : 'expected a flag listed by --help'}`);
      // `--lbb ring_hash`: skip the value too, rather than also calling it an unexpected argument.
      if (inline === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('-')) i++;
      continue;
    }
    if (spec.kind === 'switch') {
      if (spec.name === 'help') help = true;
      else version = true;
      continue;
    }
    let raw: string;
    if (spec.kind === 'boolean') {
      raw = inline ?? 'true';
    } else if (inline !== undefined) {
      raw = inline;
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      raw = argv[++i];
    } else {
      const form = spec.parse(undefined);
      problems.add(key, `missing value; expected ${form.ok ? spec.placeholder : form.expected}`);
      continue;
    }
    if (spec.scope === 'hash') {
      hashKey ??= key;
      const source = parseHashFlag(spec, raw, key, problems);
      if (source === undefined) hashValid = false;
      else if (source !== null) hash.push(source);
      continue;
    }
    if (layer.values.has(spec.name)) {
      problems.add(key, `given more than once; expected it once`);
      continue;
    }
    layer.values.set(spec.name, parseGiven(spec, raw, key, problems));
  }
  // `--hash-source-ip=false` alone adds nothing, so it does not replace the sources of lower layers.
  if (hashKey !== undefined && (hash.length > 0 || !hashValid)) layer.hash = { sources: hash, key: hashKey, valid: hashValid };
  return { help, version, layer };
}

/** One hash source from a flag: the source, null for `--hash-source-ip=false`, undefined when invalid. */
function parseHashFlag(spec: OptionSpec, raw: string, key: string, problems: Problems): HashSource | null | undefined {
  const parsed = spec.parse(raw);
  if (!parsed.ok) {
    problems.invalid(key, raw, parsed.expected);
    return undefined;
  }
  switch (spec.name) {
    case 'hash-header':
      return { type: 'header', name: parsed.value as string, terminal: false };
    case 'hash-query':
      return { type: 'query', name: parsed.value as string, terminal: false };
    case 'hash-cookie':
      return { type: 'cookie', name: parsed.value as string, terminal: false };
    default:
      return parsed.value === true ? { type: 'source_ip', terminal: false } : null;
  }
}

// ---- environment -------------------------------------------------------------

// Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_<N>_TCP_ADDR`, ...
// for every Service in the namespace (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables),
// so a Service named `ringside` would otherwise make every pod fail on "unknown variable".
const KUBERNETES_SERVICE_LINK = /^RINGSIDE_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

// Variables read by the process itself, not configuration: RINGSIDE_LEAN_PLAIN_IO=1
// forces the lean engine's plain socket I/O (lib/lean/stream-handle.ts), a
// diagnostic switch the tests use and the start-up log reports.
const PROCESS_VARIABLES = new Set(['RINGSIDE_LEAN_PLAIN_IO']);

function readEnv(env: Readonly<Record<string, string | undefined>>, problems: Problems): Layer {
  const layer = createLayer();
  const byEnv = new Map(OPTIONS.filter((o) => o.env !== null).map((o) => [o.env as string, o]));
  const hashLists = new Map<string, { raw: string; key: string }>();
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('RINGSIDE_') || raw === undefined || KUBERNETES_SERVICE_LINK.test(key) || PROCESS_VARIABLES.has(key)) continue;
    const spec = byEnv.get(key);
    if (spec === undefined) {
      const suggestion = suggestClosest(key, ENV_VARS);
      problems.add(key, `unknown environment variable; ${suggestion ? `did you mean ${suggestion}?` : 'expected a variable listed by --help'}`);
      continue;
    }
    // An empty variable is how manifests and shells say "not set".
    if (raw === '') continue;
    if (spec.scope === 'hash') hashLists.set(spec.name, { raw, key });
    else layer.values.set(spec.name, parseGiven(spec, raw, key, problems));
  }
  // The environment has no order, so sources go header, query, cookie, source IP (documented in --help).
  const hash: HashSource[] = [];
  let hashKey: string | undefined;
  let hashValid = true;
  for (const name of ['hash-header', 'hash-query', 'hash-cookie', 'hash-source-ip']) {
    const given = hashLists.get(name);
    if (given === undefined) continue;
    hashKey ??= given.key;
    const spec = OPTIONS_BY_NAME.get(name) as OptionSpec;
    const items = spec.kind === 'boolean' ? [given.raw] : given.raw.split(',').map((item) => item.trim());
    for (const item of items) {
      const source = parseHashFlag(spec, item, given.key, problems);
      if (source === undefined) hashValid = false;
      else if (source !== null) hash.push(source);
    }
  }
  if (hashKey !== undefined && (hash.length > 0 || !hashValid)) layer.hash = { sources: hash, key: hashKey, valid: hashValid };
  return layer;
}

// ---- config file -------------------------------------------------------------

type FileMapping = Map<string, unknown>;

function readConfigFile(path: string, key: string, readFile: (path: string) => string, problems: Problems): FileMapping | undefined {
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

function isMapping(value: unknown): value is Record<string, unknown> {
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
function readFileSettings(
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

function unknownKey(keyPath: string, key: string, known: readonly string[], raw: unknown, problems: Problems): void {
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

// ---- building ----------------------------------------------------------------

/** The file keys of the single-listener form (top level) and of one `upstreams.NAME` entry. */
const TOP_LEVEL_KEYS: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.fileKey !== null).map((o) => [o.fileKey as string, o]));
const UPSTREAM_KEYS: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.upstreamKey !== null).map((o) => [o.upstreamKey as string, o]));
const MULTI_LISTENER_KEYS = ['listeners', 'upstreams'];

/** The first layer that has the option: flags, then environment, then file. */
function pick(name: string, layers: readonly (Layer | undefined)[]): Given | undefined {
  for (const layer of layers) {
    const given = layer?.values.get(name);
    if (given !== undefined) return given;
  }
  return undefined;
}

function valueOr<T>(name: string, layers: readonly (Layer | undefined)[], fallback: T): T {
  const given = pick(name, layers);
  return given?.valid ? (given.value as T) : fallback;
}

function buildGlobal(layers: readonly (Layer | undefined)[]): { logLevel: LogLevel; admin: HostPort; drainTimeoutMs: number; engine: Engine } {
  return {
    logLevel: valueOr<LogLevel>('log-level', layers, DEFAULTS.logLevel),
    admin: valueOr<HostPort>('admin', layers, DEFAULTS.admin),
    drainTimeoutMs: valueOr('drain-timeout', layers, DEFAULTS.drainTimeoutMs),
    engine: valueOr<Engine>('engine', layers, DEFAULTS.engine),
  };
}

function buildSingleListener(flags: Layer, env: Layer, file: FileMapping | undefined, problems: Problems): RingsideConfig {
  const fileLayer = file === undefined ? undefined : readFileSettings(file, '', TOP_LEVEL_KEYS, MULTI_LISTENER_KEYS, problems);
  const layers = [flags, env, fileLayer];
  const upstreamGiven = pick('upstream', layers);
  let target: UpstreamTarget | undefined;
  if (upstreamGiven === undefined) {
    problems.add('--upstream', 'required (or RINGSIDE_UPSTREAM, or `upstream` / `listeners` and `upstreams` in the config file); expected static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT, NAME:PORT or srv:_PORTNAME._tcp.NAME');
  } else if (upstreamGiven.valid) {
    target = upstreamGiven.value as UpstreamTarget;
  }
  const listen = valueOr<HostPort>('listen', layers, DEFAULTS.listen);
  const upstream = buildUpstream('default', target, layers, problems);
  const global = buildGlobal(layers);
  const listeners: ListenerConfig[] = [{ name: 'default', listen, upstream: 'default' }];
  checkAddresses(
    [
      { address: listen, key: pick('listen', layers)?.key ?? '--listen' },
      { address: global.admin, key: pick('admin', layers)?.key ?? '--admin' },
    ],
    problems,
  );
  return { ...global, listeners, upstreams: upstream === undefined ? [] : [upstream] };
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const NAME_FORM = 'a name of letters, digits, -, _ and . (at most 63, starting and ending with a letter or digit)';

function buildMultiListener(flags: Layer, env: Layer, file: FileMapping, problems: Problems): RingsideConfig {
  // The top level may still carry logLevel and admin; listener and upstream settings belong in listeners/upstreams.
  const globalKeys = new Map(OPTIONS.filter((o) => o.scope === 'global' || o.scope === 'meta').filter((o) => o.fileKey !== null).map((o) => [o.fileKey as string, o]));
  const topLevel = readFileSettings(file, '', globalKeys, [...MULTI_LISTENER_KEYS, ...TOP_LEVEL_KEYS.keys()], problems);
  for (const fileKey of [...TOP_LEVEL_KEYS.keys(), 'hashOn']) {
    if (file.has(fileKey) && !globalKeys.has(fileKey)) {
      problems.add(fileKey, 'only applies to the single-listener form; expected it inside each upstreams.NAME (or listeners[i]) when listeners/upstreams are used');
    }
  }
  for (const name of ['listen', 'upstream']) {
    for (const layer of [flags, env]) {
      const given = layer.values.get(name);
      if (given !== undefined) problems.add(given.key, 'cannot be combined with listeners/upstreams in the config file; expected the listener and upstream to be declared in the file');
    }
  }
  if (!file.has('listeners')) problems.add('listeners', 'missing; expected a list like [{listen: 127.0.0.1:15001, upstream: NAME}] alongside upstreams');
  if (!file.has('upstreams')) problems.add('upstreams', 'missing; expected a mapping like {NAME: {target: dns:NAME:PORT}} alongside listeners');

  const upstreams: UpstreamConfig[] = [];
  const upstreamNames = new Set<string>();
  const rawUpstreams = file.get('upstreams');
  if (file.has('upstreams')) {
    if (!isMapping(rawUpstreams) || Object.keys(rawUpstreams).length === 0) {
      problems.invalid('upstreams', rawUpstreams, 'a non-empty mapping like {NAME: {target: dns:NAME:PORT}}');
    } else {
      for (const [name, entry] of Object.entries(rawUpstreams)) {
        const path = `upstreams.${name}`;
        upstreamNames.add(name);
        if (!NAME.test(name)) problems.add(path, `invalid upstream name; expected ${NAME_FORM}`);
        if (!isMapping(entry)) {
          problems.invalid(path, entry, 'a mapping with at least target');
          continue;
        }
        const entryLayer = readFileSettings(new Map(Object.entries(entry)), path, UPSTREAM_KEYS, ['target'], problems);
        let target: UpstreamTarget | undefined;
        if (!Object.hasOwn(entry, 'target')) {
          problems.add(`${path}.target`, 'missing; expected static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT, NAME:PORT or srv:_PORTNAME._tcp.NAME');
        } else {
          const given = parseGiven(OPTIONS_BY_NAME.get('upstream') as OptionSpec, entry.target, `${path}.target`, problems);
          if (given.valid) target = given.value as UpstreamTarget;
        }
        const upstream = buildUpstream(name, target, [flags, env, entryLayer], problems);
        if (upstream !== undefined) upstreams.push(upstream);
      }
    }
  }

  const listeners: ListenerConfig[] = [];
  const addresses: { address: HostPort; key: string }[] = [];
  const rawListeners = file.get('listeners');
  if (file.has('listeners')) {
    if (!Array.isArray(rawListeners) || rawListeners.length === 0) {
      problems.invalid('listeners', rawListeners, 'a non-empty list like [{listen: 127.0.0.1:15001, upstream: NAME}]');
    } else {
      const namesSeen = new Map<string, string>();
      rawListeners.forEach((entry: unknown, index) => {
        const path = `listeners[${index}]`;
        if (!isMapping(entry)) {
          problems.invalid(path, entry, 'a mapping like {name: NAME, listen: HOST:PORT, upstream: NAME}');
          return;
        }
        for (const key of Object.keys(entry)) {
          if (!['name', 'listen', 'upstream'].includes(key)) unknownKey(`${path}.${key}`, key, ['name', 'listen', 'upstream'], entry[key], problems);
        }
        let ok = true;
        const listenSpec = OPTIONS_BY_NAME.get('listen') as OptionSpec;
        const listen = Object.hasOwn(entry, 'listen') ? parseGiven(listenSpec, entry.listen, `${path}.listen`, problems) : undefined;
        if (listen === undefined) problems.add(`${path}.listen`, 'missing; expected HOST:PORT (IPv6 as [::1]:15001), port 0..65535');
        if (listen?.valid) addresses.push({ address: listen.value as HostPort, key: `${path}.listen` });
        else ok = false;
        const upstream = entry.upstream;
        if (typeof upstream !== 'string') {
          problems.invalid(`${path}.upstream`, upstream, `the name of an entry in upstreams${upstreamNames.size > 0 ? ` (${[...upstreamNames].join(', ')})` : ''}`);
          ok = false;
        } else if (!upstreamNames.has(upstream) && isMapping(rawUpstreams)) {
          const suggestion = suggestClosest(upstream, [...upstreamNames]);
          problems.add(`${path}.upstream`, `no upstream named ${JSON.stringify(upstream)}; expected one of ${[...upstreamNames].join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
          ok = false;
        }
        let name = typeof upstream === 'string' ? upstream : '';
        if (Object.hasOwn(entry, 'name')) {
          if (typeof entry.name === 'string' && NAME.test(entry.name)) name = entry.name;
          else {
            problems.invalid(`${path}.name`, entry.name, NAME_FORM);
            ok = false;
          }
        }
        if (ok) {
          const earlier = namesSeen.get(name);
          if (earlier !== undefined) {
            problems.add(`${path}.name`, `duplicate listener name ${JSON.stringify(name)} (also ${earlier}); expected a unique name (it defaults to the upstream name)`);
            return;
          }
          namesSeen.set(name, path);
          listeners.push({ name, listen: listen!.value as HostPort, upstream: upstream as string });
        }
      });
    }
  }
  const global = buildGlobal([flags, env, topLevel]);
  addresses.push({ address: global.admin, key: pick('admin', [flags, env, topLevel])?.key ?? '--admin' });
  checkAddresses(addresses, problems);
  return { ...global, listeners, upstreams };
}

function buildUpstream(name: string, target: UpstreamTarget | undefined, layers: readonly (Layer | undefined)[], problems: Problems): UpstreamConfig | undefined {
  let hash: GivenHash | undefined;
  for (const layer of layers) {
    if (layer?.hash !== undefined) {
      hash = layer.hash;
      break;
    }
  }
  const hashOn = hash?.sources ?? [];
  const lbGiven = pick('lb', layers);
  let lb: LbPolicy = hashOn.length > 0 || (hash !== undefined && !hash.valid) ? 'ring_hash' : 'least_request';
  if (lbGiven?.valid) {
    lb = lbGiven.value as LbPolicy;
    if (lb === 'ring_hash' && hash === undefined) {
      problems.add(lbGiven.key, 'ring_hash needs a hash source; expected at least one of --hash-header, --hash-query, --hash-cookie, --hash-source-ip (or hashOn in the config file), or another policy');
    } else if (lb !== 'ring_hash' && hashOn.length > 0) {
      problems.add(lbGiven.key, `hash sources (${hash!.key}) only apply to ring_hash; expected ring_hash, or no hash sources with ${lb}`);
    }
  }
  const minRing = pick('min-ring-size', layers);
  const maxRing = pick('max-ring-size', layers);
  const minRingSize = valueOr('min-ring-size', layers, DEFAULTS.minRingSize);
  const maxRingSize = valueOr('max-ring-size', layers, DEFAULTS.maxRingSize);
  if ((minRing === undefined || minRing.valid) && (maxRing === undefined || maxRing.valid) && minRingSize > maxRingSize) {
    const key = minRing?.key ?? maxRing!.key;
    problems.add(key, `minimum ring size ${minRingSize} is larger than the maximum ${maxRingSize}; expected min-ring-size <= max-ring-size`);
  }
  if (target === undefined) return undefined;
  return {
    name,
    target,
    protocol: valueOr<UpstreamProtocol>('upstream-protocol', layers, DEFAULTS.upstreamProtocol),
    lb,
    hashOn: lb === 'ring_hash' ? hashOn : [],
    hashFallback: valueOr<FallbackPolicy>('hash-fallback', layers, DEFAULTS.hashFallback),
    ringMode: valueOr<RingMode>('ring-mode', layers, DEFAULTS.ringMode),
    ringEntriesPerEndpoint: valueOr('ring-entries-per-endpoint', layers, DEFAULTS.ringEntriesPerEndpoint),
    minRingSize,
    maxRingSize,
    hashBalanceFactor: valueOr<number | null>('hash-balance-factor', layers, DEFAULTS.hashBalanceFactor),
    connectTimeoutMs: valueOr('connect-timeout', layers, DEFAULTS.connectTimeoutMs),
    requestTimeoutMs: valueOr('request-timeout', layers, DEFAULTS.requestTimeoutMs),
    idleTimeoutMs: valueOr('idle-timeout', layers, DEFAULTS.idleTimeoutMs),
    h2KeepaliveIntervalMs: valueOr('h2-keepalive-interval', layers, DEFAULTS.h2KeepaliveIntervalMs),
    h2PingTimeoutMs: valueOr('h2-ping-timeout', layers, DEFAULTS.h2PingTimeoutMs),
    retries: valueOr('retries', layers, DEFAULTS.retries),
    retryBufferBytes: valueOr('retry-buffer', layers, DEFAULTS.retryBufferBytes),
    ejection: {
      consecutiveFailures: valueOr('eject-consecutive-failures', layers, DEFAULTS.ejectConsecutiveFailures),
      baseTimeMs: valueOr('eject-base-time', layers, DEFAULTS.ejectBaseTimeMs),
      maxTimeMs: valueOr('eject-max-time', layers, DEFAULTS.ejectMaxTimeMs),
      maxPercent: valueOr('max-ejection-percent', layers, DEFAULTS.maxEjectionPercent),
    },
    dns: {
      refreshMs: valueOr('dns-refresh', layers, DEFAULTS.dnsRefreshMs),
      respectTtl: valueOr('dns-respect-ttl', layers, DEFAULTS.dnsRespectTtl),
      family: valueOr<DnsFamily>('dns-family', layers, DEFAULTS.dnsFamily),
      server: valueOr<HostPort | null>('dns-server', layers, DEFAULTS.dnsServer),
    },
  };
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/**
 * Two listeners (or a listener and the admin server) on the same port collide
 * when their hosts are equal or one is a wildcard (0.0.0.0 or ::) that covers
 * the other. Port 0 never collides: the kernel picks a free port each time.
 */
function checkAddresses(all: readonly { address: HostPort; key: string }[], problems: Problems): void {
  const bound: { address: HostPort; key: string }[] = [];
  for (const { address, key } of all) {
    if (address.port === 0) continue;
    const clash = bound.find(
      (b) => b.address.port === address.port && (b.address.host === address.host || WILDCARD_HOSTS.has(b.address.host) || WILDCARD_HOSTS.has(address.host)),
    );
    if (clash !== undefined) {
      problems.add(key, `${formatHostPort(address)} is already used by ${clash.key} (${formatHostPort(clash.address)}); expected a distinct address`);
    } else {
      bound.push({ address, key });
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
