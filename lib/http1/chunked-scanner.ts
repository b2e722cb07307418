// A strict, incremental scanner of the chunked transfer coding (RFC 9112
// section 7.1): it finds where a chunked body ends without copying it, so the
// validated bytes can be forwarded as they are, and optionally hands out the
// decoded data (for an HTTP/1.0 client, which cannot receive chunked).
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//
// Refused: a size that is not hex or too large, whitespace or controls where
// the grammar has none, bare CR or LF, data not followed by CRLF, trailer
// fields that are not `token ":" value`, obs-fold, oversized lines.

/** Receives decoded chunk data when decoding is asked for. */
export interface ChunkDataSink {
  onChunkData(buf: Buffer, start: number, end: number): void;
  /**
   * The trailer section's bytes as they are scanned (already validated), in
   * one piece per scan call; the last piece ends with the blank line that
   * ends the body. Absent: the trailers are validated and skipped.
   */
  onChunkTrailers?(buf: Buffer, start: number, end: number): void;
}

const S_SIZE = 0; // hex digits of chunk-size
const S_EXT = 1; // after `;`: chunk-ext up to CR
const S_SIZE_LF = 2; // CR seen after size/ext; expect LF
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER_START = 6; // start of a trailer line or the final CRLF
const S_TRAILER_NAME = 7;
const S_TRAILER_VALUE = 8;
const S_TRAILER_LF = 9;
const S_END_LF = 10;
const S_DONE = 11;
const S_SIZE_WS = 12; // BWS after the size, before `;`

/** The scan needs more bytes (everything given was consumed). */
export const NEED_MORE = -1;
/** The body is malformed. */
export const MALFORMED = -2;

const MAX_SIZE_DIGITS = 13; // < 2^52: exact in a double
const MAX_LINE = 4096; // chunk-size line with extensions
const MAX_TRAILERS = 16 * 1024;

/** Token chars for trailer field names (RFC 9110 section 5.6.2). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** Field value / extension chars: HTAB, SP..~, obs-text. */
function isFieldChar(c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c !== 0x7f);
}

export class ChunkedScanner {
  #state = S_SIZE;
  #digits = 0;
  #size = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  /** Whether the last chunk (size 0) was seen: the next CRLF ends the trailers. */
  #last = false;

  reset(): void {
    this.#state = S_SIZE;
    this.#digits = 0;
    this.#size = 0;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
    this.#last = false;
  }

  get done(): boolean {
    return this.#state === S_DONE;
  }

  /**
   * Scan buf[start, end). Returns the index just past the end of the chunked
   * body when it ends inside this range, NEED_MORE when all was consumed, or
   * MALFORMED. With a sink, chunk data is handed to it as it is scanned.
   */
  scan(buf: Buffer, start: number, end: number, sink: ChunkDataSink | null): number {
    let i = start;
    let state = this.#state;
    // Where this call's part of the trailer section starts (-1: not in it yet).
    let trailersFrom = state >= S_TRAILER_START && state <= S_END_LF ? start : -1;
    while (i < end) {
      if (state === S_DATA) {
        const n = Math.min(this.#size, end - i);
        if (sink !== null) sink.onChunkData(buf, i, i + n);
        this.#size -= n;
        i += n;
        if (this.#size === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[i++];
      switch (state) {
        case S_SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) return this.#fail();
            this.#size = this.#size * 16 + h;
            break;
          }
          if (this.#digits === 0) return this.#fail();
          if (c === 0x0d) state = S_SIZE_LF;
          else if (c === 0x3b) state = S_EXT;
          else if (c === 0x20 || c === 0x09) state = S_SIZE_WS;
          else return this.#fail();
          this.#lineBytes = this.#digits + 1;
          break;
        }
        case S_SIZE_WS:
          if (++this.#lineBytes > MAX_LINE) return this.#fail();
          if (c === 0x3b) state = S_EXT;
          else if (c !== 0x20 && c !== 0x09) return this.#fail();
          break;
        case S_EXT:
          if (++this.#lineBytes > MAX_LINE) return this.#fail();
          if (c === 0x0d) state = S_SIZE_LF;
          else if (!isFieldChar(c)) return this.#fail();
          break;
        case S_SIZE_LF:
          if (c !== 0x0a) return this.#fail();
          this.#digits = 0;
          if (this.#size === 0) {
            this.#last = true;
            state = S_TRAILER_START;
            trailersFrom = i;
          } else state = S_DATA;
          break;
        case S_DATA_CR:
          if (c !== 0x0d) return this.#fail();
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== 0x0a) return this.#fail();
          state = S_SIZE;
          this.#size = 0;
          break;
        case S_TRAILER_START:
          if (c === 0x0d) state = S_END_LF;
          else if (c < 0x100 && TCHAR[c] === 1) state = S_TRAILER_NAME;
          else return this.#fail(); // includes obs-fold (SP/HTAB) and a name-less line
          if (++this.#trailerBytes > MAX_TRAILERS) return this.#fail();
          break;
        case S_TRAILER_NAME:
          if (++this.#trailerBytes > MAX_TRAILERS) return this.#fail();
          if (c === 0x3a) state = S_TRAILER_VALUE;
          else if (TCHAR[c] !== 1) return this.#fail();
          break;
        case S_TRAILER_VALUE:
          if (++this.#trailerBytes > MAX_TRAILERS) return this.#fail();
          if (c === 0x0d) state = S_TRAILER_LF;
          else if (!isFieldChar(c)) return this.#fail();
          break;
        case S_TRAILER_LF:
          if (c !== 0x0a) return this.#fail();
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (c !== 0x0a || !this.#last) return this.#fail();
          this.#state = S_DONE;
          if (trailersFrom >= 0 && sink !== null && sink.onChunkTrailers !== undefined) sink.onChunkTrailers(buf, trailersFrom, i);
          return i;
        default:
          return this.#fail();
      }
    }
    this.#state = state;
    if (trailersFrom >= 0 && sink !== null && sink.onChunkTrailers !== undefined) sink.onChunkTrailers(buf, trailersFrom, end);
    return NEED_MORE;
  }

  #fail(): number {
    this.#state = S_DONE + 1; // stays failed
    return MALFORMED;
  }
}

/**
 * The fields of a trailer section the scanner validated (`name: value` lines
 * ending in CRLF, through the blank line): names lower-case, a repeated
 * field's values in arrival order.
 */
export function parseTrailerSection(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (let pos = 0; pos < text.length - 2; ) {
    const end = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    const name = text.slice(pos, colon).toLowerCase();
    const value = text.slice(colon + 1, end).trim();
    const prev = fields[name];
    if (prev === undefined) fields[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else fields[name] = [prev, value];
    pos = end + 2;
  }
  return fields;
}
