// Writes to a net.Socket for the lean engine, skipping node:stream's Writable
// machinery in the common case. A `socket.write()` of a few hundred bytes
// costs a WriteWrap allocation, the Writable bookkeeping and a process.nextTick
// for the callback, around the one write(2) that matters (issue 7 profile:
// about 7% of the proxy's CPU). When Writable holds nothing (no buffered or
// in-flight chunk, not connecting), this writes on the socket's libuv handle
// directly, the way node:net's own writeGeneric does, with a WriteWrap that is
// reused as long as every write completes synchronously (the C++ side only
// binds a request object when a write has to wait).
//
// Order is kept: a direct write goes to the kernel or, when it has to wait,
// into libuv's write queue; Writable's later writes and its shutdown (end())
// queue behind it in libuv. Only when Writable has bytes of its own buffered do
// we go through socket.write(), so nothing can overtake them.
//
// Internal API (see ./stream-handle.ts): without it every write takes the
// ordinary socket.write() path.

import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { streamHandleOf, streamWrap, type WriteReq } from './stream-handle.ts';

/** Told when all the bytes a writer handed over have left (after write() returned false). */
export interface WriteDrainListener {
  onWriterDrain(): void;
}

const state = streamWrap?.streamBaseState ?? new Int32Array(8);
const LAST_WRITE_WAS_ASYNC = streamWrap?.kLastWriteWasAsync ?? 0;

function onDirectWriteComplete(this: WriteReq, status: number): void {
  const owner = this.owner;
  this.owner = null;
  this.buffer = null;
  this.handle = null;
  if (owner !== null) owner.writeDone(status);
}

/** A libuv error code as the Error node:net would raise for it. */
function writeError(status: number): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { errno: status, code, syscall: 'write' });
}

export class SocketWriter {
  readonly socket: net.Socket;
  readonly #listener: WriteDrainListener;
  /** Reusable request object for writes that complete synchronously. */
  #req: WriteReq | null = null;
  /** Direct writes still queued in libuv. */
  #queued = 0;

  constructor(socket: net.Socket, listener: WriteDrainListener) {
    this.socket = socket;
    this.#listener = listener;
  }

  /** Direct writes still waiting in libuv (their bytes referenced until they complete). */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Write `data` (a string is sent as latin1). False when some bytes had to be
   * queued: the caller should stop producing until its onWriterDrain (or,
   * for the socket.write() path, the socket's 'drain'), which then also comes.
   */
  write(data: string | Buffer): boolean {
    const socket = this.socket;
    const handle = streamHandleOf(socket);
    if (handle === null || socket.writableLength !== 0 || socket.connecting || socket.destroyed || !socket.writable) {
      return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
    }
    let req = this.#req;
    if (req === null) {
      req = new streamWrap!.WriteWrap();
      req.handle = null;
      req.oncomplete = onDirectWriteComplete;
      req.async = false;
      req.bytes = 0;
      req.buffer = null;
      req.callback = null;
      req.owner = null;
      this.#req = req;
    }
    const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (err !== 0) {
      // EPIPE, ECONNRESET, ...: what node:net does with a failed write (some bytes may have gone: never retried).
      socket.destroy(writeError(err));
      return false;
    }
    if (state[LAST_WRITE_WAS_ASYNC] === 0) return true;
    // Part of the bytes wait in libuv: this request object is now bound to
    // that write (and keeps a Buffer alive); the next write gets a new one.
    this.#req = null;
    req.handle = handle;
    req.async = true;
    req.owner = this;
    if (typeof data !== 'string') req.buffer = data;
    this.#queued++;
    return false;
  }

  /** A queued direct write finished (status < 0: failed, or cancelled by a close). */
  writeDone(status: number): void {
    this.#queued--;
    if (status < 0) {
      // As node:net does for a failed write: the socket is destroyed with the error ('error', then 'close').
      if (!this.socket.destroyed) this.socket.destroy(writeError(status));
      return;
    }
    if (this.#queued === 0) this.#listener.onWriterDrain();
  }
}
