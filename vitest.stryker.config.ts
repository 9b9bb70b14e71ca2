// The tests Stryker runs against each mutant (npm run mutate): only those that exercise the science core it mutates,
// so that one run fits in ~30 minutes on 2 cores: test/loop.test.ts without its `runs` (whole training runs) and
// test/model.test.ts without its two longest tests (14 s and 3 s per mutant of the training step).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/model.test.ts', 'test/loop.test.ts', 'test/optimizer.test.ts', 'test/uncertainty.test.ts'],
    testNamePattern: /^(?!runs |model on the cpu backend (loss falls|no tensors leak))/,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
