// The open streams of one HTTP/2 connection by stream id, for both of our
// sessions (server-session.ts, h2-session.ts). A Map did this, but a Map that
// fills and empties as streams open and close reallocates its hash table
// each time it grows or shrinks: about 230 bytes per request, kept alive as
// long as the connection's table, so under high concurrency they reached
// V8's old generation as garbage (bench/allocations.ts, ALLOC_SURVIVORS=1).
// Here the table only ever grows: linear probing over typed arrays, with
// backward-shift deletion (no tombstones), so opening and closing a stream
// allocates nothing.

const EMPTY = 0; // stream ids start at 1
const INITIAL_CAPACITY = 16; // a power of two

export class StreamTable<T> {
  #keys = new Int32Array(INITIAL_CAPACITY);
  #values: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY).fill(undefined);
  #mask = INITIAL_CAPACITY - 1;
  size = 0;

  get(id: number): T | undefined {
    const keys = this.#keys;
    const mask = this.#mask;
    // Client-initiated ids are odd and consecutive: id >>> 1 spreads them over adjacent slots.
    for (let i = (id >>> 1) & mask; ; i = (i + 1) & mask) {
      const key = keys[i];
      if (key === id) return this.#values[i];
      if (key === EMPTY) return undefined;
    }
  }

  /** Add or replace the stream `id` (1 to 2^31-1). */
  set(id: number, value: T): void {
    if ((this.size + 1) * 2 > this.#keys.length) this.#grow();
    const keys = this.#keys;
    const mask = this.#mask;
    let i = (id >>> 1) & mask;
    while (keys[i] !== EMPTY && keys[i] !== id) i = (i + 1) & mask;
    if (keys[i] === EMPTY) {
      keys[i] = id;
      this.size++;
    }
    this.#values[i] = value;
  }

  delete(id: number): boolean {
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    let i = (id >>> 1) & mask;
    for (;;) {
      const key = keys[i];
      if (key === EMPTY) return false;
      if (key === id) break;
      i = (i + 1) & mask;
    }
    this.size--;
    // Backward-shift: move later entries of the probe run into the hole when
    // their home slot is not between the hole and where they sit.
    let hole = i;
    for (let j = (hole + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = (keys[j] >>> 1) & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      keys[hole] = keys[j];
      values[hole] = values[j];
      hole = j;
    }
    keys[hole] = EMPTY;
    values[hole] = undefined;
    return true;
  }

  /** The streams, as a new array (for the rare walks over all of them: GOAWAY, SETTINGS, shutdown). */
  values(): T[] {
    const out: T[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) out.push(this.#values[i] as T);
    return out;
  }

  clear(): void {
    this.#keys.fill(EMPTY);
    this.#values.fill(undefined);
    this.size = 0;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    const capacity = oldKeys.length * 2;
    this.#keys = new Int32Array(capacity);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i], oldValues[i] as T);
  }
}
