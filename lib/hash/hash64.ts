// A 64-bit hash as two unsigned 32-bit halves. Plain numbers keep BigInt off
// the request path; a caller reuses one Hash64 object for many requests.

export interface Hash64 {
  /** High 32 bits, unsigned (0 .. 2^32-1). */
  hi: number;
  /** Low 32 bits, unsigned (0 .. 2^32-1). */
  lo: number;
}

export function createHash64(): Hash64 {
  return { hi: 0, lo: 0 };
}
