// A bounded fuzz of HTTP/1.1 from raw sockets against ringside running as its
// own process (compat engine) in front of a real replica: thousands of random
// and mutated requests (bit flips, truncation, duplicated headers, CR/LF
// injection, huge declared lengths, random bytes, pipelined garbage). Every
// reply must be a well-formed HTTP/1.1 response or a closed connection, the
// process must stay up with bounded memory, and a well-formed request made
// afterwards must succeed. fast-check with a fixed seed makes every run send
// the same bytes (change SEED to explore).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import net from 'node:net';
import { request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';

const SEED = 0x5eed_0008;
const CASES = 3_000;
/** Stop starting cases after this long, whatever CASES says. */
const TIME_LIMIT_MS = 18_000;
const CONCURRENCY = 32;
/** A case ends when the server closes, or this long after its last reply bytes, or after CASE_LIMIT_MS without any. */
const QUIET_MS = 60;
const CASE_LIMIT_MS = 400;

let replica: Replica;
let ringside: RingsideProcess;

beforeAll(async () => {
  replica = await startHttpReplica('r0');
  ringside = await startRingsideProcess(['--upstream', `static:${replica.key}`]);
});
afterAll(async () => {
  ringside?.kill('SIGKILL');
  await replica?.close();
});

// --- the inputs ---------------------------------------------------------------

const templates = [
  'GET / HTTP/1.1\r\nHost: ringside.test\r\n\r\n',
  'GET /path?q=1&x=%20 HTTP/1.1\r\nHost: ringside.test\r\nAccept: */*\r\nUser-Agent: fuzz\r\n\r\n',
  'POST /echo HTTP/1.1\r\nHost: ringside.test\r\nContent-Length: 5\r\n\r\nhello',
  'POST /upload HTTP/1.1\r\nHost: ringside.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'PUT /x HTTP/1.1\r\nHost: ringside.test\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'HEAD /h HTTP/1.1\r\nHost: ringside.test\r\nCookie: a=b\r\n\r\n',
  'DELETE /d HTTP/1.1\r\nHost: ringside.test\r\nConnection: close\r\n\r\n',
].map((t): Buffer => Buffer.from(t, 'latin1'));

type Mutation = (b: Buffer) => Buffer;

const splice = (b: Buffer, at: number, remove: number, insert: Buffer): Buffer => Buffer.concat([b.subarray(0, at), insert, b.subarray(Math.min(b.length, at + remove))]);
const position = fc.nat({ max: 4096 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // Bit flips.
  fc.tuple(position, fc.nat({ max: 7 })).map(([p, bit]): Mutation => (b) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[p % c.length] ^= 1 << bit;
    return c;
  }),
  // Truncation.
  position.map((p): Mutation => (b) => b.subarray(0, p % (b.length + 1))),
  // A duplicated header line.
  position.map((p): Mutation => (b) => {
    const lines = b.toString('latin1').split('\r\n');
    const i = 1 + (p % Math.max(1, lines.length - 1));
    if (i >= lines.length) return b;
    lines.splice(i, 0, lines[i]);
    return Buffer.from(lines.join('\r\n'), 'latin1');
  }),
  // CR / LF / NUL / space injection.
  fc.tuple(position, fc.constantFrom('\r\n', '\n', '\r', '\0', ' ', '\r\n\r\n', '\r\n ', ':', '\t')).map(([p, s]): Mutation => (b) => splice(b, p % (b.length + 1), 0, Buffer.from(s, 'latin1'))),
  // Header-injection lines: smuggling shapes and huge declared lengths.
  fc
    .constantFrom(
      'Content-Length: 99999999999999999999',
      'Content-Length: 4294967296',
      'Content-Length: -1',
      'Content-Length: 1, 2',
      'Transfer-Encoding: chunked',
      'Transfer-Encoding: chunked, identity',
      'Transfer-Encoding: xchunked',
      'Transfer-Encoding : chunked',
      'Host: other.test',
      'Expect: 100-continue',
      'Upgrade: h2c',
      'Connection: Upgrade, HTTP2-Settings',
      `X-Big: ${'x'.repeat(20_000)}`,
    )
    .chain((line) => position.map((p): Mutation => (b) => {
      const text = b.toString('latin1');
      const firstLineEnd = text.indexOf('\r\n');
      const at = firstLineEnd < 0 ? p % (text.length + 1) : firstLineEnd + 2;
      return splice(b, at, 0, Buffer.from(`${line}\r\n`, 'latin1'));
    })),
  // Chunk-size tricks at the end.
  fc.constantFrom('ffffffffffffffff\r\n', '0x5\r\nhello\r\n0\r\n\r\n', '5;ext="\r\n"\r\nhello\r\n', '-1\r\n', '1\r\nab\r\n').map((s): Mutation => (b) => Buffer.concat([b, Buffer.from(s, 'latin1')])),
  // Random bytes spliced in.
  fc.tuple(position, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([p, bytes]): Mutation => (b) => splice(b, p % (b.length + 1), 0, Buffer.from(bytes))),
);

const fuzzCase: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...templates), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([t, ms]) => ms.reduce<Buffer>((b, m) => m(b), t)) },
  // Pure noise.
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 512 }).map((a) => Buffer.from(a)) },
  // Pipelined: a good request, then a mutated one, then garbage.
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...templates), fc.constantFrom(...templates), mutation, fc.uint8Array({ maxLength: 64 }))
      .map(([a, b, m, junk]) => Buffer.concat([a, m(b), Buffer.from(junk)])),
  },
);

// --- checking a reply -----------------------------------------------------------

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** A complete, well-formed response head (RFC 9112 sections 4 and 5). */
const RESPONSE_HEAD = new RegExp(`^HTTP/1\\.1 [1-5][0-9]{2} [^\\r\\n]*\\r\\n(?:${TOKEN}:[ \\t]*[^\\r\\n]*\\r\\n)*\\r\\n`);

interface CaseResult {
  readonly reply: Buffer;
  readonly closedByServer: boolean;
}

function runCase(port: number, bytes: Buffer): Promise<CaseResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = true;
    let quiet: NodeJS.Timeout | null = null;
    const finish = (): void => {
      closedByServer = false;
      socket.destroy();
    };
    const limit = setTimeout(finish, CASE_LIMIT_MS);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (quiet !== null) clearTimeout(quiet);
      quiet = setTimeout(finish, QUIET_MS);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(limit);
      if (quiet !== null) clearTimeout(quiet);
      resolve({ reply: Buffer.concat(chunks), closedByServer });
    });
  });
}

/** Why a reply is not acceptable, or null: empty (closed or nothing yet), or starting with a whole, well-formed response head. */
function replyProblem({ reply }: CaseResult): string | null {
  if (reply.length === 0) return null;
  const text = reply.toString('latin1');
  const head = RESPONSE_HEAD.exec(text);
  if (head === null) return `not a well-formed response: ${JSON.stringify(text.slice(0, 120))}`;
  // A ringside-generated error always says which and closes; a forwarded 200 comes from the replica.
  const status = Number(text.slice(9, 12));
  if (status === 200 && !/\r\nx-replica: r0\r\n/i.test(head[0])) return `200 not from the replica: ${JSON.stringify(head[0])}`;
  return null;
}

describe('HTTP/1.1 fuzz from raw sockets', () => {
  it(`${CASES} random and mutated requests: well-formed replies or closes, bounded memory, still serving`, { timeout: 45_000 }, async () => {
    // Warm up, then take the memory baseline.
    for (let i = 0; i < 20; i++) await runCase(ringside.port, templates[0]);
    const baseline = ringside.rss();
    const cases = fc.sample(fuzzCase, { seed: SEED, numRuns: CASES });
    const problems: string[] = [];
    const statuses = new Map<string, number>();
    let done = 0;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length && performance.now() - started < TIME_LIMIT_MS) {
          const index = next++;
          const result = await runCase(ringside.port, cases[index]);
          done++;
          const problem = replyProblem(result);
          if (problem !== null) problems.push(`case ${index} (${JSON.stringify(cases[index].toString('latin1').slice(0, 80))}): ${problem}`);
          const key = result.reply.length === 0 ? (result.closedByServer ? 'closed, no reply' : 'no reply yet') : result.reply.toString('latin1', 9, 12);
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      }),
    );
    const elapsed = performance.now() - started;
    const rss = ringside.rss();
    const peak = ringside.peakRss();
    console.log(
      `[fuzz http1] ${done} cases in ${(elapsed / 1000).toFixed(1)} s (seed ${SEED}); replies ${JSON.stringify([...statuses].sort())}; ` +
        `ringside RSS ${(baseline / 2 ** 20).toFixed(0)} -> ${(rss / 2 ** 20).toFixed(0)} MiB (peak ${(peak / 2 ** 20).toFixed(0)} MiB); replica saw ${replica.requests} requests`,
    );

    expect(problems.slice(0, 10)).toEqual([]);
    // Bounded but substantial: most cases ran, and the fuzz reached both the error paths and the upstream.
    expect(done).toBeGreaterThanOrEqual(Math.min(CASES, 1_000));
    expect(statuses.get('400') ?? 0).toBeGreaterThan(100);
    expect(statuses.get('200') ?? 0).toBeGreaterThan(100);
    // The process is alive and its memory did not run away.
    expect(() => process.kill(ringside.pid, 0)).not.toThrow();
    expect(rss - baseline).toBeLessThan(64 * 2 ** 20);
    expect(peak - baseline).toBeLessThan(128 * 2 ** 20);

    // A well-formed request afterwards succeeds.
    const res = await request(`http://127.0.0.1:${ringside.port}/after-fuzz`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('r0 GET /after-fuzz 0');
  });

  it('ringside exits 0 on SIGTERM afterwards (nothing crashed it or wedged its shutdown)', { timeout: 30_000 }, async () => {
    ringside.kill('SIGTERM');
    expect(await ringside.exited).toBe(0);
  });
});
