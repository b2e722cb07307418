// The contract between the tunnel core (./tunnel.ts) and the upstream side of
// a protocol-switch handshake (../http1/upgrade-request.ts), in the spirit of
// the dispatch handler the Exchange speaks with its clients: the codec does
// the bytes, the core decides what they mean for the client.

import type net from 'node:net';

/** What the core is told about one handshake sent to an endpoint. */
export interface UpgradeHandler {
  /** Connected and the handshake written: bytes the client sends from now on may be written to `socket`. */
  onUpgradeConnected(socket: net.Socket): void;
  /** 101 Switching Protocols: `head` is the upstream's head as received (ending with the blank line), `rest` the tunnel bytes read after it. */
  onUpgraded(socket: net.Socket, head: Buffer, rest: Buffer | null): void;
  /** Another final status: `head` is the client's head (framing kept, `connection: close`, blank line). */
  onResponseHead(status: number, head: string): void;
  /** Body bytes exactly as the upstream framed them; false asks for a pause (UpgradeAttempt.resume()). */
  onResponseData(chunk: Buffer): boolean;
  onResponseEnd(): void;
  /** `connected`: false when the connection never opened (nothing was sent: safe to try elsewhere). */
  onUpgradeError(err: Error, connected: boolean): void;
}

/** One handshake on its way, as the core steers it. */
export interface UpgradeAttempt {
  /** Stop / restart reading the non-101 response body (the client is not draining). */
  pause(): void;
  resume(): void;
  /** Give up: the connection is destroyed and the handler told nothing more. */
  abort(): void;
}
