// HPACK (RFC 7541), the header compression of HTTP/2, for the lean h2c client:
// a decoder with the full dynamic table for what upstreams send us, and a
// stateless encoder for what we send them.
//
// The encoder never inserts into the peer's dynamic table and never Huffman-
// codes: it uses the static table (fully indexed when name and value match,
// else as the name of a literal without indexing) and literal strings. So the
// peer's table state never matters and no table size update is ever needed,
// whatever SETTINGS_HEADER_TABLE_SIZE the peer announces.

import { huffmanDecode, huffmanMaxDecodedLength } from './huffman.ts';

/**
 * Malformed or hostile header block: a COMPRESSION_ERROR (RFC 9113 section
 * 4.3). The decoder's table may now differ from the peer's, so the connection
 * must die, unless `streamOnly` is set.
 */
export class HpackError extends Error {
  readonly code = 'RS_ERR_HPACK';
  /**
   * True when only the header list was too large (maxHeaderListSize): the
   * whole block was still decoded, so the table is in step with the peer's and
   * the caller may fail just that stream (RFC 9113 section 10.5.1) instead of
   * the connection.
   */
  readonly streamOnly: boolean;

  constructor(message: string, streamOnly = false) {
    super(message);
    this.name = 'HpackError';
    this.streamOnly = streamOnly;
  }
}

/** RFC 7541 Appendix A; index 1 is STATIC_NAMES[1]. */
// prettier-ignore
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = 61;
// Index 0 is unused so that an HPACK index reads the arrays directly.
const STATIC_NAMES: string[] = [''];
const STATIC_VALUES: string[] = [''];
for (const [name, value] of STATIC_TABLE) {
  STATIC_NAMES.push(name);
  STATIC_VALUES.push(value);
}

/** Per RFC 7541 section 4.1: an entry's size is its name and value in octets plus 32. */
const ENTRY_OVERHEAD = 32;

// Integers longer than this many continuation bytes are refused (section 5.1
// leaves the limit to us): 5 bytes carry 35 bits, and we also refuse any value
// above 2^31 - 1, far beyond any table size, index or string length we accept.
const MAX_INT_CONTINUATIONS = 5;
const MAX_INT = 0x7fffffff;

interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number): number;
}

/** Decoded Huffman strings land here before becoming a string; grown on demand. */
let huffmanScratch: Buffer = Buffer.allocUnsafe(4096);
const MAX_SHARED_SCRATCH = 65536;

export class HpackDecoder {
  /** The limit we announced (SETTINGS_HEADER_TABLE_SIZE): size updates above it are errors. */
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  /** The table's current maximum size, as last set by the peer (section 4.2). */
  private capacity: number;
  /** Occupied size in the section 4.1 sense. */
  private size = 0;

  // The dynamic table, a ring: the newest entry is at (head - 1), the oldest at (head - count).
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private head = 0;
  private count = 0;

  /** Read cursor of decode(), shared with the helpers to avoid returning pairs. */
  private pos = 0;

  constructor(maxTableSize = 4096, maxHeaderListSize = 65536) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INT) throw new RangeError('maxTableSize must be an integer in [0, 2^31)');
    if (!Number.isInteger(maxHeaderListSize) || maxHeaderListSize < 0) throw new RangeError('maxHeaderListSize must be a non-negative integer');
    this.maxTableSize = maxTableSize;
    this.maxHeaderListSize = maxHeaderListSize;
    this.capacity = maxTableSize;
  }

  /** The dynamic table's occupied size (section 4.1); for tests and metrics. */
  get dynamicTableSize(): number {
    return this.size;
  }

  /** The dynamic table's current maximum size, as last set by the peer. */
  get dynamicTableCapacity(): number {
    return this.capacity;
  }

  /** The dynamic table entries, newest (index 62) first; for tests. */
  dynamicTableEntries(): [string, string][] {
    const entries: [string, string][] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - 1 - i) & this.mask;
      entries.push([this.names[slot], this.values[slot]]);
    }
    return entries;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads
   * joined) into `out` as name, value, name, value..., replacing what it held.
   * `out` is meant to be reused: it is written by index and cut to length at
   * the end, never emptied first (V8 drops an emptied array's storage, so
   * every block would allocate it again: ~170 bytes a header block). Names are as sent;
   * the caller validates them. Throws HpackError on anything malformed (then
   * `out` holds a partial list to be discarded). A header list larger than
   * maxHeaderListSize is decoded to the end all the same, to keep the table in
   * step, and then refused with an HpackError marked `streamOnly`.
   */
  decode(block: Buffer, start: number, end: number, out: string[]): void {
    if (start < 0 || end > block.length || start > end) throw new RangeError('decode: bad range');
    this.pos = start;
    let listSize = 0;
    let sawField = false;
    let n = 0;
    const maxListSize = this.maxHeaderListSize;
    while (this.pos < end) {
      const b = block[this.pos];
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // 6.1 Indexed Header Field: 1xxxxxxx
        const index = this.readInt(block, end, 0x7f);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index];
          value = STATIC_VALUES[index];
        } else {
          const slot = this.dynamicSlot(index);
          name = this.names[slot];
          value = this.values[slot];
        }
      } else if (b >= 0x40) {
        // 6.2.1 Literal Header Field with Incremental Indexing: 01xxxxxx
        name = this.readName(block, end, 0x3f);
        value = this.readString(block, end);
        this.insert(name, value);
      } else if (b >= 0x20) {
        // 6.3 Dynamic Table Size Update: 001xxxxx, only before the first field (section 4.2).
        if (sawField) throw new HpackError('dynamic table size update after a header field');
        const newCapacity = this.readInt(block, end, 0x1f);
        if (newCapacity > this.maxTableSize) throw new HpackError(`dynamic table size update to ${newCapacity} above our limit ${this.maxTableSize}`);
        this.capacity = newCapacity;
        this.evictTo(newCapacity);
        continue;
      } else {
        // 6.2.2 without indexing (0000xxxx) and 6.2.3 never indexed (0001xxxx): the same to a decoder.
        name = this.readName(block, end, 0x0f);
        value = this.readString(block, end);
      }
      sawField = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize <= maxListSize) {
        out[n++] = name;
        out[n++] = value;
      }
    }
    out.length = n;
    if (listSize > maxListSize) throw new HpackError(`header list larger than ${maxListSize} bytes`, true);
  }

  /** An integer with an N-bit prefix (section 5.1); the prefix mask is 2^N - 1. */
  private readInt(block: Buffer, end: number, prefixMask: number): number {
    let pos = this.pos;
    let value = block[pos++] & prefixMask;
    if (value === prefixMask) {
      let multiplier = 1;
      for (let n = 0; ; n++) {
        if (pos >= end) throw new HpackError('truncated integer');
        if (n === MAX_INT_CONTINUATIONS) throw new HpackError('integer too long');
        const b = block[pos++];
        value += (b & 0x7f) * multiplier;
        if ((b & 0x80) === 0) break;
        multiplier *= 128;
      }
      if (value > MAX_INT) throw new HpackError('integer overflow');
    }
    this.pos = pos;
    return value;
  }

  /** The name of a literal field: an index into the tables (when not 0) or a literal string. */
  private readName(block: Buffer, end: number, prefixMask: number): string {
    const index = this.readInt(block, end, prefixMask);
    if (index === 0) return this.readString(block, end);
    if (index <= STATIC_COUNT) return STATIC_NAMES[index];
    return this.names[this.dynamicSlot(index)];
  }

  /** A string literal (section 5.2): H bit, 7-bit prefix length, octets raw or Huffman-coded. */
  private readString(block: Buffer, end: number): string {
    if (this.pos >= end) throw new HpackError('truncated header block: string expected');
    const huffman = block[this.pos] & 0x80;
    const length = this.readInt(block, end, 0x7f);
    const from = this.pos;
    const to = from + length;
    if (to > end) throw new HpackError('string literal runs past the end of the header block');
    this.pos = to;
    if (huffman === 0) return (block as unknown as Latin1Buffer).latin1Slice(from, to);
    const need = huffmanMaxDecodedLength(length);
    let scratch = huffmanScratch;
    if (scratch.length < need) {
      // Keep one shared buffer for ordinary strings; a rare huge one gets its own, then dropped.
      scratch = Buffer.allocUnsafe(need);
      if (need <= MAX_SHARED_SCRATCH) huffmanScratch = scratch;
    }
    const n = huffmanDecode(block, from, to, scratch);
    if (n < 0) throw new HpackError('invalid Huffman-coded string');
    return (scratch as unknown as Latin1Buffer).latin1Slice(0, n);
  }

  /** The ring slot of dynamic table index `index` (62 = newest), or HpackError when out of range. */
  private dynamicSlot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count) throw new HpackError(`header table index ${index} out of range`);
    return (this.head - 1 - i) & this.mask;
  }

  /** Section 4.4: evict until the new entry fits; an entry larger than the table empties it and is not added. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.capacity - entrySize);
    if (this.count > this.mask) this.grow();
    const slot = this.head;
    this.names[slot] = name;
    this.values[slot] = value;
    this.head = (slot + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  /** Evicts the oldest entries until the table's size is at most `limit` (section 4.3). */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const slot = (this.head - this.count) & this.mask;
      this.size -= this.names[slot].length + this.values[slot].length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }

  private grow(): void {
    const length = (this.mask + 1) * 2;
    const names = new Array<string>(length).fill('');
    const values = new Array<string>(length).fill('');
    // Copy oldest to newest into slots 0..count-1.
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - this.count + i) & this.mask;
      names[i] = this.names[slot];
      values[i] = this.values[slot];
    }
    this.names = names;
    this.values = values;
    this.mask = length - 1;
    this.head = this.count;
  }
}

/** The static table seen from a name: its first index, and the indexes of its full name+value entries. */
interface StaticName {
  readonly index: number;
  readonly values: readonly string[];
  readonly valueIndexes: readonly number[];
}

const STATIC_BY_NAME = new Map<string, StaticName>();
for (let i = 1; i <= STATIC_COUNT; i++) {
  const name = STATIC_NAMES[i];
  let entry = STATIC_BY_NAME.get(name);
  if (entry === undefined) {
    entry = { index: i, values: [], valueIndexes: [] };
    STATIC_BY_NAME.set(name, entry);
  }
  // Entries with an empty value are there for their name; an empty value is sent as a literal.
  if (STATIC_VALUES[i] !== '') {
    (entry.values as string[]).push(STATIC_VALUES[i]);
    (entry.valueIndexes as number[]).push(i);
  }
}

/** Strings shorter than this are written byte by byte; longer ones by Buffer's native latin1 writer. */
const NATIVE_WRITE_MIN = 32;

export class HpackEncoder {
  /**
   * Encodes `headers` (flat name, value, ...; names lower-case, pseudo-headers
   * first) into `target` at `offset` and returns the new offset. The caller
   * guarantees room for HpackEncoder.maxEncodedLength(headers) bytes.
   */
  encode(headers: readonly string[], target: Buffer, offset: number): number {
    let o = offset;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      const known = STATIC_BY_NAME.get(name);
      if (known === undefined) {
        // 6.2.2 literal without indexing, new name: 0000 0000, name string, value string.
        target[o++] = 0;
        o = writeString(target, o, name);
        o = writeString(target, o, value);
        continue;
      }
      const values = known.values;
      let full = 0;
      for (let v = 0; v < values.length; v++) {
        if (values[v] === value) {
          full = known.valueIndexes[v];
          break;
        }
      }
      if (full !== 0) {
        // 6.1 indexed header field; every static index fits the 7-bit prefix.
        target[o++] = 0x80 | full;
        continue;
      }
      // 6.2.2 literal without indexing, indexed name (4-bit prefix).
      o = writeInt(target, o, 0x00, 0x0f, known.index);
      o = writeString(target, o, value);
    }
    return o;
  }

  /** An upper bound of the bytes encode() writes for `headers`. */
  static maxEncodedLength(headers: readonly string[]): number {
    // Per field: 1 representation byte, and each string's length in at most 6 bytes (< 2^31 needs 1 + 5).
    let n = 0;
    for (let i = 0; i + 1 < headers.length; i += 2) n += 13 + headers[i].length + headers[i + 1].length;
    return n;
  }
}

/** Writes `value` as an integer with the prefix `prefixMask` under the high bits `flags` (section 5.1). */
function writeInt(target: Buffer, offset: number, flags: number, prefixMask: number, value: number): number {
  let o = offset;
  if (value < prefixMask) {
    target[o++] = flags | value;
    return o;
  }
  target[o++] = flags | prefixMask;
  let rest = value - prefixMask;
  while (rest >= 128) {
    target[o++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  target[o++] = rest;
  return o;
}

/** A raw (not Huffman-coded) string literal: 7-bit prefix length, then the latin1 octets. */
function writeString(target: Buffer, offset: number, s: string): number {
  const length = s.length;
  let o = writeInt(target, offset, 0x00, 0x7f, length);
  if (length < NATIVE_WRITE_MIN) {
    for (let i = 0; i < length; i++) target[o++] = s.charCodeAt(i);
    return o;
  }
  return o + (target as unknown as Latin1Buffer).latin1Write(s, o);
}
