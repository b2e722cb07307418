import { describe, expect, it } from 'vitest';
import { LearnedProtocol } from './endpoint.ts';
import { classifyFirstBytes } from './protocol-probe.ts';

describe('classifyFirstBytes', () => {
  it('an HTTP/1.x status line is HTTP/1.1, once 7 bytes say so', () => {
    expect(classifyFirstBytes(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toBe(LearnedProtocol.HTTP1);
    expect(classifyFirstBytes(Buffer.from('HTTP/1.0 200 OK\r\n'))).toBe(LearnedProtocol.HTTP1);
    expect(classifyFirstBytes(Buffer.from('HTTP/'))).toBe(-1);
    expect(classifyFirstBytes(Buffer.from('HTTP/2 200'))).toBe(LearnedProtocol.UNKNOWN);
    expect(classifyFirstBytes(Buffer.from('HELLO'))).toBe(LearnedProtocol.UNKNOWN);
  });

  it('a SETTINGS or GOAWAY frame on stream 0 is h2c; other frames and other bytes are not', () => {
    // What node:http2's server sends to an HTTP/1.1 request: an empty SETTINGS, then GOAWAY(PROTOCOL_ERROR).
    expect(classifyFirstBytes(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0]))).toBe(LearnedProtocol.H2C);
    expect(classifyFirstBytes(Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0]))).toBe(LearnedProtocol.H2C);
    expect(classifyFirstBytes(Buffer.from([0, 0, 0, 4, 0]))).toBe(-1);
    expect(classifyFirstBytes(Buffer.from([0, 0, 4, 1, 4, 0, 0, 0, 1]))).toBe(LearnedProtocol.UNKNOWN); // HEADERS
    expect(classifyFirstBytes(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 3]))).toBe(LearnedProtocol.UNKNOWN); // SETTINGS on a stream
    expect(classifyFirstBytes(Buffer.from('<html>'))).toBe(LearnedProtocol.UNKNOWN);
  });
});
