// Reads of a client net.Socket for the lean engine, without node:stream's
// Readable in between. node:net hands every read to Readable.push(), which
// buffers, emits 'data' and schedules a maybeReadMore tick per read (issue 7
// profile: a few % of the proxy's CPU). Here the handle's `onread` (the
// function node:net installs, called by the C++ side with the read's result
// in streamBaseState) is replaced by one that hands the bytes straight to
// the connection; end of stream and errors are passed on to node:net's own
// function, so 'end', 'error' and 'close' still come as usual.
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
  onData(chunk: Buffer): void;
}

const state = streamWrap?.streamBaseState ?? new Int32Array(8);
const READ_BYTES_OR_ERROR = streamWrap?.kReadBytesOrError ?? 0;
const ARRAY_BUFFER_OFFSET = streamWrap?.kArrayBufferOffset ?? 1;

interface ReadingHandle extends StreamHandle {
  ringsideReader?: SocketReader;
}

function onDirectRead(this: ReadingHandle, arrayBuffer: ArrayBuffer | undefined): unknown {
  const reader = this.ringsideReader!;
  const nread = state[READ_BYTES_OR_ERROR];
  if (nread > 0 && arrayBuffer !== undefined) {
    reader.target.onData(Buffer.from(arrayBuffer, state[ARRAY_BUFFER_OFFSET], nread));
    return undefined;
  }
  // End of stream, an error: node:net's own handling (push(null) and 'end', or destroy).
  return reader.nodeOnRead.call(this, arrayBuffer);
}

export class SocketReader {
  readonly socket: net.Socket;
  readonly target: ReadTarget;
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
    if (handle !== null && typeof nodeOnRead === 'function' && socket.readableLength === 0 && !socket.destroyed) {
      this.#handle = handle;
      this.nodeOnRead = nodeOnRead;
      handle.ringsideReader = this;
      handle.onread = onDirectRead;
    } else {
      this.#handle = null;
      this.nodeOnRead = () => undefined;
    }
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
