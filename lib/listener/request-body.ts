// The readable half of an HTTP/2 server stream, as its own Readable.
// undici consumes a request body with stream.pipeline(), which destroys the
// body stream when done; for an Http2Stream that would also destroy the
// response half (RST_STREAM) we are still writing to. This adapter forwards
// data with backpressure (pause the source when our buffer is full, resume it
// on _read) and never destroys the source itself.

import { Readable } from 'node:stream';
import type { ServerHttp2Stream } from 'node:http2';

export class RequestBody extends Readable {
  readonly #source: ServerHttp2Stream;

  constructor(source: ServerHttp2Stream) {
    super({ highWaterMark: 64 * 1024 });
    this.#source = source;
    source.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) source.pause();
    });
    source.on('end', () => this.push(null));
    source.on('aborted', () => this.destroy(new Error('client reset the stream')));
  }

  override _read(): void {
    this.#source.resume();
  }
}
