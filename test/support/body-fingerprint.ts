// Test bodies that are cheap to compare: a deterministic byte pattern of any
// length, and a short fingerprint (length and a sha256 prefix) to compare
// bodies in assertions without printing megabytes when they differ.

import { createHash } from 'node:crypto';

/** `length:sha256-prefix` of a body. */
export const sha = (b: Buffer): string => `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;

/** `n` bytes of a pattern that differs by `seed`, so a body from the wrong request or a shifted one shows. */
export const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
