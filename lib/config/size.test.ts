import fc from 'fast-check';
import { expect, test } from 'vitest';
import { formatSize, parseSize } from './size.ts';

test.each([
  ['65536', 65536],
  ['64KiB', 65536],
  ['1MiB', 1_048_576],
  ['1GiB', 1024 ** 3],
  ['64KB', 64_000],
  ['1.5KiB', 1536],
  ['10B', 10],
  ['0', 0],
])('%s is %d bytes', (text, bytes) => {
  expect(parseSize(text)).toEqual({ ok: true, value: bytes });
});

test.each(['', 'KiB', '1.1B', '64 KiB', '64kib', '-1', '1TiB', '1e6'])('rejects %j with the expected form', (text) => {
  expect(parseSize(text)).toEqual({ ok: false, expected: 'a size like 65536, 64KiB, 1MiB' });
});

test('property: any size printed then parsed gives the same bytes', () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 4096 }).map((n) => n * 1024)), (bytes) => {
      expect(parseSize(formatSize(bytes))).toEqual({ ok: true, value: bytes });
    }),
  );
});
