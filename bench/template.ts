// Config templates under bench/conf/: `{{NAME}}` placeholders filled in and
// written to the run's temporary directory.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CONF_DIR = new URL('./conf/', import.meta.url);

/** Render bench/conf/`template` with `values` into `dir`/`outName`; returns the written path. */
export function renderTemplate(template: string, values: Record<string, string>, dir: string, outName = template): string {
  const text = readFileSync(new URL(template, CONF_DIR), 'utf8').replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`${template}: no value for {{${name}}}`);
    return values[name];
  });
  const path = join(dir, outName);
  writeFileSync(path, text);
  return path;
}
