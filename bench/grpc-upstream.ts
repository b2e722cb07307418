// Four @grpc/grpc-js Echo servers in one process, for the gRPC load.
// Usage: node bench/grpc-upstream.ts PORT HOST...   (runs until SIGTERM)

import { startGrpcReplica } from '../test/support/grpc-replicas.ts';
import type { GrpcReplica } from '../test/support/grpc-replicas.ts';

const [portText, ...hosts] = process.argv.slice(2);
const replicas: GrpcReplica[] = [];
for (const host of hosts) replicas.push(await startGrpcReplica(host, host, Number(portText)));
process.once('SIGTERM', () => {
  void Promise.all(replicas.map((r) => r.close())).then(() => process.exit(0));
});
