// The RINGSIDE_* environment layer: one variable per flag (options.ts), unknown
// RINGSIDE_* names reported with a suggestion, hash sources split on commas.

import type { HashSource } from './config.ts';
import { createLayer, parseGiven, parseHashSource, type Layer } from './layer.ts';
import { ENV_VARS, OPTIONS, OPTIONS_BY_NAME, type OptionSpec } from './options.ts';
import type { Problems } from './problems.ts';
import { suggestClosest } from './suggest.ts';

// Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_<N>_TCP_ADDR`, ...
// for every Service in the namespace (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables),
// so a Service named `ringside` would otherwise make every pod fail on "unknown variable".
const KUBERNETES_SERVICE_LINK = /^RINGSIDE_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

// Variables read by the process itself, not configuration: RINGSIDE_LEAN_PLAIN_IO=1
// forces the lean engine's plain socket I/O (lib/io/stream-handle.ts), a
// diagnostic switch the tests use and the start-up log reports.
// RINGSIDE_RATE_LIMIT_REDIS_PASSWORD is a secret with no flag twin (a flag
// would show in `ps`); ./load-config.ts reads it.
const PROCESS_VARIABLES = new Set(['RINGSIDE_LEAN_PLAIN_IO', 'RINGSIDE_RATE_LIMIT_REDIS_PASSWORD']);

export function readEnv(env: Readonly<Record<string, string | undefined>>, problems: Problems): Layer {
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
      const source = parseHashSource(spec, item, given.key, problems);
      if (source === undefined) hashValid = false;
      else if (source !== null) hash.push(source);
    }
  }
  if (hashKey !== undefined && (hash.length > 0 || !hashValid)) layer.hash = { sources: hash, key: hashKey, valid: hashValid };
  return layer;
}
