#!/usr/bin/env node
// The ringside command: read the configuration, start the sidecar, stop on
// SIGTERM/SIGINT. Configuration problems are printed all at once and exit 2
// before any port is bound. (Minimal version written with the config loader;
// the lead owns this file and may replace it.)

import { readFileSync } from 'node:fs';
import { loadConfig, type LoadResult } from '../lib/config/load-config.ts';
import { errorCode, ErrorCodes } from '../lib/errors/errors.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

let result: LoadResult;
try {
  result = loadConfig({ argv: process.argv.slice(2), env: process.env, readFile: (f) => readFileSync(f, 'utf8') }, version);
} catch (err) {
  if (errorCode(err) !== ErrorCodes.CONFIG) throw err;
  process.stderr.write(`ringside: ${(err as Error).message}\n`);
  process.exit(2);
}

if (result.kind !== 'config') {
  process.stdout.write(result.text + '\n');
} else {
  // Imported only now, so --help, --version and configuration errors never load (or bind) the data plane.
  const { startApp } = await import('../lib/app.ts');
  const { createLogger } = await import('../lib/log/logger.ts');
  const logger = createLogger(result.config.logLevel);
  const app = await startApp(result.config, { logger, version });
  const stop = (signal: string): void => {
    logger.info('stopping', { signal });
    void app.stop(5000).then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
