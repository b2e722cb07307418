// The libuv stream handle under a net.Socket, as node:net itself drives it
// (lib/internal/stream_base_commons.js), for the lean engine's fast paths:
// ./socket-writer.ts writes on it directly and ./socket-reader.ts takes its
// reads, so a request skips node:stream's Writable and Readable bookkeeping.
//
// This is internal API: `socket._handle`, and process.binding('stream_wrap')
// for the WriteWrap request class and the shared state array the C++ side
// reports results in (process.binding is deprecated, DEP0111, but present in
// Node.js 24 without a warning). Everything is checked once at load; when
// anything is missing (or RINGSIDE_LEAN_PLAIN_IO=1), `streamWrap` is null and
// the lean engine uses the ordinary socket.write() / 'data' paths.

import type net from 'node:net';

/** A write request as the C++ side expects it (an instance of the binding's WriteWrap). */
export interface WriteReq {
  handle: StreamHandle | null;
  oncomplete: ((this: WriteReq, status: number) => void) | null;
  async: boolean;
  bytes: number;
  buffer: Uint8Array | null;
  callback: null;
  /** Ours: whom to tell when an asynchronous write completes. */
  owner: { writeDone(status: number): void } | null;
}

/** The methods of a libuv stream handle (TCPWrap) that we use. */
export interface StreamHandle {
  writeLatin1String(req: WriteReq, data: string): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  readStart(): number;
  /** Read into `buffer` from now on (the C++ side then passes no ArrayBuffer to onread). */
  useUserBuffer(buffer: Uint8Array): void;
  readStop(): number;
  /** node:net's flag: whether it believes the handle is reading. */
  reading: boolean;
  /** Called with `this` = the handle on every read; results are in streamBaseState. */
  onread: (this: StreamHandle, arrayBuffer: ArrayBuffer | undefined) => unknown;
}

export interface StreamWrapBinding {
  readonly WriteWrap: new () => WriteReq;
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kLastWriteWasAsync: number;
}

function load(): StreamWrapBinding | null {
  if (process.env.RINGSIDE_LEAN_PLAIN_IO === '1') return null;
  try {
    const b = (process as unknown as { binding(name: string): StreamWrapBinding }).binding('stream_wrap');
    if (
      typeof b.WriteWrap !== 'function' ||
      !(b.streamBaseState instanceof Int32Array) ||
      typeof b.kReadBytesOrError !== 'number' ||
      typeof b.kLastWriteWasAsync !== 'number'
    ) {
      return null;
    }
    return b;
  } catch {
    return null;
  }
}

export const streamWrap: StreamWrapBinding | null = load();

/**
 * The lean engine's socket I/O, as the start-up log names it: `direct` (reads
 * and writes on the stream handle) or `plain` (socket.write() and 'data'
 * events, forced by RINGSIDE_LEAN_PLAIN_IO=1 or because this Node.js lacks
 * the internals). Operators comparing CPU figures across hosts need to know which.
 */
export const leanSocketIo: 'direct' | 'plain' = streamWrap === null ? 'plain' : 'direct';

/** The socket's stream handle when the fast paths can use it, else null. */
export function streamHandleOf(socket: net.Socket): StreamHandle | null {
  if (streamWrap === null) return null;
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (handle === null || handle === undefined || typeof handle.writeBuffer !== 'function' || typeof handle.readStop !== 'function') return null;
  return handle;
}
