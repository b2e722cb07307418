// RFC 9113 conformance of ringside's HTTP/2 server (h2c with prior
// knowledge), frame by frame from a raw socket, on both engines: lean (our
// own server, lib/http2/server-session.ts, issue 22) and compat (node:http2,
// kept as the reference). Each case is a fresh connection to ringside (a
// child process) in front of a real h2c replica; after a stream error the
// same connection must still serve a request, after a connection error a new
// one must.
//
// node:http2 fails ten of h2spec's 146 cases (h2spec against ringside,
// 2026-12-06, before our server; issue 22). Nine are encoded here; our server
// passes them, node:http2 stays in COMPAT_KNOWN_FAILURES for good (skipped
// on compat). A case our server does not pass yet goes in LEAN_PENDING. The tenth (3.5/2), an invalid connection
// preface, is answered with HTTP/1.1 400 on purpose: the port also serves
// HTTP/1.1 (RFC 9113 section 3.4 wants GOAWAY).
// H2_RUN_PENDING=1 runs the skipped cases too, to see which pass.

import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { Engine } from '../lib/config/config.ts';
import { F, H2FrameClient } from './support/h2-frame-client.ts';
import { useH2Target } from './support/h2-server-target.ts';

/** Cases our server (lean) does not pass yet: remove each id here as it does. h2spec's case id is in the test name. */
const LEAN_PENDING: ReadonlySet<string> = new Set<string>([
  // none: our server (lib/http2/server-session.ts) passes all nine.
]);

/** What node:http2 (the compat engine's server, issue 22 point 4) gets wrong, and will keep getting wrong. */
const COMPAT_KNOWN_FAILURES: ReadonlySet<string> = new Set([
  'data-after-rst',
  'headers-after-rst',
  'data-after-close',
  'headers-after-close',
  'stream-id-decreasing',
  'priority-self-dependency',
  'priority-stream-0',
  'ping-ack-ignored',
  'stream-window-overflow',
]);

const RUN_ALL = process.env.H2_RUN_PENDING === '1';
const skipped = (engine: Engine, id: string): boolean => !RUN_ALL && (engine === 'lean' ? LEAN_PENDING : COMPAT_KNOWN_FAILURES).has(id);

const post = (path = '/upload'): Array<[string, string]> => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', 'ringside.test'],
];

/** PRIORITY payload (RFC 9113 section 6.3): exclusive bit + dependency, weight. */
const priority = (streamId: number, dependsOn: number, weight = 15): Buffer => {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(dependsOn & 0x7fffffff);
  p[4] = weight;
  return F.frame(F.FrameType.PRIORITY, 0, streamId, p);
};

describe.each<Engine>(['lean', 'compat'])('HTTP/2 server conformance, RFC 9113 (--engine %s)', (engine) => {
  const t = useH2Target(engine);
  const connect = t.connect;
  const when = (id: string) => it.skipIf(skipped(engine, id));
  afterAll(async () => {
    // Every case left ringside serving.
    expect(await t.target.normalRequest('/after-all')).toBe('200 r0 GET /after-all 0');
  });

  // --- the basics, right on both engines -----------------------------------

  it('the server sends SETTINGS first and acknowledges ours (sections 3.4, 6.5.3); a GET is served', async () => {
    const c = await connect({ settings: [[0x3, 100]] });
    await c.handshake();
    expect(c.frames[0].type).toBe(F.FrameType.SETTINGS);
    expect(c.frames[0].flags & F.Flags.ACK).toBe(0);
    c.send(F.headers(1, F.get('/hello')));
    expect((await c.expectResponse(1)).body.toString()).toBe('r0 GET /hello 0');
  });

  it('unknown frame types are ignored, on stream 0 and on a stream (sections 4.1, 5.5)', async () => {
    const c = await connect();
    c.send(F.frame(0xfa, 0xff, 0, Buffer.from('ignore me')), F.headers(1, F.get('/x'), true), F.frame(0xfb, 0, 1, Buffer.alloc(20)));
    await c.expectResponse(1);
    await c.expectAlive();
    expect(c.goaway()).toBeUndefined();
  });

  it('a SETTINGS ACK with a payload -> connection error FRAME_SIZE_ERROR (section 6.5)', async () => {
    const c = await connect();
    c.send(F.frame(F.FrameType.SETTINGS, F.Flags.ACK, 0, Buffer.alloc(6)));
    await c.expectConnectionError(F.ErrorCode.FRAME_SIZE_ERROR);
  });

  it('a frame over SETTINGS_MAX_FRAME_SIZE -> FRAME_SIZE_ERROR (section 4.2)', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), F.frame(F.FrameType.DATA, 0, 1, Buffer.alloc(16_385)));
    await c.expectStreamError(1, F.ErrorCode.FRAME_SIZE_ERROR);
  });

  it('HEADERS on stream 0 -> connection error PROTOCOL_ERROR (section 6.2)', async () => {
    const c = await connect();
    c.send(F.headers(0, F.get('/')));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
  });

  it('HEADERS on an even (server-initiated) stream -> connection error PROTOCOL_ERROR (section 5.1.1)', async () => {
    const c = await connect();
    c.send(F.headers(2, F.get('/')));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
  });

  it('a frame other than CONTINUATION inside a header block -> connection error PROTOCOL_ERROR (section 6.10)', async () => {
    const c = await connect();
    c.send(F.frame(F.FrameType.HEADERS, F.Flags.END_STREAM, 1, F.headerBlock(F.get('/'))), F.ping(Buffer.from('between!')));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
  });

  it('DATA on a half-closed (remote) stream -> stream error STREAM_CLOSED (section 5.1)', async () => {
    const c = await connect();
    // The GET ended its side; the upstream answers after 500 ms, so the stream is still half-closed (remote).
    c.send(F.headers(1, F.get('/slow/500')), F.data(1, 'late'));
    await c.expectStreamError(1, F.ErrorCode.STREAM_CLOSED);
  });

  it('WINDOW_UPDATE past 2^31-1 on the connection -> connection error FLOW_CONTROL_ERROR (section 6.9.1)', async () => {
    const c = await connect();
    c.send(F.windowUpdate(0, 0x7fffffff), F.windowUpdate(0, 0x7fffffff));
    await c.expectConnectionError(F.ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('WINDOW_UPDATE of 0 on a stream -> stream error PROTOCOL_ERROR (section 6.9)', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), F.windowUpdate(1, 0));
    await c.expectStreamError(1, F.ErrorCode.PROTOCOL_ERROR);
  });

  it('RST_STREAM on an idle stream -> connection error PROTOCOL_ERROR (section 5.1)', async () => {
    const c = await connect();
    c.send(F.rstStream(1));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
  });

  it('an invalid connection preface is refused and the connection closed (section 3.4; HTTP/1.1 400 here on purpose)', async () => {
    // The port serves HTTP/1.1 too: bytes that are not the preface are an HTTP/1.1 request, and this one is malformed.
    const socket = net.connect(t.target.port, '127.0.0.1');
    socket.on('error', () => {});
    let got = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    socket.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1'));
    const closed = await Promise.race([new Promise<boolean>((r) => socket.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
    socket.destroy();
    expect(closed).toBe(true);
    const isGoaway = got.length >= 17 && got[3] === F.FrameType.GOAWAY && got.readUInt32BE(13) === F.ErrorCode.PROTOCOL_ERROR;
    expect(isGoaway || got.toString('latin1').startsWith('HTTP/1.1 400 ')).toBe(true);
  });

  // Malformed requests (section 8.1.1): a stream error PROTOCOL_ERROR, never forwarded; the connection lives on.
  const malformed: Array<[string, Array<[string, string]>]> = [
    ['missing :method (section 8.3.1)', F.get('/').filter(([k]) => k !== ':method')],
    ['missing :path (section 8.3.1)', F.get('/').filter(([k]) => k !== ':path')],
    ['missing :scheme (section 8.3.1)', F.get('/').filter(([k]) => k !== ':scheme')],
    ['empty :path (section 8.3.1)', F.get('')],
    ['duplicate :method (section 8.3.1)', [...F.get('/'), [':method', 'GET']]],
    ['unknown pseudo-header (section 8.3)', [...F.get('/'), [':evil', '1']]],
    ['response pseudo-header :status in a request (section 8.3)', [...F.get('/'), [':status', '200']]],
    ['pseudo-header after a regular field (section 8.3)', [F.get('/')[0], ['x-a', '1'], ...F.get('/').slice(1)]],
    ['uppercase field name (section 8.2.1)', [...F.get('/'), ['X-Upper', '1']]],
    ['connection (section 8.2.2)', [...F.get('/'), ['connection', 'keep-alive']]],
    ['keep-alive (section 8.2.2)', [...F.get('/'), ['keep-alive', 'timeout=5']]],
    ['proxy-connection (section 8.2.2)', [...F.get('/'), ['proxy-connection', 'keep-alive']]],
    ['transfer-encoding (section 8.2.2)', [...F.get('/'), ['transfer-encoding', 'chunked']]],
    ['upgrade (section 8.2.2)', [...F.get('/'), ['upgrade', 'h2c']]],
    ['te other than "trailers" (section 8.2.2)', [...F.get('/'), ['te', 'gzip']]],
  ];
  for (const [name, fields] of malformed) {
    it(`malformed request: ${name} -> RST_STREAM(PROTOCOL_ERROR), not forwarded, the connection still serves`, async () => {
      const before = t.target.replica.requests;
      const c = await connect();
      c.send(F.headers(1, fields));
      await c.expectRst(1, F.ErrorCode.PROTOCOL_ERROR);
      c.send(F.headers(3, F.get('/next')));
      await c.expectResponse(3);
      expect(t.target.replica.requests - before).toBe(1);
    });
  }

  // Frame-format and SETTINGS rules (section 6): each a connection error with this code.
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  const connectionErrors: Array<[string, number, () => Buffer[]]> = [
    ['PING with 6 bytes (section 6.7)', F.ErrorCode.FRAME_SIZE_ERROR, () => [F.frame(F.FrameType.PING, 0, 0, Buffer.alloc(6))]],
    ['SETTINGS with 5 bytes (section 6.5)', F.ErrorCode.FRAME_SIZE_ERROR, () => [F.frame(F.FrameType.SETTINGS, 0, 0, Buffer.alloc(5))]],
    ['SETTINGS on a stream (section 6.5)', F.ErrorCode.PROTOCOL_ERROR, () => [F.frame(F.FrameType.SETTINGS, 0, 1, Buffer.alloc(0))]],
    ['SETTINGS_ENABLE_PUSH = 2 (section 6.5.2)', F.ErrorCode.PROTOCOL_ERROR, () => [F.settings([[0x2, 2]])]],
    ['SETTINGS_INITIAL_WINDOW_SIZE = 2^31 (section 6.5.2)', F.ErrorCode.FLOW_CONTROL_ERROR, () => [F.settings([[0x4, 0x80000000]])]],
    ['SETTINGS_MAX_FRAME_SIZE = 16383 (section 6.5.2)', F.ErrorCode.PROTOCOL_ERROR, () => [F.settings([[0x5, 16_383]])]],
    ['WINDOW_UPDATE with 3 bytes (section 6.9)', F.ErrorCode.FRAME_SIZE_ERROR, () => [F.frame(F.FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))]],
    ['WINDOW_UPDATE of 0 on the connection (section 6.9)', F.ErrorCode.PROTOCOL_ERROR, () => [F.windowUpdate(0, 0)]],
    ['RST_STREAM on stream 0 (section 6.4)', F.ErrorCode.PROTOCOL_ERROR, () => [F.rstStream(0)]],
    ['DATA on stream 0 (section 6.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.data(0, 'x')]],
    ['DATA on an idle stream (section 5.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.data(1, 'x')]],
    ['DATA whose pad length runs past the payload (section 6.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.headers(1, post(), false), F.frame(F.FrameType.DATA, F.Flags.PADDED | F.Flags.END_STREAM, 1, Buffer.from([6, 0x61, 0x62, 0x63]))]],
    ['HEADERS whose pad length runs past the payload (section 6.2)', F.ErrorCode.PROTOCOL_ERROR, () => [F.frame(F.FrameType.HEADERS, F.Flags.PADDED | F.Flags.END_HEADERS | F.Flags.END_STREAM, 1, Buffer.concat([Buffer.from([200]), F.headerBlock(F.get('/'))]))]],
    ['CONTINUATION with no header block open (section 6.10)', F.ErrorCode.PROTOCOL_ERROR, () => [F.headers(1, F.get('/')), F.frame(F.FrameType.CONTINUATION, F.Flags.END_HEADERS, 1, F.headerBlock([['x-a', '1']]))]],
    ['CONTINUATION for another stream (section 6.10)', F.ErrorCode.PROTOCOL_ERROR, () => [F.frame(F.FrameType.HEADERS, F.Flags.END_STREAM, 1, F.headerBlock(F.get('/'))), F.frame(F.FrameType.CONTINUATION, F.Flags.END_HEADERS, 3, F.headerBlock([['x-a', '1']]))]],
    ['PUSH_PROMISE from a client (section 8.4)', F.ErrorCode.PROTOCOL_ERROR, () => [F.headers(1, post(), false), F.frame(F.FrameType.PUSH_PROMISE, F.Flags.END_HEADERS, 1, Buffer.concat([u32(2), F.headerBlock(F.get('/'))]))]],
    ['an HPACK block that does not decode (section 4.3)', F.ErrorCode.COMPRESSION_ERROR, () => [F.frame(F.FrameType.HEADERS, F.Flags.END_HEADERS | F.Flags.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]],
  ];
  for (const [name, code, frames] of connectionErrors) {
    it(`${name} -> connection error ${Object.entries(F.ErrorCode).find(([, v]) => v === code)![0]}`, async () => {
      const c = await connect();
      c.send(...frames());
      await c.expectConnectionError(code);
    });
  }

  // Stream-level rules: a stream error with this code (a connection error is allowed too, section 5.4.1).
  const streamErrors: Array<[string, number, () => Buffer[]]> = [
    ['PRIORITY with 4 bytes (section 6.3)', F.ErrorCode.FRAME_SIZE_ERROR, () => [F.headers(1, post(), false), F.frame(F.FrameType.PRIORITY, 0, 1, Buffer.alloc(4))]],
    ['trailers without END_STREAM (section 8.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.headers(1, post(), false), F.data(1, 'x', false), F.headers(1, [['x-trailer', '1']], false)]],
    ['a pseudo-header in trailers (section 8.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.headers(1, post(), false), F.data(1, 'x', false), F.headers(1, [[':method', 'POST']], true)]],
    ['HEADERS depending on its own stream (section 5.3.1)', F.ErrorCode.PROTOCOL_ERROR, () => [F.frame(F.FrameType.HEADERS, F.Flags.PRIORITY | F.Flags.END_HEADERS | F.Flags.END_STREAM, 1, Buffer.concat([u32(1), Buffer.from([15]), F.headerBlock(F.get('/'))]))]],
  ];
  for (const [name, code, frames] of streamErrors) {
    it(`${name} -> stream error ${Object.entries(F.ErrorCode).find(([, v]) => v === code)![0]}`, async () => {
      const c = await connect();
      c.send(...frames());
      await c.expectStreamError(1, code);
    });
  }

  it('content-length that the DATA does not add up to -> stream error PROTOCOL_ERROR (section 8.1.1)', async () => {
    const c = await connect();
    c.send(F.headers(1, [...post(), ['content-length', '10']], false), F.data(1, 'four', true));
    await c.expectStreamError(1, F.ErrorCode.PROTOCOL_ERROR);
  });

  // --- what node:http2 gets wrong (issue 22 point 3): lean must pass ---------

  when('data-after-rst')('DATA after the client reset the stream -> stream error STREAM_CLOSED (section 5.1, closed) [h2spec 5.1/8]', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), F.rstStream(1, F.ErrorCode.CANCEL), F.data(1, 'after reset'));
    await c.expectStreamError(1, F.ErrorCode.STREAM_CLOSED);
  });

  when('headers-after-rst')('HEADERS after the client reset the stream -> stream error STREAM_CLOSED (section 5.1, closed) [h2spec 5.1/9]', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), F.rstStream(1, F.ErrorCode.CANCEL), F.headers(1, [['x-trailer', '1']], true));
    await c.expectStreamError(1, F.ErrorCode.STREAM_CLOSED);
  });

  when('data-after-close')('DATA on a stream closed by END_STREAM both ways -> STREAM_CLOSED (section 5.1, closed) [h2spec 5.1/11]', async () => {
    const c = await connect();
    c.send(F.headers(1, F.get('/closed')));
    await c.expectResponse(1);
    c.send(F.data(1, 'after close'));
    await c.expectStreamError(1, F.ErrorCode.STREAM_CLOSED);
  });

  when('headers-after-close')('HEADERS on a stream closed by END_STREAM both ways -> STREAM_CLOSED (section 5.1, closed) [h2spec 5.1/12]', async () => {
    const c = await connect();
    c.send(F.headers(1, F.get('/closed')));
    await c.expectResponse(1);
    c.send(F.headers(1, F.get('/again')));
    await c.expectStreamError(1, F.ErrorCode.STREAM_CLOSED);
  });

  when('stream-id-decreasing')('a new stream id smaller than one already opened -> connection error PROTOCOL_ERROR (section 5.1.1) [h2spec 5.1.1/2]', async () => {
    const before = t.target.replica.requests;
    const c = await connect();
    c.send(F.headers(5, F.get('/five')), F.headers(3, F.get('/three')));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
    // Stream 3 is never served (stream 5 may be).
    expect(c.frames.some((f) => f.streamId === 3 && f.type === F.FrameType.HEADERS)).toBe(false);
    expect(t.target.replica.requests - before).toBeLessThanOrEqual(1);
  });

  when('priority-self-dependency')('PRIORITY making a stream depend on itself -> stream error PROTOCOL_ERROR (section 5.3.1) [h2spec 5.3.1/2]', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), priority(1, 1));
    await c.expectStreamError(1, F.ErrorCode.PROTOCOL_ERROR);
  });

  when('priority-stream-0')('PRIORITY on stream 0 -> connection error PROTOCOL_ERROR (section 6.3) [h2spec 6.3/1]', async () => {
    const c = await connect();
    c.send(priority(0, 1));
    await c.expectConnectionError(F.ErrorCode.PROTOCOL_ERROR);
  });

  when('ping-ack-ignored')('a PING with ACK set is ignored: no answer, no GOAWAY, the connection serves (section 6.7) [h2spec 6.7/2]', async () => {
    const c = await connect();
    await c.handshake();
    c.send(F.ping(Buffer.from('unasked!'), true));
    await c.expectAlive();
    expect(c.frames.some((f) => f.type === F.FrameType.PING && f.payload.toString() === 'unasked!')).toBe(false);
    expect(c.goaway()).toBeUndefined();
    c.send(F.headers(1, F.get('/after-ping')));
    await c.expectResponse(1);
  });

  when('stream-window-overflow')('a stream WINDOW_UPDATE past 2^31-1 -> RST_STREAM(FLOW_CONTROL_ERROR) on that stream, not GOAWAY (section 6.9.1) [h2spec 6.9.1/3]', async () => {
    const c = await connect();
    c.send(F.headers(1, post(), false), F.windowUpdate(1, 0x7fffffff), F.windowUpdate(1, 0x7fffffff));
    await c.expectRst(1, F.ErrorCode.FLOW_CONTROL_ERROR);
    // Only the stream: the connection still serves.
    c.send(F.headers(3, F.get('/after-overflow')));
    await c.expectResponse(3);
    expect(c.goaway()).toBeUndefined();
  });
});
