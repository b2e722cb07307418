// ringside_http2_defences_total (issue 22): every GOAWAY or RST_STREAM our
// HTTP/2 server (--engine lean) sends in its own defence is counted by frame
// and reason, so operators see floods and broken clients. Raw frames from
// test/support/h2-frame-client.ts against ringside in front of an HTTP/1.1
// replica; the counts are read from the admin port's /metrics.

import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { F, H2FrameClient } from './support/h2-frame-client.ts';
import { startProxy, stopWhenIdle, type TestProxy } from './support/proxy.ts';

async function defences(proxy: TestProxy): Promise<Map<string, number>> {
  const res = await request(`${proxy.adminUrl}/metrics`);
  const text = await res.body.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^ringside_http2_defences_total\{listener="[^"]*",frame="([a-z_]+)",reason="([a-z_]+)"\} (\d+)$/.exec(line);
    if (m !== null) out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return out;
}

describe('HTTP/2 server defences are counted (--engine lean)', () => {
  let upstream: http.Server;
  let proxy: TestProxy;
  let requests = 0;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    proxy = await startProxy({ engine: 'lean', endpoints: [`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`], upstream: { protocol: 'http1' } });
  });
  afterAll(async () => {
    if (proxy) await stopWhenIdle(proxy.app);
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
  });

  it('a malformed request: RST_STREAM(PROTOCOL_ERROR), counted as malformed_request, never forwarded', async () => {
    const before = requests;
    const c = await H2FrameClient.connect(proxy.port);
    try {
      // Upper case in a field name (RFC 9113 section 8.2.1).
      c.send(F.headers(1, [...F.get('/bad'), ['X-Upper', '1']]));
      await c.expectRst(1, F.ErrorCode.PROTOCOL_ERROR);
      c.send(F.headers(3, F.get('/good')));
      await c.expectResponse(3);
    } finally {
      c.close();
    }
    expect(requests - before).toBe(1);
    expect((await defences(proxy)).get('rst_stream/malformed_request')).toBe(1);
  });

  it('rapid reset (CVE-2023-44487): GOAWAY(ENHANCE_YOUR_CALM), counted as rapid_reset', async () => {
    const c = await H2FrameClient.connect(proxy.port);
    try {
      const frames: Buffer[] = [];
      for (let id = 1; id < 2 * 300; id += 2) frames.push(F.headers(id, F.get(`/r${id}`), false), F.rstStream(id));
      c.send(...frames);
      await c.expectGoaway(F.ErrorCode.ENHANCE_YOUR_CALM);
    } finally {
      c.close();
    }
    const counts = await defences(proxy);
    expect(counts.get('goaway/rapid_reset')).toBe(1);
    // Client resets are not ours: nothing else was counted for them.
    expect(counts.get('rst_stream/rapid_reset')).toBeUndefined();
  });

  it('a stream window past 2^31-1: RST_STREAM(FLOW_CONTROL_ERROR) on that stream only, counted as flow_control', async () => {
    const c = await H2FrameClient.connect(proxy.port);
    try {
      c.send(F.headers(1, [[':method', 'POST'], [':scheme', 'http'], [':path', '/up'], [':authority', 'a']], false), F.windowUpdate(1, 0x7fffffff), F.windowUpdate(1, 0x7fffffff));
      await c.expectRst(1, F.ErrorCode.FLOW_CONTROL_ERROR);
      await c.expectAlive();
    } finally {
      c.close();
    }
    expect((await defences(proxy)).get('rst_stream/flow_control')).toBe(1);
  });
});
