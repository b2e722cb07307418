// Builds the one frozen RingsideConfig from flags, RINGSIDE_* environment
// variables and an optional YAML/JSON file (flags > environment > file >
// defaults). Every problem is collected and thrown together as one
// ConfigError, each naming the key as the user wrote it (`--lb`, `RINGSIDE_LB`,
// `upstreams.recs.lb`) and the form it expects, in the spirit of linkerd2-proxy.
// Each source is read by its own module (./flags.ts, ./environment.ts,
// ./config-file.ts) into a layer; ./build-config.ts builds from the layers.

import { ConfigError } from '../errors/errors.ts';
import { buildMultiListener, buildSingleListener } from './build-config.ts';
import type { RingsideConfig } from './config.ts';
import { readConfigFile } from './config-file.ts';
import { readEnv } from './environment.ts';
import { readFlags } from './flags.ts';
import { helpText } from './help.ts';
import { ENV_VARS } from './options.ts';
import { Problems } from './problems.ts';

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

export function loadConfig(sources: ConfigSources, version: string): LoadResult {
  const problems = new Problems();
  const flags = readFlags(sources.argv, problems);
  if (flags.help) return { kind: 'help', text: helpText(version) };
  if (flags.version) return { kind: 'version', text: `ringside ${version}` };
  const env = readEnv(sources.env, problems);

  const configGiven = flags.layer.values.get('config') ?? env.values.get('config');
  const file = configGiven?.valid ? readConfigFile(String(configGiven.value), configGiven.key, sources.readFile, problems) : undefined;

  const config = file !== undefined && (file.has('listeners') || file.has('upstreams'))
    ? buildMultiListener(flags.layer, env, file, problems, sources)
    : buildSingleListener(flags.layer, env, file, problems, sources);

  if (problems.list.length > 0) throw new ConfigError(problems.list);
  return { kind: 'config', config: deepFreeze(config as RingsideConfig) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
