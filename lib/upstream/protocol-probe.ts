// How `--upstream-protocol auto` tells which protocol an endpoint speaks when
// a request in the client's protocol failed. Our own codecs mark the failure
// inline (the lean h2c client sees `HTTP/1.` where the server's SETTINGS
// should be, ../http2/h2-session.ts; the lean HTTP/1.1 pool sees an HTTP/2 frame
// header where a status line should be, ../http1/upstream-pool.ts). The
// reference clients of --engine compat (undici's Pool, the node:http2-based
// h2c client) only report a parse or protocol error: for those, one short
// probe connection asks the endpoint directly.

import net from 'node:net';
import { H2ErrorCodes } from '../http2/h2-error.ts';
import { H2C_ONLY } from '../http1/upstream-pool.ts';
import { LearnedProtocol } from './endpoint.ts';

/** How long a probe waits for the endpoint's first bytes. */
const PROBE_TIMEOUT_MS = 1_000;
/**
 * After a probe that found nothing to learn (the failure was an ordinary
 * reset), the next one on that endpoint waits this long: a crashing h2c
 * server must not get a probe connection per failed request.
 */
export const PROBE_INTERVAL_MS = 10_000;

/** RFC 9113 section 3.4: the client preface, then an empty SETTINGS frame. */
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/**
 * What a failure from one of our codecs says the endpoint speaks: HTTP1 when
 * it answered our HTTP/2 preface in HTTP/1.x, H2C when it answered an HTTP/1.1
 * request with HTTP/2 frames, else UNKNOWN.
 */
export function protocolMark(cause: Error): LearnedProtocol {
  const code = (cause as { code?: unknown }).code;
  if (code === H2ErrorCodes.HTTP1_ONLY) return LearnedProtocol.HTTP1;
  if (code === H2C_ONLY) return LearnedProtocol.H2C;
  return LearnedProtocol.UNKNOWN;
}

/** A failure from a reference client that might hide a protocol mismatch (not one of our codecs' errors: those say so themselves). */
export function mayHideProtocolMismatch(cause: Error): boolean {
  const code = (cause as { code?: unknown }).code;
  return typeof code !== 'string' || !code.startsWith('RS_');
}

/**
 * Open one connection to host:port, send the HTTP/2 preface (`asH2`) or an
 * `OPTIONS *` request (harmless: RFC 9110 section 9.3.7), and classify the
 * first bytes of the answer: `HTTP/1.` is HTTP1, an HTTP/2 SETTINGS or GOAWAY
 * frame header is H2C; anything else (a close, a reset, silence within
 * PROBE_TIMEOUT_MS) is UNKNOWN. Never rejects.
 */
export function probeProtocol(host: string, port: number, asH2: boolean): Promise<LearnedProtocol> {
  return new Promise((resolve) => {
    let got: Buffer | null = null;
    let settled = false;
    const socket = net.connect({ host, port, noDelay: true });
    const finish = (result: LearnedProtocol): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, PROBE_TIMEOUT_MS, LearnedProtocol.UNKNOWN);
    socket.on('connect', () => {
      const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      socket.write(asH2 ? PREFACE : `OPTIONS * HTTP/1.1\r\nhost: ${authority}\r\nconnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      got = got === null ? chunk : Buffer.concat([got, chunk]);
      const result = classifyFirstBytes(got);
      if (result !== -1) finish(result);
    });
    socket.on('error', () => finish(LearnedProtocol.UNKNOWN));
    socket.on('close', () => finish(LearnedProtocol.UNKNOWN));
  });
}

/** HTTP1, H2C or UNKNOWN for the first bytes an endpoint sent; -1 while too few arrived to tell. */
export function classifyFirstBytes(buf: Buffer): LearnedProtocol | -1 {
  if (buf[0] === 0x48 /* H */) {
    if (buf.length < 7) return 'HTTP/1.'.startsWith(buf.toString('latin1')) ? -1 : LearnedProtocol.UNKNOWN;
    return buf.toString('latin1', 0, 7) === 'HTTP/1.' ? LearnedProtocol.HTTP1 : LearnedProtocol.UNKNOWN;
  }
  if (buf[0] !== 0) return LearnedProtocol.UNKNOWN;
  if (buf.length < 9) return -1;
  const type = buf[3];
  return (type === 0x04 || type === 0x07) && (buf.readUInt32BE(5) & 0x7fffffff) === 0 ? LearnedProtocol.H2C : LearnedProtocol.UNKNOWN;
}
