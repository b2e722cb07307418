// 100 MB streamed through the proxy in each direction with flat memory:
// bodies are never buffered whole and backpressure holds end to end.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { startHttpReplica, type Replica } from './support/http-replicas.ts';
import { startProxy, type TestProxy } from './support/proxy.ts';

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
let proxy: TestProxy;

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
  proxy = await startProxy({ endpoints: [replica.key] });
});
afterAll(async () => {
  await proxy.stop();
  await replica.close();
});

/** Run `work` while sampling RSS; resolve with the peak growth over the starting RSS. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  globalThis.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage.rss()) - start;
}

describe('streaming 100 MB', () => {
  it('uploads 100 MB (chunked) with RSS growth well below the body size', async () => {
    let answer = '';
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${proxy.url}/upload`, { method: 'POST', body: generator(TOTAL) });
      answer = await res.body.text();
    });
    expect(answer).toBe(String(TOTAL));
    expect(growth).toBeLessThan(40 * 1024 * 1024);
  });

  it('downloads 100 MB with RSS growth well below the body size', async () => {
    let received = 0;
    const growth = await peakRssGrowth(async () => {
      const res = await request(`${proxy.url}/download`);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    expect(received).toBe(TOTAL);
    expect(growth).toBeLessThan(40 * 1024 * 1024);
  });
});
