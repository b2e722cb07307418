import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChunkedScanner, MALFORMED, NEED_MORE } from './chunked-scanner.ts';

function encode(chunks: string[], trailers = ''): string {
  return chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('') + `0\r\n${trailers}\r\n`;
}

/** Scan `text` split at `cuts`; the decoded data and where the body ended (or an error). */
function scanSplit(text: string, cuts: number[]): { end: number; data: string } {
  const buf = Buffer.from(text, 'latin1');
  const scanner = new ChunkedScanner();
  let data = '';
  const sink = { onChunkData: (b: Buffer, s: number, e: number) => void (data += b.toString('latin1', s, e)) };
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const p of [...points, buf.length]) {
    const r = scanner.scan(buf, from, p, sink);
    if (r === MALFORMED) return { end: MALFORMED, data };
    if (r !== NEED_MORE) return { end: r, data };
    from = p;
  }
  return { end: NEED_MORE, data };
}

describe('ChunkedScanner', () => {
  it('finds the end of any valid chunked body, whatever the split points', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 30 }), { maxLength: 5 }), fc.array(fc.nat(300)), fc.boolean(), (chunks, cuts, withTrailer) => {
        const latin1 = chunks.map((c) => Buffer.from(c, 'utf8').toString('latin1'));
        const body = encode(latin1, withTrailer ? 'x-sum: 1\r\n' : '');
        const r = scanSplit(body + 'GET / HTTP/1.1\r\n', cuts);
        expect(r.end).toBe(Buffer.byteLength(body, 'latin1'));
        expect(r.data).toBe(latin1.join(''));
      }),
    );
  });

  it('hands out the trailer section (through the blank line), whatever the split points', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(300)), fc.constantFrom('', 'x-sum: 1\r\n', 'a: 1\r\nB-c:  two words \r\n'), (cuts, trailers) => {
        const text = encode(['hello', 'world'], trailers);
        const buf = Buffer.from(text + 'next', 'latin1');
        const scanner = new ChunkedScanner();
        let data = '';
        let seen = '';
        const sink = {
          onChunkData: (b: Buffer, s: number, e: number) => void (data += b.toString('latin1', s, e)),
          onChunkTrailers: (b: Buffer, s: number, e: number) => void (seen += b.toString('latin1', s, e)),
        };
        let from = 0;
        let r = NEED_MORE;
        for (const p of [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b).concat(buf.length)) {
          if (p < from) continue;
          r = scanner.scan(buf, from, p, sink);
          if (r !== NEED_MORE) break;
          from = p;
        }
        expect(r).toBe(text.length);
        expect(data).toBe('helloworld');
        expect(seen).toBe(trailers + '\r\n');
      }),
    );
  });

  it('accepts chunk extensions and upper-case hex', () => {
    const text = 'A;name=value\r\n0123456789\r\n0;last\r\n\r\n';
    expect(scanSplit(text + 'next', []).end).toBe(text.length);
  });

  it.each([
    ['no size', '\r\nabc\r\n0\r\n\r\n'],
    ['signed size', '+3\r\nabc\r\n0\r\n\r\n'],
    ['0x prefix', '0x3\r\nabc\r\n0\r\n\r\n'],
    ['size overflowing 2^52', 'fffffffffffffff\r\n'],
    ['data longer than the size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['bare LF after the size', '3\nabc\r\n0\r\n\r\n'],
    ['bare CR after the data', '3\r\nabc\rX0\r\n\r\n'],
    ['space inside the size', '1 2\r\nab\r\n0\r\n\r\n'],
    ['control char in an extension', '3;a\x01\r\nabc\r\n0\r\n\r\n'],
    ['obs-fold in the trailers', '0\r\nx: 1\r\n folded\r\n\r\n'],
    ['trailer without a colon', '0\r\nbogus\r\n\r\n'],
    ['trailer name with a space', '0\r\nx y: 1\r\n\r\n'],
  ])('refuses %s', (_name, text) => {
    expect(scanSplit(text, []).end).toBe(MALFORMED);
  });

  it('waits for more bytes on an incomplete body, and stays failed after an error', () => {
    expect(scanSplit('5\r\nhel', []).end).toBe(NEED_MORE);
    const s = new ChunkedScanner();
    expect(s.scan(Buffer.from('zz\r\n'), 0, 4, null)).toBe(MALFORMED);
    expect(s.scan(Buffer.from('0\r\n\r\n'), 0, 5, null)).toBe(MALFORMED);
  });
});
