// The result of parsing one configuration value: the value, or the form that
// was expected. Parsers never throw, so the loader can collect every problem
// and report them together (see ./load-config.ts).

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

export function parsedValue<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function expected<T = never>(form: string): Parsed<T> {
  return { ok: false, expected: form };
}
