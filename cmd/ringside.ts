#!/usr/bin/env node
// The ringside command: read the configuration, start the sidecar, stop on
// signals. Configuration problems are printed all at once and exit 2 before
// any port is bound.

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
  process.on('uncaughtException', (err) => {
    logger.error('uncaught exception', { error: err, stack: err.stack });
    process.exit(1);
  });
  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    app = await startApp(result.config, { logger, version });
  } catch (err) {
    const code = errorCode(err);
    const message = code === 'EADDRINUSE' || code === 'EACCES' ? `cannot bind ${(err as { address?: string }).address ?? ''}:${(err as { port?: number }).port ?? ''}: ${code}` : (err as Error).message;
    process.stderr.write(`ringside: ${message}\n`);
    process.exit(1);
  }
  logger.info('started', { version, pid: process.pid, admin: app.adminPort, engine: result.config.engine, socketIo: app.socketIo });
  const drainTimeoutMs = result.config.drainTimeoutMs;
  let signalled = false;
  const onSignal = (signal: string): void => {
    if (signalled) {
      // A second signal: stop now.
      logger.warn('second signal, exiting now', { signal });
      process.exit(1);
    }
    signalled = true;
    logger.info('draining', { signal, timeoutMs: drainTimeoutMs });
    void app.stop(drainTimeoutMs).then(() => {
      logger.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
