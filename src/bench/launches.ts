// Kernel launches per token: how many tfjs kernel calls (on `torch`: N-API crossings into libtorch, each one or more
// device kernels) the model issues per sampled, trained and scored token. Counted with tf.profile (profile.ts).
import { type AdamWState, type Model, type OptimizerConfig, type TrainBatch, Rng, sample, score, trainStep } from '../model/index.js';
import { profileKernels } from './profile.js';

export interface LaunchCounts {
  sample: number; // per generated token (one sample() call over `rows` prompts, divided by rows × newTokens)
  train: number; // per trained position (one AdamW step, divided by batch × time)
  score: number; // per scored position (one teacher-forced pass, divided by rows × (prompt + response))
}

export interface LaunchWork {
  prompts: number[][];
  responses: number[][];
  newTokens: number;
  trainBatch: TrainBatch;
  padId: number;
}

/** Kernel calls of one run of fn (untimed; the profiler's bookkeeping does not change the count). */
export async function countKernelCalls(fn: () => void): Promise<number> {
  return (await profileKernels(fn)).calls.length;
}

/** Launches per token of the three stages; `optimizer` is stepped once (on the trainable parameters). */
export async function kernelLaunchesPerToken(
  model: Model,
  work: LaunchWork,
  optimizer: AdamWState,
  config: OptimizerConfig,
): Promise<LaunchCounts> {
  const rows = work.prompts.length;
  const sampleCalls = await countKernelCalls(
    () =>
      void sample(model, work.prompts, {
        temperature: 1,
        topP: 1,
        maxNewTokens: work.newTokens,
        eosId: -1,
        padId: work.padId,
        rng: new Rng(1),
      }),
  );
  const trainCalls = await countKernelCalls(() => void trainStep(model, optimizer, config, work.trainBatch));
  const scoreCalls = await countKernelCalls(() => void score(model, work.prompts, work.responses, { padId: work.padId, batchSize: rows }));
  const trainTokens = work.trainBatch.inputs.length * work.trainBatch.inputs[0].length;
  const scoreTokens = work.prompts.reduce((s, p, i) => s + p.length + work.responses[i].length, 0);
  return { sample: sampleCalls / (rows * work.newTokens), train: trainCalls / trainTokens, score: scoreCalls / scoreTokens };
}
