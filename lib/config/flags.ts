// The command-line layer: argv tokenised by node:util parseArgs from the
// OPTIONS table, then validated here so that every problem is collected.

import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { HashSource } from './config.ts';
import { createLayer, parseGiven, parseHashSource, type Layer } from './layer.ts';
import { OPTIONS, OPTIONS_BY_NAME } from './options.ts';
import type { Problems } from './problems.ts';
import { suggestClosest } from './suggest.ts';

export interface FlagLayer {
  readonly help: boolean;
  readonly version: boolean;
  readonly layer: Layer;
}

/** parseArgs' view of OPTIONS: value options are strings, the others booleans; hash sources repeat. */
const PARSE_ARGS_OPTIONS: ParseArgsOptionsConfig = Object.fromEntries(
  OPTIONS.map((o) => [o.name, { type: o.kind === 'value' ? 'string' : 'boolean', multiple: o.repeatable, ...(o.short === undefined ? {} : { short: o.short }) }]),
);

const UNEXPECTED = 'unexpected argument; expected --flag VALUE or --flag=VALUE (see --help)';

/**
 * One argument as parseArgs saw it, with `index` into the whole argv. An
 * option's `value` is undefined when none was given (`--listen` last, or a
 * boolean flag without `=`).
 */
type FlagToken =
  | { readonly kind: 'option'; readonly name: string; readonly rawName: string; readonly index: number; readonly value: string | undefined }
  | { readonly kind: 'positional'; readonly index: number; readonly value: string }
  | { readonly kind: 'option-terminator'; readonly index: number };

/**
 * parseArgs with `strict: false` never throws: unknown flags become options
 * without a value, stray words positionals, and we report them all. It does
 * take the argument after a string option as its value whatever it looks
 * like, so `--lb --log-level info` would set lb to "--log-level". No value of
 * ours starts with `--`, so such a value means a forgotten one: the option is
 * given no value and the tokenising starts again at that argument. For
 * `--lb --log-level info`: the first pass yields lb = "--log-level" (from
 * index 0, stopped there), the second, over `--log-level info`, yields
 * log-level = "info"; the result is lb without a value (reported as missing),
 * then log-level "info" at index 1. A value after `=` is always taken as is.
 */
function tokenize(argv: readonly string[]): FlagToken[] {
  const out: FlagToken[] = [];
  let start = 0;
  restart: while (start < argv.length) {
    const { tokens } = parseArgs({ args: argv.slice(start), options: PARSE_ARGS_OPTIONS, strict: false, allowPositionals: true, tokens: true });
    for (const token of tokens) {
      const index = token.index + start;
      if (token.kind !== 'option') {
        out.push({ ...token, index });
        continue;
      }
      if (token.inlineValue === false && token.value.startsWith('--')) {
        out.push({ kind: 'option', name: token.name, rawName: token.rawName, index, value: undefined });
        start = index + 1;
        continue restart;
      }
      out.push({ kind: 'option', name: token.name, rawName: token.rawName, index, value: token.value });
    }
    break;
  }
  return out;
}

export function readFlags(argv: readonly string[], problems: Problems): FlagLayer {
  const tokens = tokenize(argv);
  const layer = createLayer();
  const hash: HashSource[] = [];
  let hashKey: string | undefined;
  let hashValid = true;
  let help = false;
  let version = false;
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t];
    if (token.kind === 'option-terminator') {
      // After `--` every argument is an operand (POSIX utility syntax guideline 10); ringside takes none.
      problems.add('--', UNEXPECTED);
      continue;
    }
    if (token.kind === 'positional') {
      problems.add(token.value === '' ? '""' : token.value, UNEXPECTED);
      continue;
    }
    // parseArgs has already turned the declared short options (-h, -v) into their long names.
    const spec = OPTIONS_BY_NAME.get(token.name);
    if (spec === undefined) {
      if (!token.rawName.startsWith('--')) {
        // `-x`, or a cluster such as `-xy` (one token per letter): reported once, as written.
        problems.add(argv[token.index], 'unknown flag; expected a flag listed by --help (only -h and -v are short)');
        continue;
      }
      const suggestion = suggestClosest(token.name, OPTIONS.map((o) => o.name));
      problems.add(token.rawName, `unknown flag; ${suggestion ? `did you mean --${suggestion}?` : 'expected a flag listed by --help'}`);
      // `--lbb ring_hash`: skip the value too, rather than also calling it an unexpected argument.
      const next = tokens[t + 1];
      if (token.value === undefined && next?.kind === 'positional' && next.index === token.index + 1 && !next.value.startsWith('-')) t++;
      continue;
    }
    if (spec.kind === 'switch') {
      if (spec.name === 'help') help = true;
      else version = true;
      continue;
    }
    const key = `--${spec.name}`;
    let raw: string;
    if (spec.kind === 'boolean') {
      // `--dns-respect-ttl` or `--dns-respect-ttl=false`; a separate `false` stays an unexpected argument.
      raw = token.value ?? 'true';
    } else if (token.value !== undefined) {
      raw = token.value;
    } else {
      const form = spec.parse(undefined);
      problems.add(key, `missing value; expected ${form.ok ? spec.placeholder : form.expected}`);
      continue;
    }
    if (spec.scope === 'hash') {
      hashKey ??= key;
      const source = parseHashSource(spec, raw, key, problems);
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
