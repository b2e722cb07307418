// xxHash64 (seed 0) of a string's UTF-8 bytes into a reusable Hash64, the hash
// Envoy's ring hash and hash_policy use (https://github.com/Cyan4973/xxHash).
// Wraps the `xxhash-wasm` module: call `await initXxhash64()` once at startup
// (WebAssembly instantiation is async), then hash synchronously.
//
// Cost on the request path (bench numbers in bench/ring-README.md): the wasm
// export returns an i64, which JS can only receive as a BigInt, so one BigInt
// per hash is unavoidable with this module. Measured on the dev machine for
// ~20-byte keys (Node 24, 1M iterations):
//   h64 + `>> 32n` / `& 0xffffffffn` + Number()       ~200 ns (3 extra BigInts)
//   h64 + store into a BigUint64Array, read 2 x u32      ~140 ns (chosen)
//   encodeInto(reused buffer) + h64Raw + typed view     ~220 ns (extra copy into wasm memory)
//   h64ToString + 2 x parseInt(slice)                    ~420 ns (3 strings)
// h64 already encodes the string straight into wasm memory with encodeInto,
// so a TextEncoder buffer of our own only adds a copy.

import xxhashWasm from 'xxhash-wasm';
import type { Hash64 } from './hash64.ts';

type XxhashApi = Awaited<ReturnType<typeof xxhashWasm>>;

let api: XxhashApi | null = null;
let pending: Promise<void> | null = null;

// One 64-bit slot viewed as two little-endian u32 halves: storing the BigInt
// here splits it without any further BigInt arithmetic.
const slot64 = new BigUint64Array(1);
const slot32 = new Uint32Array(slot64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** Instantiate the wasm module. Idempotent; must resolve before any other function here is called. */
export function initXxhash64(): Promise<void> {
  if (api !== null) return Promise.resolve();
  pending ??= xxhashWasm().then((loaded) => {
    api = loaded;
  });
  return pending;
}

/** True once initXxhash64() has resolved. */
export function isXxhash64Ready(): boolean {
  return api !== null;
}

function notReady(): never {
  throw new Error('xxhash64 used before `await initXxhash64()`');
}

/** xxHash64, seed 0, of the UTF-8 bytes of `text`, written into `out`. */
export function xxhash64(text: string, out: Hash64): void {
  const h = api === null ? notReady() : api.h64(text);
  slot64[0] = h;
  out.hi = slot32[HI];
  out.lo = slot32[LO];
}

/** xxHash64 of `text` as 16 lower-case hex digits (tests, logs, status page; allocates). */
export function xxhash64Hex(text: string): string {
  return api === null ? notReady() : api.h64ToString(text);
}

/** The hash as 16 lower-case hex digits (allocates; off the request path only). */
export function hash64ToHex(hash: Hash64): string {
  return hash.hi.toString(16).padStart(8, '0') + hash.lo.toString(16).padStart(8, '0');
}
