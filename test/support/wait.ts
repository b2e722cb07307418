// Polling helpers for tests that wait on real servers.

export async function waitFor(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A loopback port that nothing listens on and no test will take: a
 * privileged port (below 1024, outside the ephemeral range that port-0
 * servers draw from), checked to refuse connections.
 */
export async function unusedPort(): Promise<number> {
  const net = await import('node:net');
  for (;;) {
    const port = 1 + Math.floor(Math.random() * 1023);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
}
