// Mutation testing of the pure science code: the answer extraction and grader, and the theory's closed form and fit
// flags (npm run mutate:pure, ~10 minutes per file on one shared core). The rest of the settings are stryker.config.json's.
import { readFileSync } from 'node:fs';

const base = JSON.parse(readFileSync(new URL('./stryker.config.json', import.meta.url), 'utf8'));
delete base.$schema;
delete base._comment;

export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'vitest.stryker.pure.config.ts' },
  mutate: ['src/data/answer.ts', 'src/theory/closedForm.ts', 'src/theory/flags.ts'],
  concurrency: 1,
  jsonReporter: { fileName: 'reports/mutation/pure.json' },
};
