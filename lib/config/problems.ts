// The collector every reader adds to: each configuration problem, once, with
// the key as the user wrote it and the form expected (one ConfigError at the end).

import type { ConfigProblem } from '../errors/errors.ts';

export class Problems {
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

export function describeRaw(raw: unknown): string {
  if (raw === null || raw === undefined) return 'no value';
  if (typeof raw === 'string') return `got ${JSON.stringify(raw)}`;
  if (Array.isArray(raw)) return 'got a list';
  if (typeof raw === 'object') return 'got a mapping';
  return `got ${String(raw)}`;
}
