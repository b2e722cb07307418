// Reads of a client net.Socket for the lean engine, without node:stream's
// Readable in between. node:net hands every read to Readable.push(), which
// buffers, emits 'data' and schedules a maybeReadMore tick per read (issue 7
// profile: a few % of the proxy's CPU). Here the handle's `onread` (the
// function node:net installs, called by the C++ side with the read's result
// in streamBaseState) is replaced by one that hands the bytes straight to
// the connection; end of stream and errors are passed on to node:net's own
// function, so 'end', 'error' and 'close' still come as usual.
//
// The bytes are read into one buffer shared by every client connection of the
// process (the handle's `useUserBuffer`, what node:net's `onread` option
// uses), not into a new ArrayBuffer per read: the C++ side otherwise creates
// an ArrayBuffer and we a Buffer view for each read, about 40% of what the
// lean engine allocated per HTTP/1.1 request (2026-12-05 allocation
// profile), which is what sets how often the young generation is collected.
// The shared bytes are valid only during `onRead`: the target copies what it
// keeps (a partial head, pipelined requests, body bytes).
//
// Pausing is then ours to do: Readable never sees the data, so
// socket.pause() would not stop the reads; pause() and resume() stop and
// restart the handle, keeping node:net's `reading` flag in step.
//
// Internal API (see ./stream-handle.ts): without it the socket's 'data'
// events and socket.pause()/resume() are used, as before.

import type net from 'node:net';
import { streamHandleOf, streamWrap, type StreamHandle } from './stream-handle.ts';

export interface ReadTarget {
  /** An owned chunk (the 'data' fallback, the first chunk the listener read). */
  onData(chunk: Buffer): void;
  /** Bytes `shared[0, n)`: valid only during the call (the buffer is reused by the next read of any connection). */
  onRead(shared: Buffer, n: number): void;
}

const state = streamWrap?.streamBaseState ?? new Int32Array(8);
const READ_BYTES_OR_ERROR = streamWrap?.kReadBytesOrError ?? 0;

/** The read buffer of every direct reader: 64 KiB, what libuv is offered for a read by default. */
const shared = Buffer.allocUnsafe(64 * 1024);

interface ReadingHandle extends StreamHandle {
  ringsideReader?: SocketReader;
}

function onDirectRead(this: ReadingHandle, arrayBuffer: ArrayBuffer | undefined): unknown {
  const reader = this.ringsideReader!;
  const nread = state[READ_BYTES_OR_ERROR];
  if (nread > 0) {
    reader.target.onRead(shared, nread);
    return undefined;
  }
  // End of stream, an error: node:net's own handling (push(null) and 'end', or destroy).
  return reader.nodeOnRead.call(this, arrayBuffer);
}

export class SocketReader {
  readonly socket: net.Socket;
  /** Who gets the reads: the connection, until it hands the socket over (a tunnel, ../forwarding/tunnel.ts). */
  target: ReadTarget;
  /** The handle whose reads we take; null when reads come as 'data' events. */
  readonly #handle: ReadingHandle | null;
  /** node:net's onread, for what we do not handle ourselves. */
  readonly nodeOnRead: StreamHandle['onread'];

  /** Take the socket's reads for `target` (its 'data' events should call target.onData too, for the fallback). */
  constructor(socket: net.Socket, target: ReadTarget) {
    this.socket = socket;
    this.target = target;
    const handle = streamHandleOf(socket) as ReadingHandle | null;
    const nodeOnRead = handle?.onread;
    if (handle !== null && typeof nodeOnRead === 'function' && typeof handle.useUserBuffer === 'function' && socket.readableLength === 0 && !socket.destroyed) {
      this.#handle = handle;
      this.nodeOnRead = nodeOnRead;
      handle.ringsideReader = this;
      handle.onread = onDirectRead;
      handle.useUserBuffer(shared);
    } else {
      this.#handle = null;
      this.nodeOnRead = () => undefined;
    }
  }

  /** Hand the reads to another target from the next read on (the connection became a tunnel). */
  retarget(target: ReadTarget): void {
    this.target = target;
  }

  /** Whether reads bypass Readable. */
  get direct(): boolean {
    return this.#handle !== null;
  }

  pause(): void {
    const handle = this.#handle;
    if (handle === null) {
      this.socket.pause();
      return;
    }
    if (handle.reading && !this.socket.destroyed) {
      handle.reading = false;
      handle.readStop();
    }
  }

  resume(): void {
    const handle = this.#handle;
    if (handle === null) {
      this.socket.resume();
      return;
    }
    if (!handle.reading && !this.socket.destroyed) {
      handle.reading = true;
      handle.readStart();
    }
  }
}
