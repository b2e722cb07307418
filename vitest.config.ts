import { defineConfig } from 'vitest/config';

// Tests run real servers on loopback; keep files in separate processes so a
// leaked socket or timer in one file cannot hide in another.
//
// Two projects. `default` runs everything. `plain-io` runs the lean HTTP/1.1
// engine's tests again with its socket fast paths turned off
// (RINGSIDE_LEAN_PLAIN_IO=1, lib/io/stream-handle.ts): those paths use
// Node.js internals (`socket._handle`, process.binding), and the ordinary
// socket.write() / 'data' fallback they leave behind would otherwise never
// run, and rot, until the day a Node.js release removes the internals.
const PLAIN_IO = ['test/lean-forwarding.test.ts', 'test/lean-backpressure.test.ts', 'test/lean-differential.test.ts', 'test/lean-fuzz.test.ts', 'test/http1-hostile-input.test.ts', 'test/slow-client.test.ts', 'test/http2-client-http1-upstream.test.ts', 'test/lean-h2-differential.test.ts', 'test/upstream-protocol-auto.test.ts', 'test/websocket-tunnel.test.ts', 'test/websocket-tunnel-lifecycle.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'default', include: ['lib/**/*.test.ts', 'test/**/*.test.ts'] } },
      { extends: true, test: { name: 'plain-io', include: PLAIN_IO, env: { RINGSIDE_LEAN_PLAIN_IO: '1' } } },
    ],
  },
});
