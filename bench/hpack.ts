// HPACK micro-benchmark (lib/http2/hpack.ts): decode of typical upstream response
// header blocks (cold: Huffman literals; warm: dynamic-table references as
// nghttp2 sends them on a busy connection) and encode of typical request
// blocks. Run: flock /tmp/ringside-bench.lock npx node bench/hpack.ts
// Every loop is bounded by a fixed count; prints ns/op (median and min of rounds).

import { HpackDecoder, HpackEncoder } from '../lib/http2/hpack.ts';
import { huffmanEncode, huffmanEncodedLength } from '../lib/http2/huffman.ts';

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
};

/**
 * ns per call of `fn` over `rounds` rounds of `batch` calls, the first 10 rounds dropped:
 * [median, min]. On a shared machine the min is the steadier figure for A/B comparisons.
 */
function time(fn: () => number, batch = 20_000, rounds = 60): [number, number] {
  const samples: number[] = [];
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink += fn();
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  if (sink === -1) console.log(sink);
  const kept = samples.slice(10);
  return [median(kept), Math.min(...kept)];
}

// A tiny block builder for the representations nghttp2 uses.
class Block {
  bytes: number[] = [];
  int(flags: number, prefixBits: number, v: number): this {
    const max = (1 << prefixBits) - 1;
    if (v < max) {
      this.bytes.push(flags | v);
      return this;
    }
    this.bytes.push(flags | max);
    v -= max;
    while (v >= 128) {
      this.bytes.push((v & 127) | 128);
      v >>>= 7;
    }
    this.bytes.push(v);
    return this;
  }
  huffman(s: string): this {
    const b = Buffer.alloc(huffmanEncodedLength(s));
    huffmanEncode(s, b, 0);
    this.int(0x80, 7, b.length);
    this.bytes.push(...b);
    return this;
  }
  indexed(i: number): this {
    return this.int(0x80, 7, i);
  }
  /** Literal with incremental indexing; name by static index or (0) literal. */
  incremental(nameIndex: number, name: string, value: string): this {
    this.int(0x40, 6, nameIndex);
    if (nameIndex === 0) this.huffman(name);
    return this.huffman(value);
  }
  withoutIndexing(nameIndex: number, name: string, value: string): this {
    this.int(0x00, 4, nameIndex);
    if (nameIndex === 0) this.huffman(name);
    return this.huffman(value);
  }
  build(): Buffer {
    return Buffer.from(this.bytes);
  }
}

const DATE = 'Mon, 23 Nov 2026 18:40:46 GMT';

// gRPC unary response headers, first on a connection: everything a Huffman literal.
const grpcFirst = new Block()
  .indexed(8) // :status 200
  .incremental(31, '', 'application/grpc')
  .incremental(0, 'grpc-accept-encoding', 'identity,deflate,gzip')
  .incremental(33, '', DATE)
  .incremental(54, '', 'envoy')
  .build();
// The same response later on the connection: indexes into the dynamic table, a new date.
// After grpcFirst the table is [62] server, [63] date, [64] grpc-accept-encoding, [65] content-type.
const grpcWarm = new Block().indexed(8).indexed(65).indexed(64).incremental(33, '', DATE).indexed(63).build();
// Trailers of a gRPC response (after warm-up: [62] grpc-status 0 inserted, [63] grpc-message '').
const grpcTrailers = new Block().incremental(0, 'grpc-status', '0').incremental(0, 'grpc-message', '').build();
// HTTP/1-style JSON response, cold, without indexing (the decode cost of Huffman and strings alone).
const httpCold = new Block()
  .indexed(8)
  .withoutIndexing(31, '', 'application/json; charset=utf-8')
  .withoutIndexing(28, '', '1432')
  .withoutIndexing(33, '', DATE)
  .withoutIndexing(54, '', 'nginx/1.27.0')
  .withoutIndexing(24, '', 'private, max-age=0, no-cache')
  .withoutIndexing(0, 'x-request-id', '6f1c2a7e-9b3d-4c1e-8f2a-1b2c3d4e5f60')
  .build();

const out: string[] = [];
const results: [string, number, [number, number]][] = [];

{
  const d = new HpackDecoder();
  results.push(['decode gRPC response headers, warm (4 indexed + date literal)', grpcWarm.length, [0, 0]]);
  d.decode(grpcFirst, 0, grpcFirst.length, out);
  results[results.length - 1][2] = time(() => {
    out.length = 0;
    d.decode(grpcWarm, 0, grpcWarm.length, out);
    return out.length;
  });
}
{
  results.push(['decode gRPC response headers, first on connection (Huffman, indexing)', grpcFirst.length, [0, 0]]);
  // A fresh table each time costs a decoder; instead empty the table with two size updates (0 then 4096) in front.
  const reset = Buffer.concat([Buffer.from([0x20, 0x3f, 0xe1, 0x1f]), grpcFirst]);
  const d = new HpackDecoder();
  results[results.length - 1][2] = time(() => {
    out.length = 0;
    d.decode(reset, 0, reset.length, out);
    return out.length;
  });
}
{
  const d = new HpackDecoder();
  d.decode(grpcTrailers, 0, grpcTrailers.length, out);
  const warmTrailers = new Block().indexed(63).indexed(62).build();
  results.push(['decode gRPC trailers, warm (2 indexed)', warmTrailers.length, [0, 0]]);
  results[results.length - 1][2] = time(() => {
    out.length = 0;
    d.decode(warmTrailers, 0, warmTrailers.length, out);
    return out.length;
  });
}
{
  const d = new HpackDecoder();
  results.push(['decode HTTP response headers, 7 fields, Huffman literals without indexing', httpCold.length, [0, 0]]);
  results[results.length - 1][2] = time(() => {
    out.length = 0;
    d.decode(httpCold, 0, httpCold.length, out);
    return out.length;
  });
}

const grpcRequest = [
  ':method', 'POST', ':scheme', 'http', ':authority', '10.0.0.7:8080', ':path', '/helloworld.Greeter/SayHello',
  'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14.0',
  'grpc-accept-encoding', 'identity,deflate,gzip', 'grpc-timeout', '999m',
];
const httpRequest = [
  ':method', 'GET', ':scheme', 'http', ':authority', 'api.default.svc:8080', ':path', '/v1/items?key=user-1234',
  'accept', 'application/json', 'user-agent', 'curl/8.5.0', 'x-request-id', '6f1c2a7e-9b3d-4c1e-8f2a-1b2c3d4e5f60',
  'accept-encoding', 'gzip, deflate',
];
const encoder = new HpackEncoder();
for (const [label, headers] of [['encode gRPC request headers (9 fields)', grpcRequest], ['encode HTTP GET request headers (8 fields)', httpRequest]] as const) {
  const target = Buffer.allocUnsafe(HpackEncoder.maxEncodedLength(headers));
  const length = encoder.encode(headers, target, 0);
  results.push([label, length, time(() => encoder.encode(headers, target, 0))]);
  results.push([label.replace('encode', 'maxEncodedLength + encode'), length, time(() => encoder.encode(headers, target, HpackEncoder.maxEncodedLength(headers) - target.length))]);
}

console.log(`node ${process.version}, ${process.arch}`);
console.log('| operation | block bytes | ns/op median | ns/op min |');
console.log('|---|---:|---:|---:|');
for (const [label, bytes, [med, min]] of results) console.log(`| ${label} | ${bytes} | ${med.toFixed(0)} | ${min.toFixed(0)} |`);
