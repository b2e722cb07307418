// A replica as its own process, so a test can SIGKILL it like a crashed pod:
//   node test/support/replica-main.ts --port 0 --name r1 [--grpc] [--host 127.0.0.1]
// It prints one JSON line {"name", "port"} on stdout once it listens.
// HTTP: /delay/MS answers like the default replica handler after MS ms
// (so requests are in flight when the process dies). gRPC: the echo service,
// where Unary's `count` is the delay.

import { parseArgs } from 'node:util';
import { defaultHandler, startHttpReplica, type Handler } from './http-replicas.ts';
import { startGrpcReplica } from './grpc-replicas.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    name: { type: 'string', default: 'replica' },
    grpc: { type: 'boolean', default: false },
  },
});
const name = values.name;
const port = Number(values.port);

const delayed: Handler = (req, res, replica) => {
  const m = /^\/delay\/(\d+)/.exec(req.url ?? '');
  if (m === null) return defaultHandler(req, res, replica);
  setTimeout(() => defaultHandler(req, res, replica), Number(m[1]));
};

const bound = values.grpc
  ? (await startGrpcReplica(name, values.host, port)).port
  : (await startHttpReplica(name, { host: values.host, port, handler: delayed })).port;
process.stdout.write(JSON.stringify({ name, port: bound }) + '\n');
// The parent stops us with a signal; a closed stdin (parent gone) also ends us.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
