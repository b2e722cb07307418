// The ExchangeBody contract (../forwarding/request-body.ts), one suite for
// both implementations: the tap the reference codecs use and the relay of our
// HTTP/1.1 server (a body fed as the client framed it). Then what only the
// relay does: raw bytes to an HTTP/1.1 attempt, chunked bodies decoded again
// (trailers included) when a replay goes to a stream client.

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ExchangeBody } from '../forwarding/request-body.ts';
import { RequestBodyTap } from '../forwarding/request-body.ts';
import { ChunkedScanner } from './chunked-scanner.ts';
import { RequestBodyRelay } from './request-body-relay.ts';

interface Driver {
  readonly body: ExchangeBody;
  feed(chunk: Buffer): void;
  end(): void;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) out += chunk.toString('latin1');
  return out;
}

const source = { wanted: 0, bodyWanted(): void { this.wanted++; } };

const IMPLEMENTATIONS: { name: string; make(limit: number): Driver }[] = [
  {
    name: 'RequestBodyTap (node:http, node:http2)',
    make(limit) {
      const src = new Readable({ read() {} });
      const tap = new RequestBodyTap(src, limit);
      return { body: tap, feed: (c) => void src.push(c), end: () => void src.push(null) };
    },
  },
  {
    name: 'RequestBodyRelay (our HTTP/1.1 server, content-length body)',
    make(limit) {
      const relay = new RequestBodyRelay(source);
      relay.reset(false, limit);
      return { body: relay, feed: (c) => void relay.data(c), end: () => relay.end() };
    },
  },
];

describe.each(IMPLEMENTATIONS)('ExchangeBody: $name', ({ make }) => {
  it('the first stream carries the body; within the limit a replay carries all of it again', async () => {
    const d = make(1024);
    const first = d.body.current;
    d.feed(Buffer.from('hello '));
    d.feed(Buffer.from('world'));
    d.end();
    expect(await readAll(first)).toBe('hello world');
    expect(d.body.replayable).toBe(true);
    expect(await readAll(d.body.replay())).toBe('hello world');
  });

  it('a replay made mid-body carries what was forwarded, then the rest', async () => {
    const d = make(1024);
    void d.body.current;
    d.feed(Buffer.from('abc'));
    await new Promise((r) => setImmediate(r));
    const again = d.body.replay();
    d.feed(Buffer.from('def'));
    d.end();
    expect(await readAll(again)).toBe('abcdef');
  });

  it('more than the limit forwarded: not replayable', async () => {
    const d = make(4);
    const first = d.body.current;
    d.feed(Buffer.from('0123'));
    d.feed(Buffer.from('4'));
    d.end();
    expect(await readAll(first)).toBe('01234');
    expect(d.body.replayable).toBe(false);
  });
});

describe('RequestBodyRelay: what only our HTTP/1.1 server needs', () => {
  it('bytes go to an HTTP/1.1 attempt as framed, its end is told, and a backpressured write stops the client', () => {
    const relay = new RequestBodyRelay(source);
    relay.reset(true, 1024);
    const written: string[] = [];
    let ended = false;
    let full = false;
    relay.sendTo({ writeBody: (b) => (written.push(b.toString('latin1')), !full), bodyEnded: () => (ended = true) });
    expect(relay.data(Buffer.from('5\r\nhello\r\n'))).toBe(true);
    full = true;
    expect(relay.data(Buffer.from('0\r\n\r\n'))).toBe(false);
    relay.end();
    expect(written).toEqual(['5\r\nhello\r\n', '0\r\n\r\n']);
    expect(ended).toBe(true);
    expect(relay.keptBytes).toBe(15);
  });

  it('a chunked body sent raw, then replayed to a stream client (an h2c resend): decoded, with its trailers', async () => {
    const relay = new RequestBodyRelay(source);
    relay.reset(true, 1024);
    relay.sendTo({ writeBody: () => true, bodyEnded: () => {} });
    relay.data(Buffer.from('5\r\nhello\r\n6\r\n world\r\n'));
    relay.data(Buffer.from('0\r\nx-check: 7\r\n\r\n'));
    relay.end();
    const stream = relay.replay() as NodeJS.ReadableStream & { trailers: Record<string, string> | null };
    expect(await readAll(stream)).toBe('hello world');
    expect(stream.trailers).toEqual({ 'x-check': '7' });
  });

  it('a chunked body going to a stream client is decoded as the connection scans it', async () => {
    const relay = new RequestBodyRelay(source);
    relay.reset(true, 0);
    const stream = relay.current;
    expect(relay.decoding).toBe(true);
    const scanner = new ChunkedScanner();
    scanner.reset();
    for (const piece of ['3\r\nab', 'c\r\n0\r\n', '\r\n']) {
      const b = Buffer.from(piece);
      scanner.scan(b, 0, b.length, relay);
      relay.data(b);
    }
    relay.end();
    expect(await readAll(stream)).toBe('abc');
    expect(relay.replayable).toBe(false); // --retries 0: nothing kept
  });

  it('discard: the rest is read (the source is asked for more) and dropped, not kept', () => {
    const src = { wanted: 0, bodyWanted(): void { this.wanted++; } };
    const relay = new RequestBodyRelay(src);
    relay.reset(false, 1024);
    const written: Buffer[] = [];
    relay.sendTo({ writeBody: (b) => (written.push(b), true), bodyEnded: () => {} });
    relay.discard();
    expect(src.wanted).toBe(1);
    expect(relay.data(Buffer.from('late'))).toBe(true);
    expect(written).toEqual([]);
    expect(relay.replayable).toBe(false);
  });
});
