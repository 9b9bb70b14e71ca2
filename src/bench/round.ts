// One self-improvement round exactly as `npm run train` runs it (src/loop/run.ts), timed per stage:
// sample N candidates per pool question, score their uncertainty, verify (TF) and pick, SFT on the picks, evaluate.
import type { LoopData } from '../loop/data.js';
import { promptIds } from '../loop/prompts.js';
import { type StageTimes, type TokenCounts, evaluate, generateCandidates, timed, verifyAndPick, zeroTimes, zeroTokens } from '../loop/round.js';
import { type AdamWState, type Model, type OptimizerConfig, Rng, sftBatch, trainStep } from '../model/index.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface RoundSizes {
  samples: number; // N candidates per question
  newTokens: number; // max new tokens per candidate
  sampleBatch: number; // rows per sampling / scoring pass
  batch: number; // SFT rows per training step
  evalsPerRound: number; // evaluation points per round (train: --evals-per-epoch, one epoch per round)
}

export interface RoundTiming {
  seconds: number;
  stages: StageTimes;
  tokens: TokenCounts;
  meanResponseLength: number;
  trainSteps: number;
}

export const ROUND_VERIFIER = 'tf';
export const ROUND_SIGMA = 0.5;

/** Runs one round on `data.pool(0)` and evaluates on data.eval / data.test; `model` is trained in place. */
export function benchRound(model: Model, tokenizer: Tokenizer, data: LoopData, sizes: RoundSizes, optimizer: AdamWState, optimizerConfig: OptimizerConfig,
  seed: number): RoundTiming {
  const start = performance.now();
  const times = zeroTimes();
  const tokens = zeroTokens();
  const pool = data.pool(0);
  const sampling = { samples: sizes.samples, temperature: 1, topP: 1, maxNewTokens: sizes.newTokens, sampleBatch: sizes.sampleBatch };
  const candidates = generateCandidates(model, tokenizer, pool, sampling, new Rng(seed), times, tokens);
  const { picks } = timed(times, 'verify', () => verifyAndPick(ROUND_VERIFIER, model, tokenizer, pool, candidates, ROUND_SIGMA));
  const examples = pool.map((problem, q) => ({ prompt: promptIds(tokenizer, problem.question), response: candidates[q]![picks[q]!.index]!.tokens }));
  let trainSteps = 0;
  for (let first = 0; first < examples.length; first += sizes.batch) {
    const batch = sftBatch(examples.slice(first, first + sizes.batch), tokenizer.padId);
    timed(times, 'train', () => trainStep(model, optimizer, optimizerConfig, batch));
    tokens.train += batch.weights.reduce((s, row) => s + row.length, 0);
    trainSteps += 1;
  }
  const evalOptions = { ...sampling, verifier: ROUND_VERIFIER, sigma: ROUND_SIGMA, seed: seed + 7919 } as const;
  for (let e = 0; e < sizes.evalsPerRound; e++) timed(times, 'eval', () => evaluate(model, tokenizer, data.eval, data.test, evalOptions));
  const lengths = candidates.flat().map((c) => c.tokens.length);
  return {
    seconds: (performance.now() - start) / 1000, stages: times, tokens,
    meanResponseLength: lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length), trainSteps,
  };
}

/** Each stage's share of the round's wall time (they partition it up to bookkeeping between stages). */
export function stageShare(round: RoundTiming): StageTimes {
  const total = round.seconds > 0 ? round.seconds : 1;
  const s = round.stages;
  return { sample: s.sample / total, score: s.score / total, verify: s.verify / total, train: s.train / total, eval: s.eval / total };
}
