import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'native/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default leaves one core idle; on the 2-core reference machine two workers halve the suite (310 s → 180 s).
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
