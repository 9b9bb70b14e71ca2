// The tests Stryker runs against the pure science code (npm run mutate:pure): the answer grader and the theory. Kept
// apart from vitest.stryker.config.ts because a mutant of a module-level constant (a regex, a table) runs every test in
// `include`, and the model tests there take a minute; these take ~1 s each. test/grade.test.ts is left out because it
// runs the CLI in a child process, which Stryker's in-process mutant switch does not reach.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/data-answer.test.ts', 'test/theory.closedForm.test.ts', 'test/theory.flags.test.ts', 'test/theory.fit.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
