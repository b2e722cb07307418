// An h2c upstream that announces trailers (`trailer: x-t`) on a response with
// a content-length, as nghttpd --trailer does: an HTTP/1.1 client gets the
// whole body, and the proxy lives on (node:http threw ERR_HTTP_TRAILER_INVALID
// on such a head, an uncaught exception that ended the compat process).

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Engine } from '../lib/config/config.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';

let upstream: http2.Http2Server;
beforeAll(async () => {
  upstream = http2.createServer();
  upstream.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-length': '5', trailer: 'x-t' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-t': 'yes' }));
    stream.end('hello');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

describe.each<Engine>(['lean', 'compat'])('an announced trailer on a content-length response (--engine %s)', (engine) => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ engine, endpoints: [`127.0.0.1:${(upstream.address() as AddressInfo).port}`], upstream: { protocol: 'h2c' } });
  });
  afterAll(() => stopWhenIdle(proxy.app));

  it('reaches an HTTP/1.1 client whole, and the proxy serves on', async () => {
    const agent = new Agent();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(`${proxy.url}/x`, { dispatcher: agent });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe('hello');
        expect(res.headers['content-length']).toBe('5');
      }
    } finally {
      await agent.close();
    }
  });
});
