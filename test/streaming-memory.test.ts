// 100 MB streamed through the proxy in each direction with flat memory:
// bodies are never buffered whole and backpressure holds end to end. The
// proxy runs as its own process so its memory is measured apart from the
// test's client and upstream.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startRingsideProcess, type RingsideProcess } from './support/ringside-process.ts';

const TOTAL = 100 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 120);

function generator(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      sent += CHUNK.length;
      this.push(CHUNK);
    },
  });
}

let replica: Replica;

beforeAll(async () => {
  replica = await startHttpReplica('big', {
    handler: (req, res) => {
      if (req.url === '/download') {
        (res as import('node:http').ServerResponse).writeHead(200, { 'content-type': 'application/octet-stream' });
        generator(TOTAL).pipe(res as import('node:http').ServerResponse);
        return;
      }
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(String(n)));
    },
  });
});
afterAll(async () => {
  await replica.close();
});

/** Run `work` while sampling the proxy's RSS; resolve with the peak growth over its RSS before. */
async function peakRssGrowth(proxy: RingsideProcess, work: () => Promise<void>): Promise<number> {
  const start = proxy.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, proxy.rss())), 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, proxy.rss()) - start;
}

for (const engine of ['lean', 'compat'] as const) describe(`streaming 100 MB (${engine} engine)`, () => {
  let proxy: RingsideProcess;
  let url: string;

  beforeAll(async () => {
    proxy = await startRingsideProcess(['--upstream', `static:${replica.key}`, '--engine', engine]);
    url = `http://127.0.0.1:${proxy.port}`;
    // Warm up: the first megabytes through a fresh process grow its heap and
    // buffer pools once (and dead read buffers wait for a scavenge); what must
    // stay flat is the growth after that.
    for (const path of ['/upload', '/download-small']) {
      const res = await request(`${url}${path}`, { method: 'POST', body: generator(TOTAL) });
      await res.body.text();
    }
  });
  afterAll(async () => {
    proxy.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
  });

  it('uploads 100 MB (chunked) with RSS growth well below the body size', async () => {
    let answer = '';
    const growth = await peakRssGrowth(proxy, async () => {
      const res = await request(`${url}/upload`, { method: 'POST', body: generator(TOTAL) });
      answer = await res.body.text();
    });
    expect(answer).toBe(String(TOTAL));
    expect(growth).toBeLessThan(40 * 1024 * 1024);
  });

  it('downloads 100 MB with RSS growth well below the body size', async () => {
    let received = 0;
    const growth = await peakRssGrowth(proxy, async () => {
      const res = await request(`${url}/download`);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    expect(received).toBe(TOTAL);
    expect(growth).toBeLessThan(40 * 1024 * 1024);
  });
});
