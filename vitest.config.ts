import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // e2e suites create network namespaces and real daemons; they must not share them.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
