// One arm of a cross experiment in its own process (runCross with jobs > 1): the run's options arrive over IPC, its log
// lines go back; the parent records success or failure, so a crashing arm cannot take the others down.
import type { TrainOptions } from './options.js';
import { runTraining } from './run.js';

export type WorkerMessage = { log: string } | { done: true } | { error: string };

const send = (message: WorkerMessage) => new Promise<void>((done) => process.send!(message, () => done()));

process.once('message', (run: TrainOptions) => {
  runTraining(run, { log: (line) => void send({ log: line }) })
    .then(() => send({ done: true }))
    .then(() => process.exit(0))
    .catch(async (error: Error) => {
      await send({ error: error.message });
      process.exit(1);
    });
});
