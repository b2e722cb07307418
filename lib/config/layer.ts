// What one source (flags, environment, a file mapping) said, already parsed:
// the layers the builder picks from, flags first (./build-config.ts).

import type { HashSource } from './config.ts';
import type { OptionSpec } from './options.ts';
import type { Problems } from './problems.ts';

/** One value as given by one source, already parsed; `valid: false` when it was reported as a problem. */
export interface Given {
  readonly value: unknown;
  readonly key: string;
  readonly valid: boolean;
}

/** The hash source list as given by one source (flags, env, or a file mapping). */
export interface GivenHash {
  readonly sources: readonly HashSource[];
  readonly key: string;
  readonly valid: boolean;
}

/** Everything one source said: option name -> value, plus the hash source list. */
export interface Layer {
  readonly values: Map<string, Given>;
  hash: GivenHash | undefined;
}

export function createLayer(): Layer {
  return { values: new Map(), hash: undefined };
}

export function parseGiven(spec: OptionSpec, raw: unknown, key: string, problems: Problems): Given {
  const parsed = spec.parse(raw);
  if (!parsed.ok) {
    problems.invalid(key, raw, parsed.expected);
    return { value: undefined, key, valid: false };
  }
  return { value: parsed.value, key, valid: true };
}

/** One hash source from a flag or variable: the source, null for `--hash-source-ip=false`, undefined when invalid. */
export function parseHashSource(spec: OptionSpec, raw: string, key: string, problems: Problems): HashSource | null | undefined {
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
