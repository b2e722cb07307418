// Send-side flow control (RFC 9113 section 5.2), shared by our client session
// (request bodies) and server session (response bodies): DATA respects the
// peer's stream window, the connection window and its SETTINGS_MAX_FRAME_SIZE;
// what does not fit waits on the stream (pendingOut) until a WINDOW_UPDATE,
// a SETTINGS that grows the windows, or the socket's drain, and the producer
// (request body, upstream response) is paused meanwhile: backpressure end to end.

import { DEFAULT_WINDOW } from './frames.ts';
import type { FrameWriter } from './frame-writer.ts';
import type { PeerSettings } from './settings.ts';

/** The per-stream fields the flow needs (plain fields on the session's stream objects). */
export interface OutboundStream {
  id: number;
  /** What the peer lets us send on this stream. */
  sendWindow: number;
  /** Bytes waiting for window (null when none). */
  pendingOut: Buffer[] | null;
  /** On the list of streams waiting for window. */
  blocked: boolean;
}

/** The session side of the flow. */
export interface OutboundOwner<S extends OutboundStream> {
  /** Whether `stream` may still send (not ended or reset). */
  canSend(stream: S): boolean;
  /** Every pending byte of `stream` went out: end it, or let its producer go on. */
  pendingSent(stream: S): void;
}

export class OutboundFlow<S extends OutboundStream> {
  readonly writer: FrameWriter;
  readonly peer: PeerSettings;
  readonly owner: OutboundOwner<S>;
  /** The connection's send window. */
  window = DEFAULT_WINDOW;
  #blocked: S[] = [];

  constructor(writer: FrameWriter, peer: PeerSettings, owner: OutboundOwner<S>) {
    this.writer = writer;
    this.peer = peer;
    this.owner = owner;
  }

  /**
   * Send `chunk` on `stream` as far as the windows allow. True when all of it
   * went (into this turn's output); false when the rest waits on the stream,
   * which is then blocked: the caller pauses its producer.
   */
  send(stream: S, chunk: Buffer): boolean {
    if (stream.pendingOut !== null) {
      stream.pendingOut.push(chunk);
      return false;
    }
    const rest = this.#sendData(stream, chunk);
    if (rest === null) return true;
    stream.pendingOut = [rest];
    this.#block(stream);
    return false;
  }

  /** Queue DATA frames for as much of `chunk` as the windows and the socket allow; returns the unsent rest or null. */
  #sendData(stream: S, chunk: Buffer): Buffer | null {
    let offset = 0;
    const total = chunk.length;
    const writer = this.writer;
    while (offset < total) {
      if (writer.socketFull) break;
      const allowed = Math.min(stream.sendWindow, this.window, this.peer.maxFrame, total - offset);
      if (allowed <= 0) break;
      stream.sendWindow -= allowed;
      this.window -= allowed;
      const payload = offset === 0 && allowed === total ? chunk : chunk.subarray(offset, offset + allowed);
      offset += allowed;
      writer.data(stream.id, payload, stream);
    }
    return offset === total ? null : chunk.subarray(offset);
  }

  #block(stream: S): void {
    if (stream.blocked) return;
    stream.blocked = true;
    this.#blocked.push(stream);
  }

  /** Window opened (or the socket drained): send what blocked streams hold (`only`: just that stream's window grew). */
  unblock(only: S | null): void {
    if (only !== null) {
      if (!only.blocked) return;
      only.blocked = false;
      const i = this.#blocked.indexOf(only);
      if (i >= 0) this.#blocked.splice(i, 1);
      this.#drainPending(only);
      return;
    }
    const list = this.#blocked;
    if (list.length === 0) return;
    this.#blocked = [];
    for (const stream of list) {
      if (!stream.blocked) continue;
      stream.blocked = false;
      this.#drainPending(stream);
    }
  }

  /** The stream is gone: forget what it had pending. */
  drop(stream: S): void {
    stream.pendingOut = null;
    if (stream.blocked) {
      stream.blocked = false;
      const i = this.#blocked.indexOf(stream);
      if (i >= 0) this.#blocked.splice(i, 1);
    }
    this.writer.forget(stream);
  }

  /**
   * Send an unblocked stream's pending bytes; what still does not fit blocks
   * it again. When all went, the owner is told, and may send more at once (a
   * resumed producer): the stream is off the blocked list by then, so that
   * send can block it again.
   */
  #drainPending(stream: S): void {
    if (!this.owner.canSend(stream)) return;
    const pending = stream.pendingOut;
    if (pending === null) return;
    while (pending.length > 0) {
      const rest = this.#sendData(stream, pending[0]);
      if (rest !== null) {
        pending[0] = rest;
        this.#block(stream);
        return;
      }
      pending.shift();
    }
    stream.pendingOut = null;
    this.owner.pendingSent(stream);
  }
}
