import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.ts';

// Vectors of RFC 7541 Appendix C (https://www.rfc-editor.org/rfc/rfc7541#appendix-C), as hex.
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): [string, string][] {
  const out: string[] = [];
  decoder.decode(block, 0, block.length, out);
  const pairs: [string, string][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i], out[i + 1]]);
  return pairs;
}

function expectHpackError(decoder: HpackDecoder, block: Buffer, message?: RegExp): void {
  let error: unknown;
  try {
    decoder.decode(block, 0, block.length, []);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(HpackError);
  expect((error as HpackError).code).toBe('RS_ERR_HPACK');
  if (message) expect((error as Error).message).toMatch(message);
}

describe('HPACK Huffman code (RFC 7541 Appendix B)', () => {
  it('derives the codes of the RFC table from the lengths', () => {
    // A sample of Appendix B rows: [symbol, code, length].
    const rows: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [1, 0x7fffd8, 23],
      [10, 0x3ffffffc, 30],
      [13, 0x3ffffffd, 30],
      [22, 0x3ffffffe, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [97, 0x3, 5],
      [101, 0x5, 5],
      [127, 0xffffffc, 28],
      [128, 0xfffe6, 20],
      [129, 0x3fffd2, 22],
      [200, 0x3ffffe2, 26],
      [254, 0x7fffff0, 27],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [sym, code, length] of rows) {
      expect([sym, HUFFMAN_CODES[sym].toString(16), HUFFMAN_LENGTHS[sym]]).toEqual([sym, code.toString(16), length]);
    }
  });

  it('decodes the Appendix C strings', () => {
    const cases: [string, string][] = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['640e ff', '307'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['9bd9 ab', 'gzip'],
    ];
    const dst = new Uint8Array(64);
    for (const [encoded, text] of cases) {
      const src = hex(encoded);
      const n = huffmanDecode(src, 0, src.length, dst);
      expect(Buffer.from(dst.subarray(0, Math.max(n, 0))).toString('latin1')).toBe(text);
      const back = Buffer.alloc(huffmanEncodedLength(text));
      expect(huffmanEncode(text, back, 0)).toBe(back.length);
      expect(back.toString('hex')).toBe(src.toString('hex'));
    }
  });

  it('decodes every byte value alone, and all 256 in one string', () => {
    const dst = new Uint8Array(1024);
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => 255 - i));
    for (const s of [...Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)), all, all + all]) {
      const buf = Buffer.alloc(huffmanEncodedLength(s));
      huffmanEncode(s, buf, 0);
      const n = huffmanDecode(buf, 0, buf.length, dst);
      expect(Buffer.from(dst.subarray(0, n)).toString('latin1')).toBe(s);
    }
  });

  it('refuses EOS, padding longer than 7 bits, and padding that is not all ones', () => {
    const dst = new Uint8Array(64);
    const bad = (bytes: number[]) => huffmanDecode(Uint8Array.from(bytes), 0, bytes.length, dst);
    expect(bad([0xff, 0xff, 0xff, 0xff])).toBe(-1); // EOS (30 ones) then 2 ones
    expect(bad([0xff])).toBe(-1); // 8 bits of padding
    expect(bad([0x1f, 0xff])).toBe(-1); // '0' (00000) then 11 ones of padding
    expect(bad([0x00])).toBe(-1); // '0' then 000: padding not all ones
    expect(bad([0x07])).toBe(1); // '0' then 111: fine
    expect(bad([])).toBe(0);
  });
});

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it('C.1 integers, through the 5-bit prefix of a dynamic table size update', () => {
    const d = new HpackDecoder(4096);
    decodeAll(d, hex('2a')); // 10 in a 5-bit prefix: 001 01010
    expect(d.dynamicTableCapacity).toBe(10);
    decodeAll(d, hex('3f9a0a')); // C.1.2: 1337 in a 5-bit prefix
    expect(d.dynamicTableCapacity).toBe(1337);
  });

  it('C.2.1 literal with indexing', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([['custom-key', 'custom-header']]);
    expect(d.dynamicTableEntries()).toEqual([['custom-key', 'custom-header']]);
    expect(d.dynamicTableSize).toBe(55);
  });

  it('C.2.2 literal without indexing', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('C.2.3 literal never indexed', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('C.2.4 indexed', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('82'))).toEqual([[':method', 'GET']]);
    expect(d.dynamicTableSize).toBe(0);
  });

  const requests: [string, string, [string, string][], [string, string][], number][] = [
    [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
      [[':authority', 'www.example.com']],
      57,
    ],
    [
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8286 84be 5886 a8eb 1064 9cbf',
      [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
      [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
      110,
    ],
    [
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
      [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
      164,
    ],
  ];

  for (const [label, column] of [['C.3 requests without Huffman', 0], ['C.4 requests with Huffman', 1]] as const) {
    it(label + ', dynamic table carried from one request to the next', () => {
      const d = new HpackDecoder();
      for (const request of requests) {
        expect(decodeAll(d, hex(request[column]))).toEqual(request[2]);
        expect(d.dynamicTableEntries()).toEqual(request[3]);
        expect(d.dynamicTableSize).toBe(request[4]);
      }
    });
  }

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const location = 'https://www.example.com';
  const responses: [string, string, [string, string][], [string, string][], number][] = [
    [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d
       546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7
       8f0b 97c8 e9ae 82ae 43d3`,
      [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', location]],
      [['location', location], ['date', date1], ['cache-control', 'private'], [':status', '302']],
      222,
    ],
    [
      '4803 3330 37c1 c0bf',
      '4883 640e ffc1 c0bf',
      [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', location]],
      [[':status', '307'], ['location', location], ['date', date1], ['cache-control', 'private']],
      222,
    ],
    [
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f
       6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b
       2076 6572 7369 6f6e 3d31`,
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335
       dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', location], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
      [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
      215,
    ],
  ];

  for (const [label, column] of [['C.5 responses without Huffman', 0], ['C.6 responses with Huffman', 1]] as const) {
    it(label + ', table of 256 bytes with evictions', () => {
      const d = new HpackDecoder(256);
      for (const response of responses) {
        expect(decodeAll(d, hex(response[column]))).toEqual(response[2]);
        expect(d.dynamicTableEntries()).toEqual(response[3]);
        expect(d.dynamicTableSize).toBe(response[4]);
      }
    });
  }
});

describe('HpackDecoder: errors and limits', () => {
  it('accepts size updates at the start of a block, refuses one after a field or above the limit', () => {
    const d = new HpackDecoder(4096);
    decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(d.dynamicTableSize).toBe(55);
    // Two updates (down to 0, then up to 100), then a field: the table is emptied.
    expect(decodeAll(d, hex('20 3f45 82'))).toEqual([[':method', 'GET']]);
    expect(d.dynamicTableCapacity).toBe(100);
    expect(d.dynamicTableSize).toBe(0);
    expectHpackError(new HpackDecoder(), hex('82 20'), /after a header field/);
    expectHpackError(new HpackDecoder(4096), hex('3fe21f'), /above our limit/); // 4097 = 31 + 0x62 + 31 * 128
    decodeAll(new HpackDecoder(4096), hex('3fe11f')); // 4096 is fine
  });

  it('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder(64);
    decodeAll(d, hex('4001 6101 62')); // a: b, size 34
    expect(d.dynamicTableEntries()).toEqual([['a', 'b']]);
    // c: 40 x's: 73 bytes > 64
    expect(decodeAll(d, Buffer.concat([hex('4001 6328'), Buffer.alloc(40, 'x')]))).toEqual([['c', 'x'.repeat(40)]]);
    expect(d.dynamicTableEntries()).toEqual([]);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('refuses index 0, indexes past the tables, truncated input and oversized integers', () => {
    expectHpackError(new HpackDecoder(), hex('80'), /index 0/);
    expectHpackError(new HpackDecoder(), hex('be'), /out of range/); // 62 with an empty dynamic table
    expectHpackError(new HpackDecoder(), hex('7f00'), /out of range/); // literal with a name index of 63
    expectHpackError(new HpackDecoder(), hex('ff'), /truncated/);
    expectHpackError(new HpackDecoder(), hex('ff80808080808001'), /too long/);
    expectHpackError(new HpackDecoder(), hex('ffffffffff0f'), /overflow/);
    expectHpackError(new HpackDecoder(), hex('4005 6162'), /past the end/);
    expectHpackError(new HpackDecoder(), hex('40'), /truncated/);
    expectHpackError(new HpackDecoder(), hex('4001 61'), /truncated/);
    expectHpackError(new HpackDecoder(), hex('4081 ff 00'), /Huffman/);
  });

  it('refuses a header list above maxHeaderListSize (name + value + 32 per field), after decoding it all', () => {
    // :method GET is 7 + 3 + 32 = 42; two of them are 84.
    decodeAll(new HpackDecoder(4096, 84), hex('8282'));
    expectHpackError(new HpackDecoder(4096, 83), hex('8282'), /header list larger/);
    // The rest of the block still updates the table, so the connection can go on.
    const d = new HpackDecoder(4096, 83);
    const block = hex('8282 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
    let error: HpackError | undefined;
    try {
      d.decode(block, 0, block.length, []);
    } catch (e) {
      error = e as HpackError;
    }
    expect(error?.streamOnly).toBe(true);
    expect(d.dynamicTableEntries()).toEqual([['custom-key', 'custom-header']]);
    expect(decodeAll(d, hex('be'))).toEqual([['custom-key', 'custom-header']]);
    // Malformed blocks are not stream-only.
    let malformed: HpackError | undefined;
    try {
      d.decode(hex('80'), 0, 1, []);
    } catch (e) {
      malformed = e as HpackError;
    }
    expect(malformed?.streamOnly).toBe(false);
    // Huge Huffman strings (beyond the shared scratch buffer) decode too, and count against the limit.
    const huge = Buffer.alloc(60000);
    const hugeLength = huffmanEncode('0'.repeat(96000), huge, 0); // 5 bits each: 60000 bytes
    const hugeBlock = Buffer.concat([hex('0001 61ff'), Buffer.from([0xe1, 0xd3, 0x03]), huge.subarray(0, hugeLength)]); // 127 + 59873
    expect(decodeAll(new HpackDecoder(4096, 1 << 20), hugeBlock)).toEqual([['a', '0'.repeat(96000)]]);
    expectHpackError(new HpackDecoder(4096, 96000), hugeBlock, /header list larger/);
  });

  it('takes the range it is given and replaces what out held, longer or shorter', () => {
    const d = new HpackDecoder();
    const block = hex('ffff 8286 ffff');
    const out = ['x', 'y', 'z', 'w', 'v', 'u'];
    d.decode(block, 2, 4, out);
    expect(out).toEqual([':method', 'GET', ':scheme', 'http']);
    // The same array again (as the sessions reuse theirs): a shorter block leaves nothing of the longer one.
    d.decode(block, 3, 4, out);
    expect(out).toEqual([':scheme', 'http']);
    d.decode(block, 2, 2, out);
    expect(out).toEqual([]);
  });

  it('grows the ring beyond 16 entries and keeps the order', () => {
    const d = new HpackDecoder(4096);
    const expected: [string, string][] = [];
    for (let i = 0; i < 40; i++) {
      const name = 'n' + i;
      const value = 'v' + i;
      decodeAll(d, Buffer.concat([hex('40'), Buffer.from([name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]));
      expected.unshift([name, value]);
    }
    expect(d.dynamicTableEntries()).toEqual(expected);
    expect(decodeAll(d, hex('be e5'))).toEqual([['n39', 'v39'], ['n0', 'v0']]); // 62 newest, 101 oldest
  });
});

describe('HpackEncoder', () => {
  it('indexes exact static matches, names by static index, and writes literals', () => {
    const headers = [':method', 'GET', ':scheme', 'http', ':path', '/x', ':authority', 'a.b', 'accept-encoding', 'gzip, deflate', 'x-custom', 'v', 'www-authenticate', ''];
    const target = Buffer.alloc(HpackEncoder.maxEncodedLength(headers));
    const end = new HpackEncoder().encode(headers, target, 0);
    expect(target.subarray(0, end).toString('hex')).toBe(
      [
        '82', // :method GET
        '86', // :scheme http
        '04022f78', // :path (4) literal /x
        '0103612e62', // :authority (1)
        '90', // accept-encoding gzip, deflate (16)
        '0008782d637573746f6d0176', // new name x-custom
        '0f2e00', // www-authenticate (61 = 15 + 46), empty value
      ].join(''),
    );
    const d = new HpackDecoder();
    const out: string[] = [];
    d.decode(target, 0, end, out);
    expect(out).toEqual(headers);
    expect(d.dynamicTableSize).toBe(0);
  });

  it('writes at the offset, long strings and latin1 bytes', () => {
    const long = 'é'.repeat(300) + 'z';
    const headers = ['x', long, 'user-agent', 'ringside/ü'];
    const target = Buffer.alloc(10 + HpackEncoder.maxEncodedLength(headers));
    const end = new HpackEncoder().encode(headers, target, 10);
    const out: string[] = [];
    new HpackDecoder().decode(target, 10, end, out);
    expect(out).toEqual(headers);
    expect(target.includes(Buffer.from(long, 'latin1'))).toBe(true);
  });
});

// Interop with a real peer: node:http2 (nghttp2) as the server on loopback,
// spoken to over a raw socket with a minimal frame loop (RFC 9113 section 4.1:
// length 24, type 8, flags 8, stream 31). The server echoes the request
// headers it saw as the JSON body; its response headers, which nghttp2
// Huffman-codes and indexes, are decoded by HpackDecoder across several
// requests on one connection, so the dynamic table carries state.
describe('HPACK interop with node:http2 (nghttp2)', () => {
  const FRAME_DATA = 0x0;
  const FRAME_HEADERS = 0x1;
  const FRAME_SETTINGS = 0x4;
  const FRAME_GOAWAY = 0x7;
  const FRAME_RST_STREAM = 0x3;
  const FRAME_CONTINUATION = 0x9;
  const FLAG_END_STREAM = 0x1;
  const FLAG_ACK = 0x1;
  const FLAG_END_HEADERS = 0x4;
  const FLAG_PADDED = 0x8;
  const FLAG_PRIORITY = 0x20;

  function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
    const header = Buffer.alloc(9);
    header.writeUIntBE(payload.length, 0, 3);
    header[3] = type;
    header[4] = flags;
    header.writeUInt32BE(stream, 5);
    return Buffer.concat([header, payload]);
  }

  interface Response {
    headers: string[];
    body: string;
  }

  /** Runs `requests` one after the other on one connection; resolves with each response. */
  async function exchange(
    port: number,
    requests: string[][],
    tableSize: number | undefined,
  ): Promise<{ responses: Response[]; decoder: HpackDecoder; blocks: Buffer[] }> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const decoder = new HpackDecoder(tableSize ?? 4096);
    const encoder = new HpackEncoder();
    const settings = Buffer.alloc(tableSize === undefined ? 0 : 6);
    if (tableSize !== undefined) {
      settings.writeUInt16BE(0x1, 0); // SETTINGS_HEADER_TABLE_SIZE
      settings.writeUInt32BE(tableSize, 2);
    }
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(FRAME_SETTINGS, 0, 0, settings)]));

    const responses: Response[] = [];
    const blocks: Buffer[] = [];
    let pending = Buffer.alloc(0);
    let block: Buffer[] = [];
    let current: Response = { headers: [], body: '' };
    let stream = 1;
    let fail: (e: Error) => void = () => {};
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve, reject) => {
      done = resolve;
      fail = reject;
    });

    const send = (n: number) => {
      const headers = requests[n];
      const target = Buffer.alloc(HpackEncoder.maxEncodedLength(headers));
      const end = encoder.encode(headers, target, 0);
      socket.write(frame(FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, stream, target.subarray(0, end)));
    };

    socket.on('error', (e) => fail(e));
    socket.on('close', () => fail(new Error('connection closed after ' + responses.length + ' responses')));
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3];
        const flags = pending[4];
        const id = pending.readUInt32BE(5) & 0x7fffffff;
        let payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type === FRAME_SETTINGS && (flags & FLAG_ACK) === 0) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        if (type === FRAME_GOAWAY || type === FRAME_RST_STREAM) fail(new Error(`peer sent frame type ${type}: ${payload.toString('hex')}`));
        if (id !== stream) continue;
        if (type === FRAME_HEADERS || type === FRAME_CONTINUATION) {
          if (type === FRAME_HEADERS) {
            const pad = flags & FLAG_PADDED ? payload[0] : 0;
            payload = payload.subarray((flags & FLAG_PADDED ? 1 : 0) + (flags & FLAG_PRIORITY ? 5 : 0), payload.length - pad);
          }
          block.push(payload);
          if (flags & FLAG_END_HEADERS) {
            const joined = Buffer.concat(block);
            block = [];
            blocks.push(joined);
            try {
              decoder.decode(joined, 0, joined.length, current.headers);
            } catch (e) {
              fail(e as Error);
              return;
            }
          }
        } else if (type === FRAME_DATA) {
          const pad = flags & FLAG_PADDED ? payload[0] : 0;
          current.body += payload.subarray(flags & FLAG_PADDED ? 1 : 0, payload.length - pad).toString('latin1'); // JSON below is ASCII
        }
        if ((type === FRAME_DATA || type === FRAME_HEADERS) && flags & FLAG_END_STREAM) {
          responses.push(current);
          current = { headers: [], body: '' };
          if (responses.length === requests.length) {
            done();
            return;
          }
          stream += 2;
          send(responses.length);
        }
      }
    });
    send(0);
    try {
      await finished;
    } finally {
      socket.destroy();
    }
    return { responses, decoder, blocks };
  }

  for (const tableSize of [undefined, 256]) {
    it(`request headers reach nghttp2 intact and its responses decode (our SETTINGS_HEADER_TABLE_SIZE: ${tableSize ?? 'default'})`, async () => {
      const server = http2.createServer();
      const seenByServer: string[][] = [];
      server.on('stream', (stream, _headers, _flags, rawHeaders) => {
        seenByServer.push(rawHeaders);
        const n = seenByServer.length;
        stream.respond({
          ':status': n === 3 ? 404 : 200,
          'content-type': 'application/json',
          'cache-control': 'private, max-age=0',
          'x-request-number': String(n),
          'x-repeated': 'the same value on every response',
          'x-latin1': 'caf\u00e9 \u00ff',
          'set-cookie': ['a=' + 'x'.repeat(n * 40), 'b=2'],
          'grpc-status': '0',
        });
        // \u-escape everything above ASCII so the body's bytes are the JSON text whatever the charset.
        stream.end(JSON.stringify(rawHeaders).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as AddressInfo).port;
      const requests: string[][] = [];
      for (let i = 1; i <= 6; i++) {
        requests.push([
          ':method', i % 2 ? 'GET' : 'POST',
          ':scheme', 'http',
          ':authority', '127.0.0.1:' + port,
          ':path', i === 1 ? '/' : '/echo?n=' + i + '&q=' + 'p'.repeat(200 * i),
          'user-agent', 'ringside-test/1.0',
          'accept', '*/*',
          'accept-encoding', 'gzip, deflate',
          'x-trace-id', 'abc-' + i,
          'x-empty', '',
          'x-latin1', 'd\u00e9j\u00e0 vu',
        ]);
      }
      try {
        const { responses, decoder, blocks } = await exchange(port, requests, tableSize);
        // What nghttp2 sent really used the hard parts: Huffman strings, references into the
        // dynamic table (later blocks much shorter), and a table size update after our SETTINGS.
        const huffmanJson = Buffer.alloc(huffmanEncodedLength('application/json'));
        huffmanEncode('application/json', huffmanJson, 0);
        expect(blocks[0].includes(huffmanJson)).toBe(true);
        // (The shortest later block: a response sent as the clock's second turns carries a new `date` literal.)
        if (tableSize === undefined) expect(Math.min(...blocks.slice(1).map((b) => b.length))).toBeLessThan(blocks[0].length * 0.6);
        else expect(blocks[0].subarray(0, 3).toString('hex')).toBe('3fe101'); // size update to 256 = 31 + 0x61 + 1 * 128
        expect(responses).toHaveLength(requests.length);
        for (let i = 0; i < requests.length; i++) {
          const n = i + 1;
          expect(seenByServer[i]).toEqual(requests[i]);
          expect(JSON.parse(responses[i].body)).toEqual(requests[i]);
          const h = responses[i].headers;
          const fields: [string, string][] = [];
          for (let k = 0; k < h.length; k += 2) fields.push([h[k], h[k + 1]]);
          expect(fields[0]).toEqual([':status', n === 3 ? '404' : '200']);
          expect(fields).toEqual(
            expect.arrayContaining([
              ['content-type', 'application/json'],
              ['cache-control', 'private, max-age=0'],
              ['x-request-number', String(n)],
              ['x-repeated', 'the same value on every response'],
              ['x-latin1', 'caf\u00e9 \u00ff'],
              ['set-cookie', 'a=' + 'x'.repeat(n * 40)],
              ['set-cookie', 'b=2'],
              ['grpc-status', '0'],
            ]),
          );
          expect(fields.find(([name]) => name === 'date')?.[1]).toMatch(/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
        }
        // nghttp2 did insert into our table, and stayed within what we announced.
        expect(decoder.dynamicTableSize).toBeGreaterThan(0);
        expect(decoder.dynamicTableSize).toBeLessThanOrEqual(tableSize ?? 4096);
        if (tableSize !== undefined) expect(decoder.dynamicTableCapacity).toBeLessThanOrEqual(tableSize);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});
