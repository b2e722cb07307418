import { defineConfig } from 'vitest/config';

// Tests run real servers on loopback; keep files in separate processes so a
// leaked socket or timer in one file cannot hide in another.
export default defineConfig({
  test: {
    include: ['lib/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
  },
});
