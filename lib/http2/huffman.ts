// The HPACK Huffman code (RFC 7541 section 5.2 and Appendix B): a table-driven
// decoder that consumes one input byte per step, and a small encoder.
//
// The decoder is a state machine over the internal nodes of the code tree
// (257 leaves, so 256 internal nodes; node 0 is the root). For each state and
// each input byte, DECODE_TABLE holds where eight bits lead from that node and
// the symbols completed on the way. The shortest code has 5 bits, so eight
// bits complete at most two symbols: the tail of one code and one 5-bit code
// (e.g. from the node reached by 10000, the first five bits of 'A' = 100001,
// the byte 10000000 completes 'A', then '0' = 00000, and leaves 00 pending).
//
// Entry layout (uint32):  bits 0-7   next state
//                         bits 8-15  first symbol completed
//                         bits 16-23 second symbol completed
//                         bits 24-25 number of symbols completed (0..2)
//                         bit  26    EOS was completed: a decoding error
//
// No built entry is 0: eight bits that complete no symbol cannot end at the
// root, which is only reached by completing one. So 0 marks a row not built
// yet, and the table needs no filling: its 256 KiB stay untouched (not
// resident) except for the rows a connection visits, which matters to a
// sidecar that never decodes HTTP/2 at all (HTTP/1.1 only).
//
// After the last byte the state must be one that the padding may leave: the
// root (no padding) or a node on the all-ones path less than 8 bits deep
// (section 5.2: padding is the most significant bits of EOS, at most 7 bits).

import { HUFFMAN_CODE_LENGTHS } from './huffman-table.ts';

const EOS = 256;
const SYMBOLS = 257;

/** The code of each symbol (right-aligned) and its length in bits. */
export const HUFFMAN_CODES: Uint32Array = new Uint32Array(SYMBOLS);
export const HUFFMAN_LENGTHS: Uint8Array = new Uint8Array(HUFFMAN_CODE_LENGTHS);

const F_SHIFT_COUNT = 24;
const F_FAIL = 1 << 26;

/** 0 in a row not built yet (see above). */
const DECODE_TABLE = new Uint32Array(256 * 256);
/** Nibble entry: bits 0-7 next state, bits 8-15 symbol, N_SYMBOL when a symbol completed, N_EOS on EOS. */
const NIBBLES = new Uint32Array(256 * 16);
const N_SYMBOL = 1 << 16;
const N_EOS = 1 << 17;
/** 1 for the states a complete string may end in (see above). */
const ACCEPTING = new Uint8Array(256);

buildTables();

function buildTables(): void {
  // Canonical codes: by (length, symbol), counting up, shifting on each longer length.
  const order = Array.from({ length: SYMBOLS }, (_, i) => i).sort((a, b) => HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b);
  let code = 0;
  let length = HUFFMAN_LENGTHS[order[0]];
  for (const sym of order) {
    code *= 2 ** (HUFFMAN_LENGTHS[sym] - length);
    length = HUFFMAN_LENGTHS[sym];
    HUFFMAN_CODES[sym] = code;
    code++;
  }
  // A complete prefix code ends exactly at 2^30 (every 30-bit string is covered).
  if (code !== 2 ** 30 || length !== 30) throw new Error('HPACK Huffman table is not a complete canonical code');

  // The tree: child[node * 2 + bit] is an internal node (>= 0) or ~symbol for a leaf (< 0).
  const child = new Int32Array(256 * 2).fill(0x7fffffff);
  let nodes = 1;
  for (let sym = 0; sym < SYMBOLS; sym++) {
    let node = 0;
    for (let i = HUFFMAN_LENGTHS[sym] - 1; i >= 0; i--) {
      const bit = (HUFFMAN_CODES[sym] >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        child[slot] = ~sym;
      } else {
        if (child[slot] === 0x7fffffff) child[slot] = nodes++;
        node = child[slot];
      }
    }
  }
  if (nodes !== 256) throw new Error('HPACK Huffman tree has ' + nodes + ' internal nodes');

  // Where four bits lead from each node (at most one symbol: every code is longer than four
  // bits). The byte table's rows are composed from these on first use (see decodeRow): building
  // all 65536 entries up front costs ~10 ms of start-up, and a connection only ever visits a few
  // dozen states at byte boundaries.
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = child[node * 2 + ((nibble >>> i) & 1)];
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = ~next;
        node = 0;
        if (sym === EOS) {
          entry = N_EOS;
          break;
        }
        entry = N_SYMBOL | (sym << 8);
      }
      NIBBLES[(state << 4) | nibble] = entry | node;
    }
  }

  let node = 0;
  for (let depth = 0; depth < 8; depth++) {
    ACCEPTING[node] = 1;
    node = child[node * 2 + 1];
  }
}

/** Fills DECODE_TABLE's row for `state`: each byte is its high nibble, then its low one. */
function decodeRow(state: number): void {
  for (let high = 0; high < 16; high++) {
    const first = NIBBLES[(state << 4) | high];
    const middle = first & 0xff;
    for (let low = 0; low < 16; low++) {
      const second = NIBBLES[(middle << 4) | low];
      let entry: number;
      if ((first | second) & N_EOS) {
        entry = F_FAIL;
      } else if (first & N_SYMBOL) {
        entry =
          second & N_SYMBOL
            ? (2 << F_SHIFT_COUNT) | (first & 0xff00) | ((second & 0xff00) << 8)
            : (1 << F_SHIFT_COUNT) | (first & 0xff00);
      } else {
        entry = second & N_SYMBOL ? (1 << F_SHIFT_COUNT) | (second & 0xff00) : 0;
      }
      entry |= second & 0xff;
      if (entry === 0) throw new Error('HPACK Huffman decode entry 0 is reserved for unbuilt rows');
      DECODE_TABLE[(state << 8) | (high << 4) | low] = entry;
    }
  }
}

/** The most bytes `n` Huffman-coded bytes can decode to (every code has at least 5 bits). */
export function huffmanMaxDecodedLength(n: number): number {
  return Math.floor((n * 8) / 5);
}

/**
 * Decodes src[start, end) into dst at 0 and returns the decoded length, or -1
 * when the input is not a valid Huffman string (EOS inside, padding longer
 * than 7 bits or not all ones). dst must hold huffmanMaxDecodedLength(end - start) bytes.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    let e = DECODE_TABLE[(state << 8) | src[i]];
    if (e === 0) {
      decodeRow(state);
      e = DECODE_TABLE[(state << 8) | src[i]];
    }
    const count = e >>> F_SHIFT_COUNT;
    if (count !== 0) {
      if (count > 2) return -1; // F_FAIL
      dst[o++] = (e >>> 8) & 0xff;
      if (count === 2) dst[o++] = (e >>> 16) & 0xff;
    }
    state = e & 0xff;
  }
  return ACCEPTING[state] === 1 ? o : -1;
}

/** The length in bytes of the Huffman coding of `s` (each char taken as a latin1 byte). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of `s` (each char taken as a latin1 byte), padded
 * with the high bits of EOS, into dst at offset; returns the new offset.
 */
export function huffmanEncode(s: string, dst: Uint8Array, offset: number): number {
  // acc holds `pending` (< 8) bits not yet written; with a 30-bit code that is < 2^38, exact in a double.
  let acc = 0;
  let pending = 0;
  let o = offset;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[sym];
    acc = acc * 2 ** len + HUFFMAN_CODES[sym];
    pending += len;
    while (pending >= 8) {
      pending -= 8;
      const high = Math.floor(acc / 2 ** pending);
      dst[o++] = high;
      acc -= high * 2 ** pending;
    }
  }
  if (pending > 0) dst[o++] = (acc << (8 - pending)) | (0xff >>> pending);
  return o;
}
