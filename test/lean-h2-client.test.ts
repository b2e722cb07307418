// The lean h2c upstream client (lib/http2/) against real servers on loopback:
// node:http2, @grpc/grpc-js, and raw sockets for what well-behaved servers
// never send. Some cases drive the client directly through its dispatch
// contract; the rest go through a ringside proxy (--engine lean) so the
// listener's retries and error statuses are part of what is checked.

import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { H2Client } from '../lib/http2/h2-client.ts';
import { RECV_STREAM_WINDOW } from '../lib/http2/h2-stream.ts';
import { EchoService, grpc, type EchoClient, type EchoReply, type EchoRequest } from './support/grpc-replicas.ts';
import { ErrorCode, FrameType, frame, headerBlock, settings } from './support/h2-frames.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';
import { sleep, unusedPort, waitFor } from './support/wait.ts';
import { listenH2 } from './support/h2-listen.ts';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;

// --- helpers -------------------------------------------------------------------

interface Response {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  trailers: Record<string, string | string[]>;
}

/** A dispatch handler collecting the response; `onData` may pause the controller. */
function collect(onData?: (controller: Dispatcher.DispatchController, chunk: Buffer, total: number) => void) {
  let resolve!: (r: Response) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<Response>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const chunks: Buffer[] = [];
  let total = 0;
  const state = { status: 0, headers: {} as Record<string, string | string[]>, controller: null as Dispatcher.DispatchController | null, headSeen: false };
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(controller) {
      state.controller = controller;
    },
    onResponseStart(_c, status, headers) {
      state.headSeen = true;
      state.status = status;
      state.headers = headers as Record<string, string | string[]>;
    },
    onResponseData(c, chunk) {
      chunks.push(chunk);
      total += chunk.length;
      onData?.(c, chunk, total);
    },
    onResponseEnd(_c, trailers) {
      resolve({ status: state.status, headers: state.headers, body: Buffer.concat(chunks), trailers: trailers as Record<string, string | string[]> });
    },
    onResponseError(_c, err) {
      reject(err);
    },
  };
  return { handler, done, state };
}

function send(client: H2Client, opts: { method?: string; path?: string; headers?: string[]; body?: Readable | null }, onData?: Parameters<typeof collect>[0]) {
  const c = collect(onData);
  client.dispatch({ method: (opts.method ?? 'GET') as Dispatcher.HttpMethod, path: opts.path ?? '/', headers: opts.headers ?? ['host', 'upstream.test'], body: opts.body ?? null }, c.handler);
  return c;
}

interface H2Server {
  server: http2.Http2Server;
  port: number;
  sessions: number;
  close(): Promise<void>;
}

async function startH2(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void, settingsOpt?: http2.Settings): Promise<H2Server> {
  const server = http2.createServer(settingsOpt ? { settings: settingsOpt } : {});
  const result: H2Server = { server, port: 0, sessions: 0, close: async () => {} };
  server.on('session', (s) => {
    result.sessions++;
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  const listening = await listenH2(server);
  result.port = listening.port;
  result.close = listening.close;
  return result;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const clients: H2Client[] = [];
const servers: { close(): Promise<void> }[] = [];

function newClient(port: number): H2Client {
  const client = new H2Client('127.0.0.1', port, { connectTimeoutMs: 2000, idleTimeoutMs: 5000 });
  clients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

// --- the client on its own ---------------------------------------------------------

describe('lean h2c client', () => {
  it('sends the request head as HTTP/2 (host -> :authority, lower-case names, no connection fields) and reads head, body, trailers', async () => {
    let seen: http2.IncomingHttpHeaders | null = null;
    const s = await startH2((stream, headers) => {
      seen = headers;
      stream.respond({ ':status': 201, 'x-a': 'b', 'set-cookie': ['a=1', 'b=2'] }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('hello');
    });
    servers.push(s);
    const client = newClient(s.port);
    const r = await send(client, { path: '/p?q=1', headers: ['Host', 'svc.test:81', 'X-Mixed', 'V', 'Connection', 'x-mixed', 'Keep-Alive', '5', 'TE', 'trailers'] }).done;
    expect(seen![':method']).toBe('GET');
    expect(seen![':path']).toBe('/p?q=1');
    expect(seen![':authority']).toBe('svc.test:81');
    expect(seen![':scheme']).toBe('http');
    expect(seen!['x-mixed']).toBe('V');
    expect(seen!.te).toBe('trailers');
    expect(seen!.connection).toBeUndefined();
    expect(seen!['keep-alive']).toBeUndefined();
    expect(r.status).toBe(201);
    expect(r.headers['x-a']).toBe('b');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.body.toString()).toBe('hello');
    expect(r.trailers).toEqual({ 'x-checksum': 'abc' });
  });

  it('header blocks larger than one frame go out and come back as HEADERS + CONTINUATION', async () => {
    const big = 'v'.repeat(40_000);
    let seen = '';
    const s = await startH2((stream, headers) => {
      seen = String(headers['x-big']);
      stream.respond({ ':status': 200, 'x-big-reply': big.toUpperCase() });
      stream.end('ok');
    });
    servers.push(s);
    const client = newClient(s.port);
    const r = await send(client, { headers: ['host', 'svc', 'x-big', big] }).done;
    expect(seen).toBe(big);
    expect(r.headers['x-big-reply']).toBe(big.toUpperCase());
    expect(r.body.toString()).toBe('ok');
  });

  it('padded HEADERS and DATA frames (a server padding to the maximum) are read correctly', async () => {
    const server = http2.createServer({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
    const body = randomBytes(200_000);
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'x-a': 'b' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-t': '1' }));
      stream.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const client = newClient((server.address() as AddressInfo).port);
    const r = await send(client, {}).done;
    expect(r.headers['x-a']).toBe('b');
    expect(sha(r.body)).toBe(sha(body));
    expect(r.trailers).toEqual({ 'x-t': '1' });
    await client.close();
  });

  it('a connection refused fails with ECONNREFUSED (the listener treats it as never sent)', async () => {
    const client = newClient(await unusedPort());
    const err = await send(client, {}).done.catch((e) => e);
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('a slow consumer stops the upstream after one stream window; resuming delivers every byte intact', async () => {
    const body = randomBytes(12 << 20);
    let serverFinished = false;
    const s = await startH2((stream) => {
      stream.respond({ ':status': 200 });
      stream.end(body, () => (serverFinished = true));
    });
    servers.push(s);
    const client = newClient(s.port);
    let paused: Dispatcher.DispatchController | null = null;
    const c = send(client, {}, (controller) => {
      if (paused === null) {
        paused = controller;
        controller.pause();
      }
    });
    await waitFor(() => paused !== null);
    await sleep(500);
    // Paused: what arrived is bounded by the window we granted (plus one frame in flight).
    const received = (paused! as unknown as { received: number }).received;
    expect(received).toBeLessThanOrEqual(RECV_STREAM_WINDOW + 16_384);
    expect(serverFinished).toBe(false);
    paused!.resume();
    const r = await c.done;
    expect(r.body.length).toBe(body.length);
    expect(sha(r.body)).toBe(sha(body));
  });

  it('a request body larger than the peer windows is sent whole, with backpressure', async () => {
    const body = randomBytes(5 << 20);
    const s = await startH2((stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(sha(Buffer.concat(chunks)));
      });
    });
    servers.push(s);
    const client = newClient(s.port);
    const parts = Array.from({ length: 80 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    const r = await send(client, { method: 'POST', body: Readable.from(parts) }).done;
    expect(r.body.toString()).toBe(sha(body));
  });

  it('REFUSED_STREAM: a request with a body fails as unprocessed; a bodiless one is sent again by the client', async () => {
    let refuse = 2;
    const s = await startH2((stream) => {
      if (refuse-- > 0) {
        stream.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    servers.push(s);
    const client = newClient(s.port);
    const err = await send(client, { method: 'POST', body: Readable.from([Buffer.from('x')]) }).done.catch((e) => e);
    expect(err.unprocessed).toBe(true);
    expect(err.http2ErrorCode).toBe(NGHTTP2_REFUSED_STREAM);
    const r = await send(client, {}).done; // refused once, then served
    expect(r.body.toString()).toBe('ok');
  });

  it('GOAWAY: streams above last-stream-id fail as unprocessed, the one below finishes, new requests use a new connection', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const s = await startH2((stream) => {
      held.push(stream);
    });
    servers.push(s);
    const client = newClient(s.port);
    const first = send(client, {});
    const body = () => Readable.from([Buffer.from('b')]);
    const second = send(client, { method: 'POST', body: body() });
    const third = send(client, { method: 'POST', body: body() });
    await waitFor(() => held.length === 3);
    const firstId = Math.min(...held.map((h) => h.id!));
    held[0].session!.goaway(http2.constants.NGHTTP2_NO_ERROR, firstId);
    const errs = await Promise.all([second.done.catch((e) => e), third.done.catch((e) => e)]);
    for (const e of errs) {
      expect(e.unprocessed).toBe(true);
      expect(e.message).toContain('GOAWAY');
    }
    held.find((h) => h.id === firstId)!.respond({ ':status': 200 }, { endStream: true });
    expect((await first.done).status).toBe(200);
    held.length = 0;
    const later = send(client, {});
    await waitFor(() => held.length === 1);
    held[0].respond({ ':status': 202 }, { endStream: true });
    expect((await later.done).status).toBe(202);
    expect(s.sessions).toBe(2);
  });

  it("the peer's MAX_CONCURRENT_STREAMS=1 is respected: streams queue or take another connection, and all succeed", async () => {
    let active = 0;
    let maxActivePerSession = 0;
    const perSession = new Map<http2.ServerHttp2Session, number>();
    const s = await startH2(
      (stream, _h, session) => {
        active++;
        const n = (perSession.get(session) ?? 0) + 1;
        perSession.set(session, n);
        maxActivePerSession = Math.max(maxActivePerSession, n);
        setTimeout(() => {
          active--;
          perSession.set(session, perSession.get(session)! - 1);
          stream.respond({ ':status': 200 });
          stream.end(String(stream.id));
        }, 30);
      },
      { maxConcurrentStreams: 1 },
    );
    servers.push(s);
    const client = newClient(s.port);
    // Learn the limit on a first request (before it, a client may only assume one).
    await send(client, {}).done;
    const all = await Promise.all(Array.from({ length: 12 }, () => send(client, {}).done));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(maxActivePerSession).toBe(1);
    expect(active).toBe(0);
  });

  it('before the peer says its limit, extra streams refused by it are sent again, not failed', async () => {
    const s = await startH2(
      (stream) => {
        setTimeout(() => {
          stream.respond({ ':status': 200 });
          stream.end();
        }, 10);
      },
      { maxConcurrentStreams: 2 },
    );
    servers.push(s);
    const client = newClient(s.port);
    const all = await Promise.all(Array.from({ length: 6 }, () => send(client, {}).done));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('abort sends RST_STREAM(CANCEL) and fails the handler with the reason', async () => {
    let rst = -1;
    const s = await startH2((stream) => {
      stream.respond({ ':status': 200 });
      stream.write('x');
      stream.on('close', () => (rst = stream.rstCode ?? -1));
    });
    servers.push(s);
    const client = newClient(s.port);
    const c = send(client, {}, (controller) => controller.abort(new Error('enough')));
    const err = await c.done.catch((e) => e);
    expect(err.message).toBe('enough');
    await waitFor(() => rst !== -1);
    expect(rst).toBe(NGHTTP2_CANCEL);
  });

  it('idle connections close after idleTimeoutMs and the next request reconnects', async () => {
    const s = await startH2((stream) => stream.respond({ ':status': 204 }, { endStream: true }));
    servers.push(s);
    const client = new H2Client('127.0.0.1', s.port, { connectTimeoutMs: 1000, idleTimeoutMs: 300 });
    clients.push(client);
    await send(client, {}).done;
    expect(client.size).toBe(1);
    await waitFor(() => client.size === 0, 3000, 'idle close');
    expect((await send(client, {}).done).status).toBe(204);
    expect(s.sessions).toBe(2);
  });
});

// --- protocol errors from a raw fake server --------------------------------------

interface RawServerOptions {
  /** The server's SETTINGS (sent first). */
  readonly settings?: Array<[number, number]>;
  /** Acknowledge the client's SETTINGS (default true); false plays a peer that never does. */
  readonly ackSettings?: boolean;
  /** Answer the client's PINGs (default true); false plays a peer that went silent. */
  readonly answerPings?: boolean;
}

interface RawServer {
  port: number;
  goaway: () => number;
  /** Every frame the server read from the client, in order. */
  frames: Array<{ type: number; flags: number; streamId: number; payload: Buffer }>;
  close(): Promise<void>;
}

/** A fake h2 server: reads the preface, sends its SETTINGS (and acks the client's), then `onHeaders` writes whatever it likes. */
async function startRawServer(onHeaders: (socket: net.Socket, streamId: number) => void, options: RawServerOptions = {}): Promise<RawServer> {
  let goawayCode = -1;
  const sockets = new Set<net.Socket>();
  const frames: RawServer['frames'] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.write(settings(options.settings ?? []));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3];
        const flags = buf[4];
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = Buffer.from(buf.subarray(9, 9 + len));
        frames.push({ type, flags, streamId: id, payload });
        if (type === FrameType.GOAWAY) goawayCode = payload.readUInt32BE(4);
        if (type === FrameType.SETTINGS && (flags & 1) === 0 && options.ackSettings !== false) socket.write(settings([], true));
        if (type === FrameType.PING && (flags & 1) === 0 && options.answerPings !== false) socket.write(frame(FrameType.PING, 1, 0, payload));
        if (type === FrameType.HEADERS) onHeaders(socket, id);
        buf = buf.subarray(9 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    goaway: () => goawayCode,
    frames,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('lean h2c client: protocol errors from the upstream', () => {
  it('DATA on stream 0 -> GOAWAY(PROTOCOL_ERROR) and a clear error for the stream', async () => {
    const raw = await startRawServer((socket) => socket.write(frame(FrameType.DATA, 0, 0, Buffer.from('zz'))));
    servers.push(raw);
    const client = newClient(raw.port);
    const err = await send(client, {}).done.catch((e) => e);
    expect(err.code).toBe('RS_H2_PROTOCOL_ERROR');
    expect(err.message).toMatch(/HTTP\/2 protocol error from upstream .*DATA on stream 0/);
    await waitFor(() => raw.goaway() !== -1);
    expect(raw.goaway()).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(client.size).toBe(0);
  });

  it('a frame larger than our SETTINGS_MAX_FRAME_SIZE -> FRAME_SIZE_ERROR', async () => {
    const raw = await startRawServer((socket, id) => socket.write(frame(FrameType.DATA, 0, id, Buffer.alloc(20_000))));
    servers.push(raw);
    const err = await send(newClient(raw.port), {}).done.catch((e) => e);
    expect(err.message).toContain('FRAME_SIZE_ERROR');
    await waitFor(() => raw.goaway() === ErrorCode.FRAME_SIZE_ERROR);
  });

  it('RST_STREAM mid-response fails the stream with the upstream reset error; the connection stays', async () => {
    // (node:http2's stream.close(code) ends the stream cleanly before resetting it, so a raw server does this.)
    const raw = await startRawServer((socket, id) => {
      socket.write(Buffer.concat([frame(FrameType.HEADERS, 0x4, id, Buffer.from([0x88])), frame(FrameType.DATA, 0, id, Buffer.from('partial'))]));
      setTimeout(() => socket.write(frame(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, ErrorCode.INTERNAL_ERROR]))), 20);
    });
    servers.push(raw);
    const client = newClient(raw.port);
    for (let i = 0; i < 2; i++) {
      const c = send(client, {});
      const err = await c.done.catch((e) => e);
      expect(c.state.headSeen).toBe(true);
      expect(err.code).toBe('RS_H2_STREAM_RESET');
      expect(err.http2ErrorCode).toBe(ErrorCode.INTERNAL_ERROR);
      expect(err.unprocessed).toBe(false);
    }
    expect(client.size).toBe(1);
    expect(raw.goaway()).toBe(-1);
  });

  it('a response header list over our SETTINGS_MAX_HEADER_LIST_SIZE fails only its stream; the next stream on the connection succeeds', async () => {
    let calls = 0;
    const raw = await startRawServer((socket, id) => {
      if (calls++ > 0) {
        socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, id, Buffer.from([0x88]))); // :status 200, END_HEADERS | END_STREAM
        return;
      }
      // About 70 KiB of fields (over the 64 KiB limit), in HEADERS + CONTINUATION frames of at most 16 KiB.
      const fields: Array<[string, string]> = [[':status', '200']];
      for (let i = 0; i < 5; i++) fields.push([`x-big-${i}`, 'a'.repeat(14_000)]);
      const block = headerBlock(fields);
      const frames: Buffer[] = [];
      for (let o = 0; o < block.length; o += 16_000) {
        const last = o + 16_000 >= block.length;
        const part = block.subarray(o, Math.min(block.length, o + 16_000));
        frames.push(o === 0 ? frame(FrameType.HEADERS, 0x1 | (last ? 0x4 : 0), id, part) : frame(FrameType.CONTINUATION, last ? 0x4 : 0, id, part));
      }
      socket.write(Buffer.concat(frames));
    });
    servers.push(raw);
    const client = newClient(raw.port);
    const err = await send(client, {}).done.catch((e) => e);
    expect(err.message).toContain('malformed response');
    expect(err.message).toMatch(/header list/i);
    const ok = send(client, {});
    await ok.done;
    expect(ok.state.status).toBe(200);
    expect(client.size).toBe(1);
    expect(raw.goaway()).toBe(-1);
  });

  it('a response without :status is malformed: the stream is reset, the connection stays', async () => {
    const raw = await startRawServer((socket, id) => {
      // HEADERS with one literal field "x-a: b" (no :status), END_HEADERS | END_STREAM.
      const block = Buffer.from([0x00, 3, ...Buffer.from('x-a'), 1, ...Buffer.from('b')]);
      socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, id, block));
    });
    servers.push(raw);
    const client = newClient(raw.port);
    const err = await send(client, {}).done.catch((e) => e);
    expect(err.message).toContain('malformed response');
    expect(client.size).toBe(1);
  });
});

// --- through the proxy ---------------------------------------------------------

describe('lean h2c client: dead peers and peer limits', () => {
  const PING_ACK_TIMEOUT = 600;
  function keepaliveClient(port: number, keepaliveIntervalMs: number): H2Client {
    const client = new H2Client('127.0.0.1', port, { connectTimeoutMs: 2000, idleTimeoutMs: 5000, keepaliveIntervalMs, pingTimeoutMs: PING_ACK_TIMEOUT });
    clients.push(client);
    return client;
  }
  const pings = (raw: RawServer) => raw.frames.filter((f) => f.type === FrameType.PING && (f.flags & 1) === 0);

  it('a peer that stops answering (no PING ack) is taken for dead: the open stream fails instead of hanging, with GOAWAY sent', async () => {
    // The server takes the request and then goes silent: no response, no PING ack, the socket stays open.
    const raw = await startRawServer(() => {}, { answerPings: false });
    servers.push(raw);
    const client = keepaliveClient(raw.port, 300);
    const started = Date.now();
    const err = await send(client, {}).done.catch((e) => e);
    const took = Date.now() - started;
    expect(err.code).toBe('RS_H2_CONNECTION_CLOSED');
    expect(err.message).toMatch(/did not answer a PING within 600 ms/);
    // About interval + timeout (+ up to two 250 ms wheel ticks), far below any test timeout.
    expect(took).toBeGreaterThanOrEqual(300 + PING_ACK_TIMEOUT - 50);
    expect(took).toBeLessThan(4000);
    expect(pings(raw)).toHaveLength(1);
    expect(pings(raw)[0].payload.length).toBe(8);
    await waitFor(() => raw.goaway() !== -1);
    expect(client.size).toBe(0);
  });

  it('a slow response on a live peer survives: PINGs are answered, the stream completes', async () => {
    const raw = await startRawServer((socket, id) => {
      setTimeout(() => socket.write(frame(FrameType.HEADERS, 0x4 | 0x1, id, Buffer.from([0x88]))), 1800);
    });
    servers.push(raw);
    const client = keepaliveClient(raw.port, 300);
    const r = await send(client, {}).done;
    expect(r.status).toBe(200);
    // Several quiet intervals passed: at least two PINGs, each answered before the next was sent.
    expect(pings(raw).length).toBeGreaterThanOrEqual(2);
    expect(raw.goaway()).toBe(-1);
    expect(client.size).toBe(1);
  });

  it('no PINGs while the peer keeps sending, and none with keepalive off (the default)', async () => {
    const raw = await startRawServer((socket, id) => {
      socket.write(frame(FrameType.HEADERS, 0x4, id, Buffer.from([0x88])));
      let n = 0;
      const t = setInterval(() => {
        socket.write(frame(FrameType.DATA, ++n === 12 ? 1 : 0, id, Buffer.from('tick')));
        if (n === 12) clearInterval(t);
      }, 100);
    });
    servers.push(raw);
    const busy = await send(keepaliveClient(raw.port, 300), {}).done;
    expect(busy.body.toString()).toBe('tick'.repeat(12));
    expect(pings(raw)).toHaveLength(0);

    const quiet = await startRawServer((socket, id) => setTimeout(() => socket.write(frame(FrameType.HEADERS, 0x5, id, Buffer.from([0x88]))), 1200));
    servers.push(quiet);
    const off = await send(newClient(quiet.port), {}).done;
    expect(off.status).toBe(200);
    expect(pings(quiet)).toHaveLength(0);
  });

  it('a peer that never acknowledges our SETTINGS gets GOAWAY(SETTINGS_TIMEOUT); its streams fail with a clear error', async () => {
    const raw = await startRawServer(() => {}, { ackSettings: false });
    servers.push(raw);
    const client = keepaliveClient(raw.port, 0);
    const err = await send(client, {}).done.catch((e) => e);
    expect(err.code).toBe('RS_H2_PROTOCOL_ERROR');
    expect(err.message).toMatch(/no SETTINGS acknowledgement within 600 ms \(SETTINGS_TIMEOUT/);
    await waitFor(() => raw.goaway() !== -1);
    expect(raw.goaway()).toBe(ErrorCode.SETTINGS_TIMEOUT);
  });

  it("a request head over the peer's SETTINGS_MAX_HEADER_LIST_SIZE is not sent and fails at once; smaller ones go on", async () => {
    const raw = await startRawServer((socket, id) => socket.write(frame(FrameType.HEADERS, 0x5, id, Buffer.from([0x88]))), { settings: [[0x6, 300]] });
    servers.push(raw);
    const client = newClient(raw.port);
    const small = await send(client, {}).done; // by its end the server's SETTINGS have arrived
    expect(small.status).toBe(200);
    const err = await send(client, { headers: ['host', 'upstream.test', 'x-big', 'v'.repeat(300)] }).done.catch((e) => e);
    expect(err.code).toBe('RS_H2_REQUEST_HEADERS_TOO_LARGE');
    expect(err.message).toMatch(/request head of \d+ bytes exceeds the SETTINGS_MAX_HEADER_LIST_SIZE of 300/);
    // Exactly at the limit (names + values + 32 bytes per field, RFC 9113 section 6.5.2) still goes.
    const fits = await send(client, { headers: ['host', 'u', 'x-pad', 'v'.repeat(300 - 5 * 32 - (7 + 3 + 7 + 4 + 5 + 1 + 10 + 1 + 5))] }).done;
    expect(fits.status).toBe(200);
    expect(raw.frames.filter((f) => f.type === FrameType.HEADERS)).toHaveLength(2);
    expect(client.size).toBe(1);
  });
});

describe('lean h2c client behind the proxy', () => {
  let proxy: TestProxy | null = null;
  afterEach(async () => {
    await proxy?.stop();
    proxy = null;
  });

  async function h2Proxy(ports: number[], engine: 'lean' | 'compat' = 'lean'): Promise<TestProxy> {
    proxy = await startProxy({ endpoints: ports.map((p) => `127.0.0.1:${p}`), engine, upstream: { protocol: 'h2c' } });
    return proxy;
  }

  function h2Request(url: string, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; grpcStatus: string | undefined; body: Buffer; error: Error | null; rstCode: number }> {
    return new Promise((resolve) => {
      const session = http2.connect(url);
      session.on('error', () => {});
      const req = session.request(headers, { endStream: body === undefined });
      const chunks: Buffer[] = [];
      let status = 0;
      let grpcStatus: string | undefined;
      let error: Error | null = null;
      req.on('response', (h) => {
        status = Number(h[':status']);
        grpcStatus = h['grpc-status'] as string | undefined;
      });
      req.on('trailers', (t) => (grpcStatus = (t['grpc-status'] as string | undefined) ?? grpcStatus));
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('error', (e) => (error = e));
      req.on('close', () => {
        session.close();
        resolve({ status, grpcStatus, body: Buffer.concat(chunks), error, rstCode: req.rstCode ?? 0 });
      });
      if (body !== undefined) req.end(body);
    });
  }

  it('uploads and downloads several MiB intact both ways', async () => {
    const s = await startH2((stream, headers) => {
      if (headers[':path'] === '/echo') {
        stream.respond({ ':status': 200 });
        stream.pipe(stream);
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(9 << 20, 7));
    });
    servers.push(s);
    const p = await h2Proxy([s.port]);
    const up = randomBytes(6 << 20);
    const echo = await h2Request(p.url, { ':method': 'POST', ':path': '/echo' }, up);
    expect(echo.status).toBe(200);
    expect(sha(echo.body)).toBe(sha(up));
    const down = await h2Request(p.url, { ':path': '/big' });
    expect(down.body.length).toBe(9 << 20);
    expect(sha(down.body)).toBe(sha(Buffer.alloc(9 << 20, 7)));
  });

  // compat too: its node:http2 client marks a refused stream unprocessed, the one mark the Exchange core reads.
  it.each(['lean', 'compat'] as const)('REFUSED_STREAM is retried on another endpoint, even for POST (%s)', async (engine) => {
    let refused = 0;
    const a = await startH2((stream) => {
      refused++;
      stream.close(NGHTTP2_REFUSED_STREAM);
    });
    const b = await startH2((stream) => {
      stream.on('data', () => {});
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end('b');
      });
    });
    servers.push(a, b);
    const p = await h2Proxy([a.port, b.port], engine);
    const results = await Promise.all(Array.from({ length: 12 }, () => h2Request(p.url, { ':method': 'POST', ':path': '/' }, Buffer.from('payload'))));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(refused).toBeGreaterThan(0);
  });

  it('an upstream that dies mid-response ends the client stream with an error, never a clean truncated end', async () => {
    const s = await startH2((stream) => {
      stream.respond({ ':status': 200 });
      stream.write(Buffer.alloc(1000));
      setTimeout(() => stream.session!.socket.destroy(), 50);
    });
    servers.push(s);
    const p = await h2Proxy([s.port]);
    const r = await h2Request(p.url, { ':path': '/' });
    expect(r.status).toBe(200);
    expect(r.rstCode !== 0 || r.error !== null).toBe(true);
  });

  it("a head over the upstream's SETTINGS_MAX_HEADER_LIST_SIZE answers 431 (gRPC RESOURCE_EXHAUSTED), without retries or ejection", async () => {
    let streams = 0;
    const reply = (stream: http2.ServerHttp2Stream) => {
      streams++;
      stream.respond({ ':status': 200 });
      stream.end('ok');
    };
    // node:http2 advertises maxHeaderListSize as SETTINGS_MAX_HEADER_LIST_SIZE.
    const a = await startH2(reply, { maxHeaderListSize: 2000 });
    const b = await startH2(reply, { maxHeaderListSize: 2000 });
    servers.push(a, b);
    // Round robin, so the warm-up requests open both connections and learn both limits.
    proxy = await startProxy({ endpoints: [a.port, b.port].map((port) => `127.0.0.1:${port}`), engine: 'lean', upstream: { protocol: 'h2c', lb: 'round_robin' } });
    const p = proxy;
    for (let i = 0; i < 4; i++) expect((await h2Request(p.url, { ':path': '/' })).status).toBe(200);
    const before = streams;
    // More oversized requests than the ejection threshold (5): none counts against an endpoint.
    for (let i = 0; i < 7; i++) {
      const r = await h2Request(p.url, { ':path': '/', 'x-big': 'v'.repeat(3000) });
      expect(r.status).toBe(431);
      expect(r.body.toString()).toMatch(/request head too large for upstream .*SETTINGS_MAX_HEADER_LIST_SIZE of 2000/);
    }
    const grpcLike = await h2Request(p.url, { ':method': 'POST', ':path': '/echo.Echo/Say', 'content-type': 'application/grpc', 'x-big': 'v'.repeat(3000) }, Buffer.alloc(5));
    expect(grpcLike.status).toBe(200);
    expect(grpcLike.grpcStatus).toBe('8'); // RESOURCE_EXHAUSTED
    expect(streams).toBe(before); // never sent, never retried elsewhere
    const endpoints = [...p.app.upstreams.get('default')!.endpoints.values()];
    expect(endpoints.map((e) => e.state)).toEqual(['active', 'active']);
    expect((await h2Request(p.url, { ':path': '/' })).status).toBe(200);
    const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/ringside_proxy_errors_total\{[^}]*reason="bad_request"[^}]*\} 8/);
  });

  it('an upstream connection refused answers 502 with the connect error', async () => {
    const p = await h2Proxy([await unusedPort()]);
    const r = await h2Request(p.url, { ':path': '/' });
    expect(r.status).toBe(502);
  });

  it('a client cancel reaches the upstream as RST_STREAM(CANCEL)', async () => {
    let rst = -1;
    let started = false;
    const s = await startH2((stream) => {
      started = true;
      stream.respond({ ':status': 200 });
      stream.write('first');
      stream.on('close', () => (rst = stream.rstCode ?? -1));
    });
    servers.push(s);
    const p = await h2Proxy([s.port]);
    const session = http2.connect(p.url);
    session.on('error', () => {});
    const req = session.request({ ':path': '/' });
    req.on('error', () => {});
    await new Promise<void>((r) => req.once('data', () => r()));
    expect(started).toBe(true);
    req.close(NGHTTP2_CANCEL);
    await waitFor(() => rst !== -1);
    expect(rst).toBe(NGHTTP2_CANCEL);
    session.close();
  });
});

// --- gRPC through the proxy --------------------------------------------------------

describe('gRPC over the lean h2c client', () => {
  let server: grpc.Server;
  let proxy: TestProxy;
  let client: EchoClient;

  beforeAll(async () => {
    server = new grpc.Server();
    const trailer = (_call: unknown, n: number): grpc.Metadata => {
      const md = new grpc.Metadata();
      md.set('x-count', String(n));
      return md;
    };
    server.addService(EchoService.service, {
      Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
        cb(null, { message: call.request.message ?? '', replica: 'g', index: 0 }, trailer(call, 1));
      },
      ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
        const n = call.request.count ?? 0;
        for (let i = 0; i < n; i++) call.write({ message: call.request.message ?? '', replica: 'g', index: i });
        call.end(trailer(call, n));
      },
      ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
        let n = 0;
        let text = '';
        call.on('data', (r: EchoRequest) => {
          n++;
          text += r.message;
        });
        call.on('end', () => cb(null, { message: text, replica: 'g', index: n }, trailer(call, n)));
      },
      Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
        let n = 0;
        call.on('data', (r: EchoRequest) => call.write({ message: r.message ?? '', replica: 'g', index: n++ }));
        call.on('end', () => call.end(trailer(call, n)));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    proxy = await startProxy({ endpoints: [`127.0.0.1:${port}`], engine: 'lean', upstream: { protocol: 'h2c' } });
    client = new EchoService(proxy.address, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });

  afterAll(async () => {
    client.close();
    await proxy.stop();
    server.forceShutdown();
  });

  function statusOf(call: { on(e: 'status', f: (s: grpc.StatusObject) => void): unknown }): Promise<grpc.StatusObject> {
    return new Promise((resolve) => call.on('status', resolve));
  }

  it('unary: reply and trailing metadata', async () => {
    const md = new grpc.Metadata();
    let status!: Promise<grpc.StatusObject>;
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.Unary({ message: 'hi' }, md, {}, (err, r) => (err ? reject(err) : resolve(r)));
      status = statusOf(call);
    });
    expect(reply.message).toBe('hi');
    const s = await status;
    expect(s.code).toBe(grpc.status.OK);
    expect(s.metadata.get('x-count')).toEqual(['1']);
  });

  it('server streaming: 500 messages in order, then trailers', async () => {
    const call = client.ServerStream({ message: 'm', count: 500 });
    const got: number[] = [];
    call.on('data', (r: EchoReply) => got.push(r.index));
    const s = await statusOf(call);
    expect(s.code).toBe(grpc.status.OK);
    expect(s.metadata.get('x-count')).toEqual(['500']);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('client streaming: 300 messages of 8 KiB (past the default windows), then trailers', async () => {
    const piece = 'x'.repeat(8192);
    let status!: Promise<grpc.StatusObject>;
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.ClientStream(new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : resolve(r)));
      status = statusOf(call);
      for (let i = 0; i < 300; i++) call.write({ message: piece });
      call.end();
    });
    expect(reply.index).toBe(300);
    expect(reply.message.length).toBe(300 * 8192);
    expect((await status).metadata.get('x-count')).toEqual(['300']);
  });

  it('bidi streaming: ping-pong of 50 messages, then trailers', async () => {
    const call = client.Bidi();
    const replies: string[] = [];
    const status = statusOf(call);
    await new Promise<void>((resolve, reject) => {
      call.on('data', (r: EchoReply) => {
        replies.push(r.message);
        if (replies.length < 50) call.write({ message: `m${replies.length}` });
        else call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
      call.write({ message: 'm0' });
    });
    expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect((await status).metadata.get('x-count')).toEqual(['50']);
  });
});
