// GOAWAY on shutdown, at the frame level, on both engines (issue 22 point 2:
// "GOAWAY on shutdown and drain"). On SIGTERM ringside tells every HTTP/2
// client to go away (RFC 9113 section 6.8: GOAWAY with NO_ERROR, the last
// stream id it will process), lets the streams it took finish, closes the
// connection, and exits 0.

import { describe, expect, it } from 'vitest';
import type { Engine } from '../lib/config/config.ts';
import { F, H2FrameClient } from './support/h2-frame-client.ts';
import { startH2Target } from './support/h2-server-target.ts';

describe.each<Engine>(['lean', 'compat'])('HTTP/2 server shutdown (--engine %s)', (engine) => {
  it('SIGTERM -> GOAWAY(NO_ERROR) naming the streams taken; a stream in flight finishes; the connection closes; exit 0', async () => {
    const target = await startH2Target(engine);
    try {
      const c = await H2FrameClient.connect(target.port);
      await c.handshake();
      // Stream 1 waits 400 ms on the upstream: it is in flight when the signal comes.
      c.send(F.headers(1, F.get('/slow/400')));
      const deadline = Date.now() + 2_000;
      while (target.replica.requests < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      target.ringside.kill('SIGTERM');
      const { lastStreamId } = await c.expectGoaway(F.ErrorCode.NO_ERROR, 1_000);
      // Section 6.8: the last stream id covers every stream the server may have acted on.
      expect(lastStreamId).toBeGreaterThanOrEqual(1);
      const res = await c.expectResponse(1, 200, 2_000);
      expect(res.body.toString()).toBe('r0 GET /slow/400 0');
      await c.expectClosed(2_000);
      expect(await target.ringside.exited).toBe(0);
    } finally {
      await target.stop();
    }
  });
});
