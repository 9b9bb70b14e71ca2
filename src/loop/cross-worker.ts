// One arm of a cross experiment in its own process (runCross with jobs > 1), through src/child.ts: the run's options
// arrive as the input, its log lines go back; the parent records success or failure.
import { serveInChild } from '../child.js';
import type { TrainOptions } from './options.js';
import { runTraining } from './run.js';

serveInChild(async (run: TrainOptions, log) => {
  await runTraining(run, { log });
  return true;
});
