// A bounded gRPC unary load: `concurrency` calls kept in flight over
// `channels` separate HTTP/2 connections for `seconds`, metadata x-key
// cycling over 1000 values; prints one JSON line like the wrk script's.
// Usage: node bench/grpc-load.ts HOST:PORT SECONDS CHANNELS CONCURRENCY

import { createEchoClient, grpc } from '../test/support/grpc-replicas.ts';
import type { EchoClient } from '../test/support/grpc-replicas.ts';

const [address, secondsText, channelsText, concurrencyText] = process.argv.slice(2);
const seconds = Number(secondsText);
const MAX_SAMPLES = 4_000_000;

// A local subchannel pool per client, or grpc-js would share one connection.
const clients: EchoClient[] = [];
for (let i = 0; i < Number(channelsText); i++) {
  const EchoService = createEchoClient(address).constructor as new (a: string, c: grpc.ChannelCredentials, o: object) => EchoClient;
  clients.push(new EchoService(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
}
const metadata = Array.from({ length: 1000 }, (_, i) => {
  const md = new grpc.Metadata();
  md.set('x-key', String(i));
  return md;
});
const request = { message: 'hello' };
const latenciesUs = new Float64Array(MAX_SAMPLES);
let completed = 0;
let errors = 0;
let sent = 0;
let running = true;
const started = process.hrtime.bigint();

function call(): void {
  const t0 = process.hrtime.bigint();
  const client = clients[sent % clients.length];
  const md = metadata[sent % 1000];
  sent++;
  client.Unary(request, md, {}, (err) => {
    if (err) errors++;
    else if (completed < MAX_SAMPLES) latenciesUs[completed++] = Number(process.hrtime.bigint() - t0) / 1000;
    if (running) call();
    else if (--inFlight === 0) finish();
  });
}

let inFlight = Number(concurrencyText);
for (let i = 0; i < inFlight; i++) call();
setTimeout(() => (running = false), seconds * 1000);

function finish(): void {
  // Until the last in-flight call ended: every completed call is in the count.
  const stopped = process.hrtime.bigint();
  const samples = latenciesUs.subarray(0, completed).sort();
  const pct = (p: number): number => (completed ? samples[Math.min(completed - 1, Math.floor((p / 100) * completed))] : 0);
  const summary = {
    requests: completed,
    durationUs: Math.round(Number(stopped - started) / 1000),
    p50Us: pct(50),
    p90Us: pct(90),
    p99Us: pct(99),
    connect: 0,
    read: 0,
    write: 0,
    status: errors,
    timeout: 0,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  for (const c of clients) c.close();
  process.exit(0);
}
