// An HTTP/2 client that breaks the protocol on a stream whose request is being
// forwarded to an h2c upstream may lose its stream or its connection, never
// the process (issue 18 part 5). h2spec's cases 4.2/2, 6.1/3, 6.9/2, 6.9.1/3,
// 7/2, 8.1.2.1/3 and 8.1.2.6/1 (https://github.com/summerwind/h2spec) sent
// --engine compat, when its h2c client was undici's H2CClient, into a native
// loop (Http2Session::SendPendingData, 100% CPU, RSS +1 GB/s until
// std::bad_alloc) within a few tries. Here the same frame sequences are
// replayed from a raw socket, round after round (bounded), against ringside
// as a child process on both engines, with a watchdog that kills it past an
// RSS cap; afterwards it must be alive, under the cap, and serving.

import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import * as F from './support/h2-frames.ts';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';

const ROUNDS = 12;
/** Over the baseline: a runaway passed this within a second; a healthy process stays tens of MB under it. */
const RSS_CAP_BYTES = 250 * 1024 * 1024;

/** A POST whose body is still coming: the request is being forwarded upstream when the client breaks a rule. */
const post = (extra: Array<[string, string]> = []): Buffer =>
  F.headers(1, [[':method', 'POST'], [':scheme', 'http'], [':path', '/upload'], [':authority', 'ringside.test'], ...extra], false);

function paddedData(streamId: number, body: string, padLength: number): Buffer {
  return F.frame(F.FrameType.DATA, F.Flags.PADDED | F.Flags.END_STREAM, streamId, Buffer.concat([Buffer.from([padLength]), Buffer.from(body)]));
}

/** h2spec's sequences, by case: what each sends after the connection preface and SETTINGS. */
const CASES: ReadonlyArray<readonly [string, () => Buffer[]]> = [
  // DATA larger than SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 4.2): FRAME_SIZE_ERROR.
  ['4.2/2 DATA over the max frame size', () => [post(), F.frame(F.FrameType.DATA, F.Flags.END_STREAM, 1, Buffer.alloc(16_385))]],
  // Pad length not less than the payload (section 6.1): PROTOCOL_ERROR.
  ['6.1/3 DATA with an invalid pad length', () => [post(), paddedData(1, 'test', 6)]],
  // WINDOW_UPDATE of 0 on a stream (section 6.9): stream error PROTOCOL_ERROR.
  ['6.9/2 WINDOW_UPDATE of 0 on a stream', () => [post(), F.windowUpdate(1, 0)]],
  // A stream window past 2^31-1 (section 6.9.1): stream error FLOW_CONTROL_ERROR.
  ['6.9.1/3 stream window overflow', () => [post(), F.windowUpdate(1, 0x7fffffff), F.windowUpdate(1, 0x7fffffff)]],
  // RST_STREAM with an unknown error code (section 7): the stream is reset, nothing else.
  ['7/2 RST_STREAM with an unknown code', () => [post(), F.rstStream(1, 0xff)]],
  // A pseudo-header field in trailers (section 8.1): PROTOCOL_ERROR.
  ['8.1.2.1/3 pseudo-header in trailers', () => [post(), F.data(1, 'test', false), F.headers(1, [[':method', 'POST']], true)]],
  // content-length that the DATA does not match (section 8.1.1): PROTOCOL_ERROR.
  ['8.1.2.6/1 content-length mismatch', () => [post([['content-length', '1']]), F.data(1, 'test', true)]],
];

let replica: Replica | null = null;
let ringside: RingsideProcess | null = null;

afterEach(async () => {
  ringside?.kill('SIGKILL');
  await replica?.close();
  ringside = null;
  replica = null;
});

/** A GET over a fresh HTTP/2 connection: the status, or the error. */
function get(port: number): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', (err) => resolve(`error ${err.message}`));
    const req = session.request({ ':path': '/after' });
    let body = '';
    const timer = setTimeout(() => resolve('timeout'), 5_000);
    req.on('response', (h) => (body += `${h[':status']} `));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('close', () => {
      clearTimeout(timer);
      session.close();
      resolve(body);
    });
    req.on('error', () => {});
    req.end();
  });
}

describe.each<Engine>(['compat', 'lean'])('h2spec stream errors while a request is forwarded to an h2c upstream (--engine %s)', (engine) => {
  it(`${ROUNDS} rounds of ${CASES.length} cases: the process stays alive, under its RSS cap, and serving`, async () => {
    replica = await startHttpReplica('r0', { h2c: true });
    const rs = await startRingsideProcess(['--upstream', `static:${replica.key}`, '--upstream-protocol', 'h2c', '--engine', engine]);
    ringside = rs;
    expect(await get(rs.port)).toBe('200 r0 GET /after 0');
    const cap = rs.rss() + RSS_CAP_BYTES;
    // The watchdog: a runaway grows ~1 GB/s, so the cap is passed within a poll or two.
    let overCap = 0;
    const watchdog = setInterval(() => {
      const rss = rs.rss();
      if (rss > cap && overCap === 0) {
        overCap = rss;
        rs.kill('SIGKILL');
      }
    }, 25);
    let exited: number | string | null = null;
    void rs.exited.then((code) => (exited = code));
    const unanswered: string[] = [];
    try {
      for (let round = 0; round < ROUNDS && overCap === 0 && exited === null; round++) {
        for (const [name, frames] of CASES) {
          const conn = await F.connectRawH2(rs.port);
          conn.write(frames());
          // As h2spec does: a PING after the sequence tells whether the connection is still up.
          conn.write(F.ping(Buffer.from('ringside')));
          const answered = await conn.waitFor(
            (f) => f.type === F.FrameType.GOAWAY || f.type === F.FrameType.RST_STREAM || (f.type === F.FrameType.PING && (f.flags & F.Flags.ACK) !== 0),
            2_000,
          );
          if (!answered && !conn.isClosed()) unanswered.push(`${name} (round ${round})`);
          conn.destroy();
          if (overCap !== 0 || exited !== null) break;
        }
      }
      // Let anything still queued upstream play out, then look again.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      clearInterval(watchdog);
    }
    expect({ overCapMiB: Math.round(overCap / 2 ** 20), exited }).toEqual({ overCapMiB: 0, exited: null });
    expect(rs.rss()).toBeLessThan(cap);
    expect(unanswered).toEqual([]);
    expect(await get(rs.port)).toBe('200 r0 GET /after 0');
  }, 90_000);
});
