// Properties of the HPACK codec (fast-check): our encoder's blocks decode to
// what was encoded; blocks from a model encoder that uses every representation
// (incremental indexing, Huffman, size updates, never-indexed) decode to the
// model's header list and leave the model's table; the table-driven Huffman
// decoder agrees with a bit-by-bit walk of the code on any input; and on
// arbitrary or mutated bytes the decoder either succeeds within its limits or
// throws HpackError, nothing else.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode, huffmanEncodedLength, huffmanMaxDecodedLength } from './huffman.ts';

const STATIC_PAIRS: [string, string][] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'],
  [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''],
  ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''],
  ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''],
  ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

const latin1 = (maxLength: number) => fc.array(fc.integer({ min: 0, max: 255 }), { maxLength }).map((a) => String.fromCharCode(...a));
const visibleAscii = (maxLength: number) => fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength }).map((a) => String.fromCharCode(...a));
const tokenName = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,24}$/);
const name = fc.oneof(tokenName, fc.constantFrom(...STATIC_PAIRS.map((p) => p[0])));
const value = fc.oneof(visibleAscii(40), latin1(40), fc.constantFrom(...STATIC_PAIRS.map((p) => p[1])), latin1(300));
const headerList = fc.array(fc.tuple(name, value), { maxLength: 24 });

function flat(pairs: [string, string][]): string[] {
  return pairs.flat();
}

function listSize(pairs: [string, string][]): number {
  return pairs.reduce((n, [a, b]) => n + a.length + b.length + 32, 0);
}

/** Decodes, returning the output or the error thrown (which must be an HpackError). */
function tryDecode(decoder: HpackDecoder, block: Buffer): string[] | HpackError {
  const out: string[] = [];
  try {
    decoder.decode(block, 0, block.length, out);
    return out;
  } catch (e) {
    if (!(e instanceof HpackError) || e.code !== 'RS_ERR_HPACK') throw e;
    return e;
  }
}

// --- A model encoder using every representation of RFC 7541 section 6 -------------------------

interface ModelChoice {
  huffmanName: boolean;
  huffmanValue: boolean;
  kind: number; // 0 indexed if possible, 1 incremental indexing, 2 without indexing, 3 never indexed
  useNameIndex: boolean;
}

class ModelEncoder {
  table: [string, string][] = []; // newest first
  capacity: number;
  chunks: number[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  size(): number {
    return listSize(this.table);
  }

  evictTo(limit: number): void {
    while (this.size() > limit) this.table.pop();
  }

  int(flags: number, prefixBits: number, v: number): void {
    const max = (1 << prefixBits) - 1;
    if (v < max) {
      this.chunks.push(flags | v);
      return;
    }
    this.chunks.push(flags | max);
    v -= max;
    while (v >= 128) {
      this.chunks.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
  }

  string(s: string, huffman: boolean): void {
    if (huffman) {
      const buf = Buffer.alloc(huffmanEncodedLength(s));
      huffmanEncode(s, buf, 0);
      this.int(0x80, 7, buf.length);
      this.chunks.push(...buf);
    } else {
      this.int(0, 7, s.length);
      for (let i = 0; i < s.length; i++) this.chunks.push(s.charCodeAt(i));
    }
  }

  sizeUpdate(v: number): void {
    this.int(0x20, 5, v);
    this.capacity = v;
    this.evictTo(v);
  }

  /** 1-based HPACK index of the pair (or of the name only when value is undefined), 0 if absent. */
  find(n: string, v: string | undefined): number {
    const s = STATIC_PAIRS.findIndex(([a, b]) => a === n && (v === undefined || b === v));
    if (s >= 0) return s + 1;
    const d = this.table.findIndex(([a, b]) => a === n && (v === undefined || b === v));
    return d >= 0 ? 62 + d : 0;
  }

  field(n: string, v: string, c: ModelChoice): void {
    const full = this.find(n, v);
    if (c.kind === 0 && full !== 0) {
      this.int(0x80, 7, full);
      return;
    }
    const nameIndex = c.useNameIndex ? this.find(n, undefined) : 0;
    const [flags, bits] = c.kind === 1 ? [0x40, 6] : c.kind === 3 ? [0x10, 4] : [0x00, 4];
    this.int(flags, bits, nameIndex);
    if (nameIndex === 0) this.string(n, c.huffmanName);
    this.string(v, c.huffmanValue);
    if (c.kind === 1) {
      const entry = n.length + v.length + 32;
      if (entry > this.capacity) this.table = [];
      else {
        this.evictTo(this.capacity - entry);
        this.table.unshift([n, v]);
      }
    }
  }

  take(): Buffer {
    const b = Buffer.from(this.chunks);
    this.chunks = [];
    return b;
  }
}

const choice = fc.record({ huffmanName: fc.boolean(), huffmanValue: fc.boolean(), kind: fc.integer({ min: 0, max: 3 }), useNameIndex: fc.boolean() });
const modelBlock = fc.record({
  sizeUpdates: fc.array(fc.integer({ min: 0, max: 512 }), { maxLength: 2 }),
  fields: fc.array(fc.tuple(fc.oneof(name, fc.constantFrom('x-a', 'x-b')), fc.oneof(value, fc.constantFrom('1', '2')), choice), { maxLength: 16 }),
});

// --- A bit-by-bit Huffman decoder, the reference for the table-driven one ----------------------

function referenceHuffmanDecode(bytes: Uint8Array): string | null {
  const byCode = new Map<string, number>();
  for (let s = 0; s < 257; s++) byCode.set(HUFFMAN_LENGTHS[s] + ':' + HUFFMAN_CODES[s], s);
  let out = '';
  let code = 0;
  let length = 0;
  for (const byte of bytes) {
    for (let i = 7; i >= 0; i--) {
      code = code * 2 + ((byte >> i) & 1);
      length++;
      const sym = byCode.get(length + ':' + code);
      if (sym === undefined) continue;
      if (sym === 256) return null;
      out += String.fromCharCode(sym);
      code = 0;
      length = 0;
    }
  }
  // Padding: fewer than 8 bits, all ones.
  if (length > 7 || code !== 2 ** length - 1) return null;
  return out;
}

describe('HPACK properties', () => {
  it('our encoder round-trips any header list, without touching the dynamic table', () => {
    fc.assert(
      fc.property(headerList, fc.nat(64), (pairs, offset) => {
        const headers = flat(pairs);
        const target = Buffer.alloc(offset + HpackEncoder.maxEncodedLength(headers));
        const end = new HpackEncoder().encode(headers, target, offset);
        expect(end).toBeLessThanOrEqual(target.length);
        const decoder = new HpackDecoder(4096, 1 << 30);
        const out: string[] = [];
        decoder.decode(target, offset, end, out);
        expect(out).toEqual(headers);
        expect(decoder.dynamicTableSize).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('Huffman: encode then decode is the identity; the table decoder agrees with a bit-by-bit decoder on any bytes', () => {
    const dst = new Uint8Array(huffmanMaxDecodedLength(400));
    fc.assert(
      fc.property(latin1(200), (s) => {
        const buf = Buffer.alloc(huffmanEncodedLength(s));
        expect(huffmanEncode(s, buf, 0)).toBe(buf.length);
        const n = huffmanDecode(buf, 0, buf.length, dst);
        expect(Buffer.from(dst.subarray(0, n)).toString('latin1')).toBe(s);
      }),
      { numRuns: 1000 },
    );
    // Arbitrary bytes biased to long runs of ones, where the long codes, EOS and padding live.
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0xff, 0xfe, 0xfc, 0xf8, 0x7f, 0x3f, 0x1f));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), (bytes) => {
        const src = Uint8Array.from(bytes);
        const n = huffmanDecode(src, 0, src.length, dst);
        const expected = referenceHuffmanDecode(src);
        if (expected === null) expect(n).toBe(-1);
        else expect(Buffer.from(dst.subarray(0, n)).toString('latin1')).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('blocks of a model encoder using every representation decode to its list and leave its table', () => {
    fc.assert(
      fc.property(fc.array(modelBlock, { minLength: 1, maxLength: 6 }), fc.oneof(fc.constant(1 << 30), fc.integer({ min: 0, max: 600 })), (blocks, maxList) => {
        const model = new ModelEncoder(512);
        const decoder = new HpackDecoder(512, maxList);
        for (const block of blocks) {
          for (const update of block.sizeUpdates) model.sizeUpdate(update);
          for (const [n, v, c] of block.fields) model.field(n, v, c);
          const bytes = model.take();
          const r = tryDecode(decoder, bytes);
          if (listSize(block.fields.map(([n, v]) => [n, v])) <= maxList) {
            expect(r).toEqual(block.fields.flatMap(([n, v]) => [n, v]));
          } else {
            // Too large for the limit: refused, but the table is still in step with the model.
            expect(r).toBeInstanceOf(HpackError);
            expect((r as HpackError).streamOnly).toBe(true);
          }
          expect(decoder.dynamicTableEntries()).toEqual(model.table);
          expect(decoder.dynamicTableSize).toBe(model.size());
          expect(decoder.dynamicTableCapacity).toBe(model.capacity);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes: success within maxHeaderListSize or HpackError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: 2000 }), (bytes, tableSize, maxList) => {
        const decoder = new HpackDecoder(tableSize, maxList);
        for (let round = 0; round < 2; round++) {
          const r = tryDecode(decoder, Buffer.from(bytes));
          if (Array.isArray(r)) {
            let size = 0;
            for (let i = 0; i < r.length; i += 2) size += r[i].length + r[i + 1].length + 32;
            expect(size).toBeLessThanOrEqual(maxList);
            expect(decoder.dynamicTableSize).toBeLessThanOrEqual(decoder.dynamicTableCapacity);
          } else break;
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid blocks: success or HpackError, nothing else, and the table stays within its size', () => {
    fc.assert(
      fc.property(
        fc.array(modelBlock, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 }),
        (blocks, mutations) => {
          const model = new ModelEncoder(256);
          const decoder = new HpackDecoder(256, 4000);
          for (const block of blocks) {
            for (const update of block.sizeUpdates) model.sizeUpdate(Math.min(update, 256));
            for (const [n, v, c] of block.fields) model.field(n, v, c);
            let bytes = model.take();
            for (const [at, b, op] of mutations) {
              if (bytes.length === 0) break;
              const i = at % bytes.length;
              if (op === 0) bytes[i] = b;
              else if (op === 1) bytes = bytes.subarray(0, i);
              else bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([b]), bytes.subarray(i)]);
            }
            const r = tryDecode(decoder, bytes);
            expect(decoder.dynamicTableSize).toBeLessThanOrEqual(decoder.dynamicTableCapacity);
            if (!Array.isArray(r)) return; // a real connection dies here
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('maxHeaderListSize: a list decodes exactly when name + value + 32 per field fits', () => {
    fc.assert(
      fc.property(headerList, fc.integer({ min: 0, max: 3000 }), (pairs, limit) => {
        const headers = flat(pairs);
        const target = Buffer.alloc(HpackEncoder.maxEncodedLength(headers));
        const end = new HpackEncoder().encode(headers, target, 0);
        const r = tryDecode(new HpackDecoder(4096, limit), target.subarray(0, end));
        if (listSize(pairs) <= limit) expect(r).toEqual(headers);
        else expect(r).toMatchObject({ code: 'RS_ERR_HPACK', streamOnly: true });
      }),
      { numRuns: 1000 },
    );
  });

  it('Huffman padding of 8 bits or more is refused inside a block; a zero padding bit is refused unless it spells a symbol', () => {
    fc.assert(
      fc.property(visibleAscii(30), fc.integer({ min: 0, max: 7 }), (s, flip) => {
        const buf = Buffer.alloc(huffmanEncodedLength(s) + 1);
        const n = huffmanEncode(s, buf, 0);
        buf[n] = 0xff; // a ninth-or-more bit of padding
        const tooLong = Buffer.concat([Buffer.from([0x00, 0x01, 0x61, 0x80 | (n + 1)]), buf.subarray(0, n + 1)]);
        expect(tryDecode(new HpackDecoder(), tooLong)).toBeInstanceOf(HpackError);
        // Clear one padding bit, if the last byte has padding: refused, unless the bits now spell a
        // symbol and valid padding (e.g. 3 spaces and 011111, which is '9'); the reference decides.
        let bits = 0;
        for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i)];
        const padding = (8 - (bits % 8)) % 8;
        if (padding === 0) return;
        buf[n - 1] &= ~(1 << flip % padding);
        const badPad = Buffer.concat([Buffer.from([0x00, 0x01, 0x61, 0x80 | n]), buf.subarray(0, n)]);
        const expected = referenceHuffmanDecode(buf.subarray(0, n));
        const r = tryDecode(new HpackDecoder(), badPad);
        if (expected === null) expect(r).toBeInstanceOf(HpackError);
        else expect(r).toEqual(['a', expected]);
        expect(expected).not.toBe(s);
      }),
      { numRuns: 1000 },
    );
  });
});
