// The bench's round: runRound itself (src/loop/round.ts, what `npm run train` runs) on the bench's workload, one epoch
// with the tf self-verifier at σ = 0.5, no samples file, and the evaluation points of `npm run train`.
import type { LoopData } from '../loop/data.js';
import { evaluate } from '../loop/evaluate.js';
import { type RoundOutcome, runRound } from '../loop/round.js';
import { type StageTimes, timed } from '../loop/sampling.js';
import { selfVerifier } from '../loop/verifiers.js';
import { type AdamWState, type Model, type OptimizerConfig, Rng } from '../model/index.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface RoundSizes {
  samples: number; // N candidates per question
  newTokens: number; // max new tokens per candidate
  sampleBatch: number; // rows per sampling / scoring pass
  batch: number; // SFT rows per training step
  evalsPerRound: number; // evaluation points per round (train: --evals-per-epoch, one epoch per round); 0: none
}

export type RoundTiming = Pick<RoundOutcome, 'seconds' | 'tokens' | 'meanResponseLength' | 'trainSteps'> & { stages: StageTimes };

export const ROUND_VERIFIER = 'tf';
export const ROUND_SIGMA = 0.5;

/** Times runRound on round 0 of `data` (evaluating on data.eval / data.test at its evaluation points); `model` is trained in place. */
export function benchRound(
  model: Model,
  tokenizer: Tokenizer,
  data: LoopData,
  sizes: RoundSizes,
  training: { optimizer: AdamWState; optimizerConfig: OptimizerConfig },
  seed: number,
): RoundTiming {
  const sampling = { samples: sizes.samples, temperature: 1, topP: 1, maxNewTokens: sizes.newTokens, sampleBatch: sizes.sampleBatch };
  const verifier = selfVerifier(ROUND_VERIFIER, model, tokenizer);
  const ctx = {
    model,
    tokenizer,
    ...training,
    rng: new Rng(seed),
    sampling,
    verifier,
    sigma: ROUND_SIGMA,
    sft: { epochsPerRound: 1, evalsPerEpoch: Math.max(1, sizes.evalsPerRound), batchSize: sizes.batch },
  };
  const evalOptions = { ...sampling, verifier, sigma: ROUND_SIGMA, seed: seed + 7919 };
  const outcome = runRound(ctx, { index: 0, pool: data.pool(0) }, (point) => {
    if (sizes.evalsPerRound > 0) timed(point.times, 'eval', () => evaluate(model, tokenizer, data.eval, data.test, evalOptions));
  });
  return {
    seconds: outcome.seconds,
    stages: outcome.times,
    tokens: outcome.tokens,
    meanResponseLength: outcome.meanResponseLength,
    trainSteps: outcome.trainSteps,
  };
}

/** Each stage's share of the round's wall time (they partition it up to bookkeeping between stages). */
export function stageShare(round: RoundTiming): StageTimes {
  const total = round.seconds > 0 ? round.seconds : 1;
  const s = round.stages;
  return { sample: s.sample / total, score: s.score / total, verify: s.verify / total, train: s.train / total, eval: s.eval / total };
}
