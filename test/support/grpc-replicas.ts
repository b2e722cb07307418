// Real gRPC replicas (@grpc/grpc-js) serving test/fixtures/echo.proto, and a client factory.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const definition = protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)), {
  keepCase: false,
  longs: Number,
  defaults: true,
});
const proto = grpc.loadPackageDefinition(definition) as unknown as {
  ringside: { test: { Echo: grpc.ServiceClientConstructor } };
};
export const EchoService = proto.ringside.test.Echo;

export interface EchoRequest {
  message?: string;
  count?: number;
  failCode?: number;
}
export interface EchoReply {
  message: string;
  replica: string;
  index: number;
}

export interface GrpcReplica {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly key: string;
  calls: number;
  /** Calls the server saw cancelled by the client (through the proxy). */
  cancelled: number;
  /** Metadata of the last call. */
  lastMetadata: grpc.Metadata | null;
  close(): Promise<void>;
}

export async function startGrpcReplica(name: string, host = '127.0.0.1', port = 0): Promise<GrpcReplica> {
  const server = new grpc.Server();
  const replica: GrpcReplica = { name, host, port: 0, key: '', calls: 0, cancelled: 0, lastMetadata: null, close: async () => {} };
  const seen = (call: { metadata: grpc.Metadata; on(event: 'cancelled', f: () => void): unknown }): void => {
    replica.calls++;
    replica.lastMetadata = call.metadata;
    call.on('cancelled', () => replica.cancelled++);
  };
  server.addService(EchoService.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      seen(call);
      const req = call.request;
      const answer = (): void => {
        if (req.failCode) callback({ code: req.failCode, details: req.message ?? '' });
        else callback(null, { message: req.message ?? '', replica: name, index: 0 });
      };
      if (req.count && req.count > 0) setTimeout(answer, req.count);
      else answer();
    },
    ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      seen(call);
      const n = call.request.count ?? 0;
      let i = 0;
      const pump = (): void => {
        while (i < n) {
          if (call.cancelled) return;
          const ok = call.write({ message: call.request.message ?? '', replica: name, index: i++ });
          if (!ok) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      seen(call);
      let count = 0;
      let text = '';
      call.on('data', (m: EchoRequest) => {
        count++;
        text += m.message ?? '';
      });
      call.on('end', () => callback(null, { message: text, replica: name, index: count }));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      seen(call);
      let i = 0;
      call.on('data', (m: EchoRequest) => call.write({ message: m.message ?? '', replica: name, index: i++ }));
      call.on('end', () => call.end());
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  Object.assign(replica, {
    port: bound,
    key: `${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  });
  return replica;
}

export type EchoClient = grpc.Client & {
  Unary(req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EchoReply) => void): grpc.ClientUnaryCall;
  ServerStream(req: EchoRequest, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  ClientStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EchoReply) => void): grpc.ClientWritableStream<EchoRequest>;
  Bidi(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
};

/** One client channel (one HTTP/2 connection) to `host:port`. */
export function createEchoClient(address: string): EchoClient {
  return new EchoService(address, grpc.credentials.createInsecure()) as unknown as EchoClient;
}

export function unary(client: EchoClient, req: EchoRequest, options: { metadata?: Record<string, string>; deadlineMs?: number } = {}): Promise<EchoReply> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
  const opts: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
  return new Promise((resolve, reject) => client.Unary(req, md, opts, (err, res) => (err ? reject(err) : resolve(res))));
}

export { grpc };
